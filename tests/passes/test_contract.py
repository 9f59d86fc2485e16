"""The pass contract, enforced by the pass manager: ``requires`` before a pass
(PreconditionError), the graph's interface and ``ensures`` after it
(PostconditionError), and in check mode (on in these tests, see conftest.py)
the checker and the outputs of small models after every pass that changed
something.  The pipeline names pass classes, not strings."""

from __future__ import annotations

import ast
import inspect

import numpy as np
import pytest

import onnxkit
import onnxkit.passes as passes
from onnxkit import GraphBuilder
from onnxkit.ir import Node, Value
from onnxkit.passes import Pass, PassManager, PostconditionError, PreconditionError, passes_for
from onnxkit.passes._pattern import ANY, Pattern


def _model():
    b = GraphBuilder("g")
    x = b.input("x", "float", [2, 3])
    y = b.node("Relu", b.node("Neg", x))
    b.output(y, "y", dtype="float", shape=[2, 3])
    return b.model(opset=21)


class _Rewrite(Pass):
    """Does ``fn(graph)`` once."""

    def __init__(self, fn, name="rewrite"):
        self.fn, self.name, self.done = fn, name, False

    def apply(self, graph, model, opsets):
        if self.done:
            return False
        self.done = True
        self.fn(graph)
        return True


def _neg(graph):
    return next(n for n in graph if n.op_type == "Neg")


def test_a_pass_that_changes_a_result_is_caught():
    def wrong(graph):                       # Neg -> Abs: runs, checks, but computes something else
        n = _neg(graph)
        n.op_type = "Abs"
    with pytest.raises(PostconditionError, match="'rewrite' output 'y' changed"):
        PassManager([_Rewrite(wrong)])(_model())


def test_a_pass_that_breaks_the_model_is_caught_by_the_checker():
    def broken(graph):
        n = _neg(graph)
        n.op_type = "NoSuchOp"
    with pytest.raises(PostconditionError, match="checker"):
        PassManager([_Rewrite(broken)])(_model())


def test_a_pass_that_renames_an_output_is_caught_even_without_check_mode():
    def rename(graph):
        graph.outputs[0].name = "z"
    with pytest.raises(PostconditionError, match="output names"):
        PassManager([_Rewrite(rename)], check=False)(_model())


def test_requires_and_ensures_become_pre_and_postcondition_errors():
    class Picky(Pass):
        name = "picky"

        def requires(self, model):
            if model.opset < 22:
                raise PreconditionError("needs opset 22")

        def apply(self, graph, model, opsets):
            return False

    class Liar(Pass):
        name = "liar"

        def ensures(self, model):
            assert not any(n.op_type == "Neg" for n in model.graph), "a Neg is left"

        def apply(self, graph, model, opsets):
            return False

    with pytest.raises(PreconditionError, match="opset 22"):
        PassManager([Picky()])(_model())
    with pytest.raises(PostconditionError, match="'liar' broke its promise: AssertionError: a Neg is left"):
        PassManager([Liar()])(_model())
    with pytest.warns(RuntimeWarning, match="running the model unoptimized"):      # a Session goes on
        s = onnxkit.Session(_model(), optimize=lambda m: PassManager([Liar()])(m))
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(s.run(None, {"x": x})[0], np.maximum(-x, 0))


def test_a_correct_pass_passes_every_check():
    def bypass_relu_of_relu(graph):         # Relu(Neg(x)) -> Relu(Neg(x)) through a copy: same results
        n = _neg(graph)
        copy = Node("Neg", [n.inputs[0]], [Value("n2")])
        graph.insert_after(n, copy)
        n.outputs[0].replace_all_uses_with(copy.outputs[0])
        graph.remove(n)
    m = _model()
    rep = PassManager([_Rewrite(bypass_relu_of_relu)])(m)
    assert rep.changes == {"rewrite": 1}


def test_declared_contracts():
    """What each pass states beyond the common contract (the rest state nothing more)."""
    declared = {cls.name: [m for m in ("requires", "ensures") if getattr(cls, m) is not getattr(Pass, m)]
                for _, cls in passes._PIPELINE}
    assert declared == {
        "dce": ["ensures"], "shape_folding": [], "constant_folding": ["ensures"], "identity": ["ensures"],
        "cse": [], "fuse_conv_bn": [], "fuse_layer_norm": ["requires", "ensures"],
        "fuse_gelu": ["requires", "ensures"], "fuse_attention": ["requires", "ensures"], "fuse_gemm": [],
        "fuse_matmul_bias": ["requires", "ensures"], "nhwc_conv": ["requires", "ensures"]}
    assert passes.SPEC_OPSETS == {"fuse_layer_norm": ("LayerNormalization", 17), "fuse_gelu": ("Gelu", 20),
                                  "fuse_attention": ("Attention", 23)}


