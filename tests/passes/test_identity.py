"""RemoveIdentities: each no-op goes (outputs unchanged, graph outputs keep
their names); look-alikes that do change something stay."""

from __future__ import annotations

import numpy as np
import pytest

import onnxkit
from onnxkit.passes.identity import RemoveIdentities

from ._helpers import H, check_pass

X = {"x": (np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 7) / 3}


def _check(body, decl="float[2,3,4] x", out="float[2,3,4] y", inits="", feeds=X, infer=False):
    text = H + f"g ({decl}) => ({out}) {inits} {{ {body} }}"
    return check_pass(RemoveIdentities(), text, [feeds], infer=infer)


NOOPS = {
    "identity": ("t = Identity (x)", ""),
    "dropout": ("t = Dropout (x)", ""),
    "dropout_training_false": ("t = Dropout (x, r, f)", "<float r = {0.5}, bool f = {0}>"),
    "cast_same": ("t = Cast <to = 1> (x)", ""),
    "castlike_same": ("t = CastLike (x, x)", ""),
    "reshape_same": ("t = Reshape (x, s)", "<int64[3] s = {2, 3, 4}>"),
    "transpose_identity": ("t = Transpose <perm = [0, 1, 2]> (x)", ""),
    "slice_all": ("t = Slice (x, st, en)", "<int64[1] st = {0}, int64[1] en = {9223372036854775807}>"),
    "slice_all_axes_negative_start": ("t = Slice (x, st, en, ax)",
                                      "<int64[2] st = {-3, 0}, int64[2] en = {3, 100}, int64[2] ax = {1, 2}>"),
    "pad_zeros": ("t = Pad (x, p)", "<int64[6] p = {0, 0, 0, 0, 0, 0}>"),
    "concat_one": ("t = Concat <axis = 1> (x)", ""),
    "sum_one": ("t = Sum (x)", ""),
    "max_one": ("t = Max (x)", ""),
    "add_zero": ("t = Add (x, z)", "<float z = {0.0}>"),
    "zero_add": ("t = Add (z, x)", "<float[1,1] z = {0.0}>"),
    "sub_zero": ("t = Sub (x, z)", "<float[1] z = {0.0}>"),
    "mul_one": ("t = Mul (o, x)", "<float o = {1.0}>"),
    "div_one": ("t = Div (x, o)", "<float[1,1,1] o = {1.0}>"),
}


@pytest.mark.parametrize("case", sorted(NOOPS))
def test_noop_goes(case):
    body, inits = NOOPS[case]
    op = body.split("=", 1)[1].split()[0]
    m, changed = _check(body + "\n y = Relu (t)", inits=inits, infer=True)
    assert changed
    assert [n.op_type for n in m.graph] == ["Relu"], op


KEPT = {
    "cast_other": ("t = Cast <to = 11> (x)", "", "double[2,3,4] y"),
    "dropout_training_true": ("t = Dropout (x, r, f)", "<float r = {0.5}, bool f = {1}>", None),
    "transpose_perm": ("t = Transpose <perm = [0, 2, 1]> (x)", "", "float[2,4,3] y"),
    "slice_part": ("t = Slice (x, st, en)", "<int64[1] st = {1}, int64[1] en = {9223372036854775807}>",
                   "float[1,3,4] y"),
    "slice_step": ("t = Slice (x, st, en, ax, sp)",
                   "<int64[1] st = {0}, int64[1] en = {100}, int64[1] ax = {2}, int64[1] sp = {2}>",
                   "float[2,3,2] y"),
    "pad_nonzero": ("t = Pad (x, p)", "<int64[6] p = {0, 0, 1, 0, 0, 0}>", "float[2,3,5] y"),
    "reshape_other": ("t = Reshape (x, s)", "<int64[2] s = {6, 4}>", "float[6,4] y"),
    "add_broadcast_grows": ("t = Add (x, z)", "<float[1,1,1,1] z = {0.0}>", "float[1,2,3,4] y"),
    "add_nonzero": ("t = Add (x, z)", "<float z = {0.5}>", None),
    "mul_vector_of_ones": ("t = Mul (x, o)", "<float[4] o = {1.0, 1.0, 1.0, 1.0}>", None),
    "zero_sub": ("t = Sub (z, x)", "<float z = {0.0}>", None),
    "one_div": ("t = Div (o, x)", "<float o = {1.0}>", None),
}


