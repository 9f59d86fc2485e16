"""Shape rules of the math ops: the same as onnx.shape_inference or more
specific on symbolic inputs, exact shapes where onnx says less, element-wise
data propagation through shape computations, and failures as problems."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP
from onnx import helper

import onnxkit
from onnxkit.infer import infer
from tests.infer.agreement import compare

F, I64, B = TP.FLOAT, TP.INT64, TP.BOOL


def _model(op: str, inputs: list, opset: int = 21, n_out: int = 1, consts: dict | None = None,
           **attrs) -> onnx.ModelProto:
    """``inputs``: (name, elem type, shape) graph inputs; ``consts``: {name: array} initializers."""
    consts = consts or {}
    names = [n for n, _, _ in inputs]
    node = helper.make_node(op, names, [f"y{i}" for i in range(n_out)], **attrs)
    ins = [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs if n and n not in consts]
    inits = [onnx.numpy_helper.from_array(v, k) for k, v in consts.items()]
    outs = [helper.make_empty_tensor_value_info(f"y{i}") for i in range(n_out)]
    return helper.make_model(helper.make_graph([node], "g", ins, outs, inits),
                             opset_imports=[helper.make_opsetid("", opset)], ir_version=10)


def _ours(m: onnx.ModelProto) -> list[str]:
    km = onnxkit.load(m.SerializeToString())
    rep = infer(km)
    assert not rep.problems, rep.problems
    return [str(v.type) for v in km.graph.outputs]


def agree(m: onnx.ModelProto) -> list[str]:
    n, gaps = compare("case", m)
    assert not gaps, gaps
    return _ours(m)


X = ("x", F, ["N", "C", 8])
CASES = [
    ("Relu", [X], {}, 21, "float[N,C,8]"),
    ("Gelu", [X], {"approximate": "tanh"}, 21, "float[N,C,8]"),
    ("IsNaN", [X], {}, 21, "bool[N,C,8]"),
    ("IsInf", [X], {}, 21, "bool[N,C,8]"),
    ("Add", [X, ("b", F, [8])], {}, 21, "float[N,C,8]"),
    ("Add", [X, ("b", F, ["C", 1])], {}, 21, "float[N,C,8]"),
    ("Pow", [X, ("b", TP.INT32, [1])], {}, 21, "float[N,C,8]"),
    ("Equal", [X, ("b", F, [1, "C", 1])], {}, 21, "bool[N,C,8]"),
    ("Where", [("c", B, ["C", 1]), X, ("b", F, [])], {}, 21, "float[N,C,8]"),
    ("Max", [X, ("b", F, [8]), ("c", F, ["N", 1, 1])], {}, 21, "float[N,C,8]"),
    ("Mean", [X], {}, 21, "float[N,C,8]"),
    ("BitShift", [("a", TP.UINT8, ["N"]), ("b", TP.UINT8, [1])], {"direction": "LEFT"}, 21, "uint8[N]"),
    ("Add", [X, ("b", F, ["C"])], {"broadcast": 1, "axis": 1}, 6, "float[N,C,8]"),
    ("Softmax", [X], {"axis": 1}, 11, "float[N,C,8]"),
    ("Hardmax", [X], {}, 13, "float[N,C,8]"),
    ("Clip", [X, ("lo", F, []), ("hi", F, [])], {}, 13, "float[N,C,8]"),
    ("SwiGLU", [X, ("b", F, ["N", "C", 8])], {}, 28, "float[N,C,8]"),
    ("ReduceSum", [X, ("axes", I64, [1])], {"keepdims": 0}, 13, None),
    ("ReduceMean", [X], {"axes": [-1], "keepdims": 0}, 13, "float[N,C]"),
    ("ReduceMax", [X], {"axes": [0, 2]}, 13, "float[1,C,1]"),
    ("ReduceL2", [X], {"keepdims": 0}, 13, "float[]"),
    ("ArgMax", [X], {"axis": -1, "keepdims": 0}, 13, "int64[N,C]"),
    ("ArgMin", [X], {"axis": 1}, 13, "int64[N,1,8]"),
    ("CumSum", [X, ("axis", I64, [])], {}, 14, "float[N,C,8]"),
    ("MatMul", [X, ("w", F, [8, "K"])], {}, 21, "float[N,C,K]"),
    ("MatMul", [("a", F, ["K"]), ("w", F, ["B", "K", 5])], {}, 21, "float[B,5]"),
    ("MatMul", [("a", F, ["B", 1, "M", "K"]), ("w", F, ["H", "K", 5])], {}, 21, "float[B,H,M,5]"),
    ("MatMul", [("a", F, ["M", "K"]), ("w", F, ["K"])], {}, 21, "float[M]"),
    ("MatMulInteger", [("a", TP.UINT8, ["M", 4]), ("w", TP.INT8, [4, "N"])], {}, 21, "int32[M,N]"),
    ("Gemm", [("a", F, [4, "M"]), ("b", F, ["N", 4]), ("c", F, ["N"])], {"transA": 1, "transB": 1}, 13,
     "float[M,N]"),
    ("Einsum", [("a", F, ["B", "I", "J"]), ("b", F, ["B", "J", "K"])], {"equation": "bij,bjk->bik"}, 12,
     "float[B,I,K]"),
    ("Einsum", [("a", F, [3, "I", "J"]), ("b", F, ["J", 5])], {"equation": "...ij,jk"}, 12, "float[3,I,5]"),
    ("Einsum", [("a", F, ["I", "I"])], {"equation": "ii"}, 12, "float[]"),
    ("Det", [("a", F, ["B", 3, 3])], {}, 22, "float[B]"),
    ("NegativeLogLikelihoodLoss", [("x", F, ["N", "C", "D"]), ("t", I64, ["N", "D"])], {"reduction": "none"},
     13, "float[N,D]"),
    ("NegativeLogLikelihoodLoss", [("x", F, ["N", "C"]), ("t", I64, ["N"])], {}, 13, "float[]"),
]


@pytest.mark.parametrize("op,inputs,attrs,opset,want", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_agrees_with_onnx(op, inputs, attrs, opset, want):
    got = agree(_model(op, inputs, opset, **attrs))
    if want is not None:
        assert got[0] == want


def test_softmax_cross_entropy_two_outputs():
    m = _model("SoftmaxCrossEntropyLoss", [("x", F, ["N", "C", "D"]), ("t", I64, ["N", "D"])], 13, n_out=2,
               reduction="sum")
    assert agree(m) == ["float[]", "float[N,C,D]"]


def test_reduce_with_known_and_unknown_axes():
    x = ("x", F, ["N", 1, "S", 4])
    m = _model("ReduceSum", [x, ("axes", I64, [2])], 13, consts={"axes": np.array([0, -1], np.int64)})
    assert agree(m) == ["float[1,1,S,1]"]
    # axes unknown: kept dims are their own or 1, so a 1 stays 1
    assert _ours(_model("ReduceMax", [x, ("axes", I64, [2])], 18)) == ["float[?,1,?,?]"]
    assert _ours(_model("ReduceMax", [x, ("axes", I64, [2])], 18, keepdims=0)) == ["float[?,?]"]
    m = _model("ReduceMin", [x, ("axes", I64, [0])], 18, noop_with_empty_axes=1,
               consts={"axes": np.zeros(0, np.int64)})
    assert agree(m) == ["float[N,1,S,4]"]
    assert agree(_model("ReduceProd", [x], 18, keepdims=0)) == ["float[]"]


def test_matmul_rank_unknown_and_contradictions():
    assert _ours(_model("MatMul", [("a", F, None), ("b", F, [3, 4])])) == ["float"]
    for op, inputs in [("MatMul", [("a", F, [2, 3]), ("b", F, [4, 5])]),
                       ("Add", [("a", F, [2, 3]), ("b", F, [4])]),
                       ("Gemm", [("a", F, [2, 3]), ("b", F, [4, 5])]),
                       ("ArgMax", [("a", F, [2, 3])])]:
        km = onnxkit.load(_model(op, inputs, 13, **({"axis": 5} if op == "ArgMax" else {})).SerializeToString())
        rep = infer(km)
        assert len(rep.problems) == 1 and op in str(rep.problems[0]), rep.problems


# ------------------------------------------------------------ data propagation
def _prop(body: str, inputs: str = "float[N, seq, 64] x") -> list[str]:
    """Types of the graph's outputs y1, y2, ... : ConstantOfShape of each shape
    computation ``r1``, ``r2``, ... in ``body`` (ONNX text, after ``s = Shape(x)``)."""
    rs = sorted({ln.split("=")[0].strip() for ln in body.strip().splitlines()
                 if ln.strip().startswith("r")}, key=lambda r: int(r[1:]))
    outs = "\n".join(f"  y{r[1:]} = ConstantOfShape ({r})" for r in rs)
    m = onnxkit.parse(f'<ir_version: 10, opset_import: ["" : 21]>\n'
                      f'g ({inputs}) => ({", ".join("y" + r[1:] for r in rs)}) {{\n'
                      f"  s = Shape (x)\n{body}\n{outs}\n}}")
    rep = infer(m)
    assert not rep.problems, rep.problems
    return [str(v.type) for v in m.graph.outputs]


def test_propagate_arithmetic():
    assert _prop('''
  c = Constant <value = int64[3] {0, 1, 0}> ()
  two = Constant <value = int64 {2}> ()
  r1 = Add (s, c)
  r2 = Sub (r1, c)
  r3 = Mul (s, two)
  r4 = Div (s, two)
  n = Neg (s)
  r5 = Neg (n)
  r6 = Abs (s)
  r7 = Mod (s, two)
''') == ["float[N,seq + 1,64]", "float[N,seq,64]", "float[2*N,2*seq,128]", "float[floor(N/2),floor(seq/2),32]",
         "float[N,seq,64]", "float[N,seq,64]", "float[mod(N, 2),mod(seq, 2),0]"]


def test_propagate_exact_division_and_reduce():
    assert _prop('''
  two = Constant <value = int64[1] {2}> ()
  zero = Constant <value = int64[1] {0}> ()
  one = Constant <value = int64[1] {1}> ()
  b = Slice (s, zero, two)
  n = Slice (s, zero, one)
  m = Mul (b, n)
  r1 = Div (m, n)
  r2 = ReduceProd (s, zero)
  r3 = ReduceSum (b, zero)
  p = ReduceProd <keepdims = 0> (s)
  r4 = Unsqueeze (p, zero)
''') == ["float[N,seq]", "float[64*N*seq]", "float[N + seq]", "float[64*N*seq]"]


def test_propagate_comparisons_and_where():
    assert _prop('''
  neg = Constant <value = int64[3] {-1, -1, -1}> ()
  one = Constant <value = int64 {1}> ()
  big = Constant <value = int64[3] {7, 7, 64}> ()
  e1 = Equal (s, neg)
  r1 = Where (e1, one, s)
  e2 = Equal (s, s)
  r2 = Where (e2, s, neg)
  l3 = Less (s, neg)
  r3 = Where (l3, neg, s)
  s1 = Add (s, one)
  g4 = GreaterOrEqual (s1, s)
  r4 = Where (g4, s, neg)
  g5 = Greater (s, neg)
  n5 = Not (g5)
  r5 = Where (n5, neg, s)
  e6 = Equal (s, big)
  r6 = Where (e6, one, s)
  o7 = Or (e1, e2)
  r7 = Where (o7, s, neg)
  a8 = And (e1, e2)
  r8 = Where (a8, neg, s)
  c9 = Constant <value = bool[3] {1, 0, 1}> ()
  r9 = Where (c9, s, big)
''') == ["float[N,seq,64]"] * 5 + ["float[?,?,1]"] + ["float[N,seq,64]"] * 2 + ["float[N,7,64]"]


def test_propagate_max_min():
    assert _prop('''
  z = Constant <value = int64[3] {0, 1, 100}> ()
  w = Constant <value = int64[3] {0, 0, 3}> ()
  one = Constant <value = int64 {1}> ()
  r1 = Max (s, z)
  r2 = Min (s, w)
  s1 = Add (s, one)
  r3 = Max (s, s1)
  r4 = Sum (s, s, s)
''') == ["float[N,?,100]", "float[0,0,3]", "float[N + 1,seq + 1,65]", "float[3*N,3*seq,192]"]