def test_runtime_passes_refuse_another_version_of_their_domain():
    m = _model()
    m.opset_imports["ai.onnxkit"] = 2
    with pytest.raises(PreconditionError, match="ai.onnxkit version 2"):
        onnxkit.optimize(m, "runtime")
    onnxkit.optimize(m, "extended")                     # the standard fusions write no ai.onnxkit op


def test_identity_and_dce_keep_their_promises():
    from onnxkit.passes.dce import DeadCodeElimination
    from onnxkit.passes.identity import RemoveIdentities
    m = _model()
    neg = _neg(m.graph)
    m.graph.insert_after(neg, Node("Identity", [neg.outputs[0]], [Value("kept")]))
    with pytest.raises(PostconditionError, match="identity left"):
        RemoveIdentities().ensures(m)
    with pytest.raises(PostconditionError, match="nothing reads it"):
        DeadCodeElimination().ensures(m)
    rep = PassManager(passes_for("basic"))(m)
    assert rep.changes["dce"] == 1 and [n.op_type for n in m.graph] == ["Neg", "Relu"]


def test_the_pipeline_names_pass_classes_not_strings():
    assert all(isinstance(cls, type) and issubclass(cls, Pass) for _, cls in passes._PIPELINE)
    assert [type(p) for p in passes_for("runtime")] == [cls for _, cls in passes._PIPELINE]
    tree = ast.parse(inspect.getsource(passes))
    assert not any(isinstance(n, (ast.Import, ast.ImportFrom)) and "importlib" in ast.dump(n) for n in ast.walk(tree))


# ------------------------------------------------------------------ the pattern helper
def _softplus(op, x):
    return op.Log(op.Add(op.Exp(x, _as="exp"), 1.0))


def test_pattern_matches_on_use_def_structure():
    b = GraphBuilder("g")
    x = b.input("x", "float", [4])
    one = b.initializer(np.ones((), np.float32), "one")
    y = b.node("Log", b.node("Add", one, b.node("Exp", x)))       # Add's operands either way round
    b.output(y, "y")
    m = b.model(opset=21)
    log = next(n for n in m.graph if n.op_type == "Log")
    match = Pattern(_softplus).match(m.graph, log)
    assert match is not None and match["x"].name == "x" and match.node("exp").op_type == "Exp"
    assert [n.op_type for n in match.nodes][-1] == "Log" and len(match.nodes) == 3


def test_pattern_refuses_values_read_outside_the_match_and_other_constants():
    b = GraphBuilder("g")
    x = b.input("x", "float", [4])
    two = b.initializer(np.full((), 2, np.float32), "two")
    e = b.node("Exp", x)
    y = b.node("Log", b.node("Add", e, two))
    b.output(y, "y")
    m = b.model(opset=21)
    log = next(n for n in m.graph if n.op_type == "Log")
    assert Pattern(_softplus).match(m.graph, log) is None        # 2, not 1
    b2 = GraphBuilder("g")
    x = b2.input("x", "float", [4])
    one = b2.initializer(np.ones((), np.float32), "one")
    e = b2.node("Exp", x)
    b2.output(b2.node("Log", b2.node("Add", e, one)), "y")
    b2.output(e, "e")                                             # Exp's result is read outside
    m2 = b2.model(opset=21)
    log = next(n for n in m2.graph if n.op_type == "Log")
    assert Pattern(_softplus).match(m2.graph, log) is None


def test_pattern_any_and_repeated_placeholders():
    def square_mean(op, d):
        return op.ReduceMean(op.Mul(d, d), ANY)
    b = GraphBuilder("g")
    x = b.input("x", "float", [4])
    y = b.input("y", "float", [4])
    b.output(b.node("ReduceMean", b.node("Mul", x, x)), "a")
    b.output(b.node("ReduceMean", b.node("Mul", x, y)), "b")
    m = b.model(opset=21)
    means = [n for n in m.graph if n.op_type == "ReduceMean"]
    p = Pattern(square_mean)
    assert p.match(m.graph, means[0])["d"].name == "x"
    assert p.match(m.graph, means[1]) is None