@pytest.mark.parametrize("case", sorted(KEPT))
def test_lookalike_stays(case):
    body, inits, out = KEPT[case]
    if case == "dropout_training_true":
        # a random mask: compare the kept structure only
        m = onnxkit.parse(H + f"g (float[2,3,4] x) => (y) {inits} {{ {body}\n y = Relu (t) }}")
        assert not RemoveIdentities()(m)
        return
    m, changed = _check(body + "\n y = Relu (t)", inits=inits, out=out or "float[2,3,4] y", infer=True)
    assert not changed
    assert len(m.graph.nodes) == 2


def test_graph_output_keeps_its_name():
    m, changed = _check("t = Relu (x)\n y = Identity (t)")
    assert changed
    (node,) = m.graph.nodes
    assert node.op_type == "Relu" and node.outputs[0].name == "y" and m.graph.outputs[0] is node.outputs[0]


def test_identity_of_graph_input_to_graph_output_stays():
    m, changed = _check("y = Identity (x)")
    assert not changed and [n.op_type for n in m.graph] == ["Identity"]


def test_identity_between_two_graph_outputs_stays():
    m, changed = _check("t = Relu (x)\n y = Identity (t)", out="float[2,3,4] y, float[2,3,4] t")
    assert not changed


def test_identity_of_outer_value_to_subgraph_output_stays():
    m, changed = _check("""t = Relu (x)
        y = If (c) <then_branch = g1 () => (o) { o = Identity (t) }, else_branch = g2 () => (o) { o = Neg (t) }>""",
                        decl="float[2,3,4] x, bool c", feeds={**X, "c": np.array(True)})
    assert not changed


def test_dropout_with_read_mask_stays():
    m, changed = _check("t, mask = Dropout (x)\n y = Where (mask, t, x)")
    assert not changed


def test_reshape_same_symbolic_shape_after_inference():
    text_decl = "float[N,4] x"
    m, changed = _check("t = Reshape (x, s)\n y = Relu (t)", decl=text_decl, out="float[N,4] y",
                        inits="<int64[2] s = {0, 4}>", feeds={"x": np.ones((5, 4), np.float32)},
                        infer=True)
    assert changed and [n.op_type for n in m.graph] == ["Relu"]


def test_reshape_of_unknown_dims_stays():
    m, changed = _check("t = Reshape (x, s)\n y = Relu (t)", decl="float[N,M] x", out="float[N,M] y",
                        inits="<int64[2] s = {-1, 4}>", feeds={"x": np.ones((5, 4), np.float32)},
                        infer=True)
    assert not changed


def test_identity_in_subgraph_goes():
    m, changed = _check("""y = If (c) <then_branch = g1 () => (o) { t = Identity (x)  o = Neg (t) },
                                    else_branch = g2 () => (o) { o = Abs (x) }>""",
                        decl="float[2,3,4] x, bool c", feeds={**X, "c": np.array(True)})
    assert changed
    assert [n.op_type for n in m.graph.nodes[0].attr("then_branch")] == ["Neg"]


@pytest.mark.parametrize("to,goes", [("FLOAT", True), ("float", True), ("INT32", False), ("NOT_A_TYPE", False)])
def test_cast_1_type_names(to, goes):
    """Cast-1 names its type as a string: a cast to the input's own type goes, others stay,
    and a name that is no type is left for the kernel to report (the pass does not crash)."""
    from onnx import TensorProto, helper
    node = helper.make_node("Cast", ["x"], ["t"])
    node.attribute.append(helper.make_attribute("to", to))
    g = helper.make_graph([node, helper.make_node("Abs", ["t"], ["y"])], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.UNDEFINED, None)])
    m = onnxkit.load(helper.make_model(g, opset_imports=[helper.make_opsetid("", 5)], ir_version=3)
                     .SerializeToString())
    assert RemoveIdentities()(m) is goes
    assert [n.op_type for n in m.graph] == (["Abs"] if goes else ["Cast", "Abs"])
    if to != "NOT_A_TYPE":
        out = onnxkit.Session(m, optimize="none").run(None, {"x": np.array([2.7, -1.2], np.float32)})[0]
        assert out.tolist() == ([2, 1] if to == "INT32" else [np.float32(2.7), np.float32(1.2)])
