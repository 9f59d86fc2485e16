"""The checker on models made for the purpose: every problem reported at once,
with the node and value named; inputs as Model, path or bytes; the CLI."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

import onnxkit
from onnxkit.builder import FunctionBuilder, GraphBuilder
from onnxkit.check import Problem, check, check_model, find_problems
from onnxkit.cli import main
from onnxkit.errors import CheckError
from onnxkit.ir import Attribute, AttributeType, Node, TensorType, Value


def small() -> onnxkit.Model:
    b = GraphBuilder("main")
    x = b.input("x", "float", ["N", 4])
    w = b.initializer(np.ones((4, 2), np.float32), "w")
    h = b.node("MatMul", x, w, name="mm")
    b.output(b.node("Relu", h, name="relu"), "y", dtype="float", shape=["N", 2])
    return b.model(opset=21)


def codes(model, **kw) -> list[str]:
    return [p.code for p in find_problems(model, **kw)]


def test_valid_model_passes_every_way(tmp_path):
    m = small()
    check_model(m)
    check(m)
    check(onnxkit.to_bytes(m))
    path = tmp_path / "m.onnx"
    onnxkit.save(m, path)
    check(path)
    check(str(path))
    onnx.checker.check_model(str(path), full_check=True)


def test_every_problem_is_reported_with_its_node():
    m = small()
    relu = m.graph.nodes[1]
    relu.set_attr("alpha", 0.5)                          # unknown attribute
    mm = m.graph.nodes[0]
    mm.append_input(m.graph.inputs[0])                   # MatMul with 3 inputs
    m.graph.append(Node("NoSuchOp", [m.graph.inputs[0]], [Value("z")], name="mystery"))
    with pytest.raises(CheckError) as e:
        check_model(m)
    ps = e.value.problems
    assert {p.code for p in ps} == {"unknown-attribute", "arity", "unknown-op"}
    arity = next(p for p in ps if p.code == "arity")
    assert (arity.node_index, arity.node_name, arity.op_type) == (0, "mm", "MatMul")
    assert "node 0 'mm' (MatMul)" in str(arity) and "3 inputs" in str(arity)
    unknown = next(p for p in ps if p.code == "unknown-op")
    assert unknown.node_index == 2 and "NoSuchOp" in str(unknown)
    assert "3 problems found" in str(e.value)


def test_undefined_and_out_of_order_values_are_named():
    m = small()
    mm, relu = m.graph.nodes
    m.graph.remove(relu, safe=False)
    m.graph.insert_before(mm, relu)                      # relu reads mm's output before it
    relu.append_input(mm.outputs[0])                     # (remove() dropped its input link)
    ps = find_problems(m, full=False)
    assert [(p.code, p.node_index, p.value) for p in ps] == [("undefined-input", 0, "mm")]
    assert "later node, node 1 'mm' (MatMul)" in str(ps[0])
    assert "topological order" in str(ps[0])


def test_cycle_is_called_a_cycle():
    m = small()
    mm, relu = m.graph.nodes
    mm.set_input(0, relu.outputs[0])
    (p,) = find_problems(m, full=False)
    assert p.code == "undefined-input" and "cycle" in p.message


def test_type_constraints_and_declared_types():
    b = GraphBuilder("main")
    x = b.input("x", "float", [2])
    i = b.input("i", "int64", [2])
    s = b.node("Sqrt", i, name="sqrt")                   # int64 is not a Sqrt type
    a = b.node("Add", x, i, name="add")                  # float + int64
    sh = b.node("Shape", x, name="shape")
    b.output(s, "s", dtype="int64", shape=[2])
    b.output(a, "a", dtype="float", shape=[2])
    b.output(sh, "sh", dtype="float", shape=[1])         # Shape gives int64
    ps = find_problems(b.model(opset=21), full=False)
    got = sorted((p.code, p.op_type) for p in ps)
    assert got == [("type-constraint", "Sqrt"), ("type-mismatch", "Add"), ("type-mismatch", "Shape")]


def test_attributes_against_the_schema():
    b = GraphBuilder("main")
    x = b.input("x", "float", [1, 1, 4, 4])
    b.output(b.node("MaxPool", x, name="pool", attributes={"strides": 2.0}), "y",
             dtype="float", shape=[1, 1, 2, 2])
    ps = find_problems(b.model(opset=21), full=False)
    assert sorted(p.code for p in ps) == ["attribute-type", "missing-attribute"]
    assert any("kernel_shape" in str(p) for p in ps)
    assert any("'strides' is FLOAT, but MaxPool-" in str(p) for p in ps)


def test_opset_rules():
    m = small()
    m.opset_imports = {}
    assert "opset-import" in codes(m, full=False)
    m = small()
    m.opset_imports = {"": 5}                            # Relu-6, MatMul-1 are fine at 5? MatMul-1 yes
    m.graph.append(Node("Shrink", [m.graph.inputs[0]], [Value("q")]))   # Shrink since 9
    ps = find_problems(m, full=False)
    assert any(p.code == "unknown-op" and "only from opset 9" in p.message for p in ps)
    m = small()
    m.ir_version = 0
    assert codes(m, full=False)[0] == "ir-version"


def test_subgraph_may_not_read_a_later_outer_value():
    b = GraphBuilder("main")
    x = b.input("x", "float", [2])
    c = b.input("c", "bool", [])
    then = b.subgraph("then")
    then.output(then.node("Neg", x, name="neg"), "t")
    els = b.subgraph("else")
    els.output(els.node("Abs", x, name="abs"), "e")
    r = b.node("If", c, then_branch=then, else_branch=els, name="if")
    late = b.node("Exp", x, name="late")
    b.output(b.node("Add", r, late, name="add"), "y", dtype="float", shape=[2])
    m = b.model(opset=21)
    check_model(m)
    neg = then.graph.nodes[0]
    neg.set_input(0, late)
    (p,) = find_problems(m, full=False)
    assert p.code == "undefined-input" and "enclosing graph" in p.message
    assert "then" in p.where and p.op_type == "Neg"


def test_functions():
    fb = FunctionBuilder("local", "Twice", ["a"])
    fb.output(fb.node("Add", fb.inputs[0], fb.inputs[0], name="add"), "b")
    b = GraphBuilder("main")
    x = b.input("x", "float", [2])
    b.output(b.call(fb, x, name="call"), "y", dtype="float", shape=[2])
    m = b.model(opset=21)
    check_model(m)
    f = m.functions[0]
    f.graph.outputs.append(Value("never"))               # onnxkit: an output no node gives
    call = m.graph.nodes[0]
    call.append_input(x)                                 # one input more than Twice takes
    call.set_attr("gamma", 1)                            # an attribute Twice does not declare
    got = sorted(p.code for p in find_problems(m, full=False))
    assert got == ["arity", "undefined-output", "unknown-attribute"]


def test_attribute_reference_only_in_functions():
    m = small()
    relu = m.graph.nodes[1]
    relu.op_type = "LeakyRelu"
    relu.attributes["alpha"] = Attribute("alpha", AttributeType.FLOAT, None, ref_attr_name="alpha")
    assert codes(m, full=False) == ["attribute-ref"]


def test_unnamed_values_count_by_identity():
    x = Value("x", TensorType(1, [2]))
    n1 = Node("Relu", [x], 1)                            # its output has no name
    n2 = Node("Neg", [n1.outputs[0]], [Value("y", TensorType(1, [2]))])
    g = onnxkit.Graph([x], [n2.outputs[0]], [n1, n2], name="g")
    m = onnxkit.Model(g, opset_imports={"": 21})
    assert find_problems(m) == []


def test_full_check_leaves_the_model_as_it_was():
    m = small()
    before = [(v.name, v.type) for n in m.graph for v in n.outputs]
    check_model(m, full=True)
    assert [(v.name, v.type) for n in m.graph for v in n.outputs] == before


def test_unreadable_input():
    with pytest.raises(CheckError) as e:
        check(b"\xff\xff not a model")
    assert e.value.problems[0].code == "unreadable"
    with pytest.raises(CheckError):
        check("/no/such/model.onnx")


def test_problem_text():
    p = Problem("unknown-op", "what to do", "graph 'g'", 3, "n", "Foo", "v")
    assert str(p) == "graph 'g', node 3 'n' (Foo): what to do"
    assert str(Problem("ir-version", "x", "model")) == "model: x"


def test_cli(tmp_path, capsys):
    good = tmp_path / "good.onnx"
    onnxkit.save(small(), good)
    assert main(["check", str(good)]) == 0
    assert "OK (2 nodes)" in capsys.readouterr().out
    m = small()
    m.graph.nodes[1].set_attr("alpha", 0.5)
    m.graph.nodes[0].op_type = "MatMull"
    bad = tmp_path / "bad.onnx"
    onnxkit.save(m, bad)
    assert main(["check", "--quick", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "2 problems" in out and "did you mean 'MatMul'" in out and "'alpha'" in out
    assert main(["check", str(tmp_path / "missing.onnx")]) == 1
    assert "cannot read" in capsys.readouterr().out


def test_ir3_initializers_must_be_inputs():
    m = helper.make_model(
        helper.make_graph([helper.make_node("Relu", ["w"], ["y"])], "g", [],
                          [helper.make_tensor_value_info("y", 1, [2])],
                          [helper.make_tensor("w", 1, [2], [1.0, 2.0])]),
        opset_imports=[helper.make_opsetid("", 9)], ir_version=3)
    ps = find_problems(onnxkit.load(m.SerializeToString()), full=False)
    assert [p.code for p in ps] == ["initializer-not-input", "undefined-input"]
