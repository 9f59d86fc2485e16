"""Shape rules of the tensor ops (tensor_*.py): the same as or more specific
than onnx.shape_inference (with data propagation) on the conformance models
and on hand-made ones (old opsets, symbolic dims), never different; symbolic
dims carried through the shape computations exported transformers make."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper, shape_inference

import onnxkit
from onnxkit.infer import infer
from tests.conftest import conformance_cases

MINE = set("Shape Size Reshape Flatten Squeeze Unsqueeze Concat Split Slice Gather GatherElements GatherND "
           "Scatter ScatterElements ScatterND TensorScatter Expand Tile Pad ConstantOfShape Constant Range "
           "Identity Transpose NonZero Compress OneHot TopK Unique Trilu DepthToSpace SpaceToDepth "
           "ReverseSequence EyeLike".split())


def _onnx_dims(t: onnx.TypeProto):
    if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else
            (None if not d.dim_param or d.dim_param.startswith("unk__") else d.dim_param)
            for d in t.tensor_type.shape.dim]


def _ours(v) -> list | None:
    shape = getattr(v.type, "shape", None)
    return None if shape is None else list(shape.dims)


def at_least_as_specific(ours: list | None, theirs: list | None) -> bool:
    """Every dim onnx knows, we know the same (a number) or name (a symbol for its symbol)."""
    if theirs is None:
        return True
    if ours is None or len(ours) != len(theirs):
        return False
    for o, t in zip(ours, theirs):
        if t is None:
            continue
        if isinstance(t, int) and o != t:
            return False
        if isinstance(t, str) and (o is None or (isinstance(o, str) and o != t)):
            return False
    return True


def both(m: onnx.ModelProto) -> tuple[dict, dict, list]:
    """({value: onnx dims}, {value: our dims}, problems) of every node output."""
    stripped = onnx.ModelProto()
    stripped.CopyFrom(m)
    for o in stripped.graph.output:
        if o.type.HasField("tensor_type"):
            o.type.tensor_type.ClearField("shape")
    theirs = shape_inference.infer_shapes(stripped, data_prop=True)
    want = {v.name: _onnx_dims(v.type) for v in list(theirs.graph.value_info) + list(theirs.graph.output)}
    km = onnxkit.load(stripped.SerializeToString())
    report = infer(km)
    ours = {v.name: _ours(v) for n in km.graph for v in n.outputs if v.name}
    return want, ours, report.problems


def _cases():
    out = []
    for name, m in conformance_cases():
        ops = {n.op_type for n in m.graph.node}
        if ops and ops <= MINE:
            out.append((name, m))
    return out


def test_conformance_models_at_least_as_specific_as_onnx():
    bad, n = [], 0
    for name, m in _cases():
        declared = {o.name: _onnx_dims(o.type) for o in m.graph.output}
        want, ours, problems = both(m)
        n += 1
        bad += [f"{name}: {p}" for p in problems]
        for v, got in ours.items():
            if not at_least_as_specific(got, want.get(v)):
                bad.append(f"{name} {v}: onnx {want.get(v)}, ours {got}")
            real = declared.get(v)
            if real is not None and got is not None and (
                    len(real) != len(got) or any(isinstance(r, int) and g is not None and g != r
                                                 for r, g in zip(real, got))):
                bad.append(f"{name} {v}: the real output is {real}, ours {got}")
    assert n > 150 and not bad, "\n".join(bad)


# ------------------------------------------------------------------ hand-made models
def model(op: str, inputs: list[tuple[str, int, list | None]], n_out: int = 1, opset: int = 21,
          consts: dict | None = None, order: list[str] | None = None, **attrs) -> onnx.ModelProto:
    consts = consts or {}
    node = helper.make_node(op, order or [n for n, *_ in inputs] + list(consts),
                            [f"y{i}" for i in range(n_out)], **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                          [helper.make_empty_tensor_value_info(f"y{i}") for i in range(n_out)],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=9)


F, I64 = TensorProto.FLOAT, TensorProto.INT64


def i64(*v):
    return np.array(v, np.int64)


CASES = {
    "reshape_1": (model("Reshape", [("x", F, ["N", 6])], opset=1, shape=[0, 2, -1]), [["N", 2, 3]]),
    "reshape_zero_minus": (model("Reshape", [("x", F, ["N", "S", 8])], consts={"s": i64(0, -1, 4)}),
                           [["N", "2*S", 4]]),
    "reshape_unknown_cancels": (model("Reshape", [("x", F, [None, 4, 4])], consts={"s": i64(0, -1)}),
                                [[None, 16]]),
    "slice_back_from_before_front": (model("Slice", [("x", F, [2, "N"])], consts={
        "s": i64(-4), "e": i64(-2**63), "a": i64(0), "t": i64(-2)}), [[1, "N"]]),
    "flatten_sym": (model("Flatten", [("x", F, ["N", 3, "S"])], axis=-1), [["3*N", "S"]]),
    "squeeze_1": (model("Squeeze", [("x", F, [1, "N", 1])], opset=1, axes=[0, 2]), [["N"]]),
    "squeeze_all": (model("Squeeze", [("x", F, [1, 4, 1])]), [[4]]),
    "unsqueeze_11": (model("Unsqueeze", [("x", F, ["N", 4])], opset=11, axes=[-1, 0]), [[1, "N", 4, 1]]),
    "concat_1": (model("Concat", [("a", F, [2, "N"]), ("b", F, [2, 3])], opset=1), [[2, "N + 3"]]),
    "concat_sym": (model("Concat", [("a", F, ["B", "N"]), ("b", F, [None, "M"])], axis=-1),
                   [["B", "M + N"]]),
    "split_2": (model("Split", [("x", F, [6, "N"])], 2, opset=2, split=[2, 4]), [[2, "N"], [4, "N"]]),
    "split_equal_sym": (model("Split", [("x", F, ["2*N", 4])], 2, opset=13), [["N", 4], ["N", 4]]),
    "split_18_uneven": (model("Split", [("x", F, [7, 2])], 3, opset=18, num_outputs=3),
                        [[3, 2], [3, 2], [1, 2]]),
    "slice_1": (model("Slice", [("x", F, [10, "N"])], opset=1, starts=[2, 1], ends=[-1, 2**62], axes=[0, 1]),
                [[7, "N - 1"]]),
    "slice_may_clamp": (model("Slice", [("x", F, ["N"])], consts={"s": i64(0), "e": i64(512)}), [[None]]),
    "slice_first": (model("Slice", [("x", F, ["N", "S"])], consts={"s": i64(0), "e": i64(1), "a": i64(-1)}),
                    [["N", 1]]),
    "slice_neg_sym": (model("Slice", [("x", F, ["N", "S"])],
                            consts={"s": i64(-3), "e": i64(2**63 - 1), "a": i64(1)}), [["N", 3]]),
    "slice_reverse_sym": (model("Slice", [("x", F, ["S"])],
                                consts={"s": i64(-1), "e": i64(-2**63), "a": i64(0), "t": i64(-1)}),
                          [["S"]]),
    "slice_skip_first": (model("Slice", [("x", F, ["S", 4])], consts={"s": i64(1), "e": i64(2**62)}),
                         [["S - 1", 4]]),
    "tile_sym": (model("Tile", [("x", F, ["N", 2])], consts={"r": i64(3, 1)}), [["3*N", 2]]),
    "pad_2": (model("Pad", [("x", F, ["N", 4])], opset=2, pads=[1, 0, 2, -1]), [["N + 3", 3]]),
    "pad_axes": (model("Pad", [("x", F, ["N", 4, 5])], opset=18, consts={"p": i64(1, 2), "a": i64(1)},
                       order=["x", "p", "", "a"]), [["N", 7, 5]]),
    "gather_sym": (model("Gather", [("x", F, ["N", "S", 8]), ("i", I64, ["K", 2])], axis=1),
                   [["N", "K", 2, 8]]),
    "gather_nd_batch": (model("GatherND", [("x", F, ["B", 3, 4, 5]), ("i", I64, ["B", 7, 2])], batch_dims=1),
                        [["B", 7, 5]]),
    "gather_elements": (model("GatherElements", [("x", F, ["N", 5]), ("i", I64, ["N", 2])], axis=1),
                        [["N", 2]]),
    "scatter_nd": (model("ScatterND", [("x", F, ["N", 5]), ("i", I64, [2, 1]), ("u", F, [2, 5])]), [["N", 5]]),
    "expand_sym": (model("Expand", [("x", F, ["N", 1])], consts={"s": i64(3, 1, 4)}), [[3, "N", 4]]),
    "transpose_default": (model("Transpose", [("x", F, ["A", "B", 3])]), [[3, "B", "A"]]),
    "topk_1": (model("TopK", [("x", F, ["N", 10])], 2, opset=1, k=3), [["N", 3], ["N", 3]]),
    "topk_input": (model("TopK", [("x", F, ["N", 10])], 2, consts={"k": i64(4)}, axis=0),
                   [[4, 10], [4, 10]]),
    "one_hot": (model("OneHot", [("i", I64, ["N", 3])], consts={"d": np.array(5, np.int64),
                                                                 "v": np.array([0, 1], np.float32)}, axis=1),
                [["N", 5, 3]]),
    "depth_to_space": (model("DepthToSpace", [("x", F, ["N", 8, "H", 3])], blocksize=2), [["N", 2, "2*H", 6]]),
    "space_to_depth": (model("SpaceToDepth", [("x", F, ["N", "C", 4, 6])], blocksize=2), [["N", "4*C", 2, 3]]),
    "compress_const": (model("Compress", [("x", F, ["N", 5])], consts={"c": np.array([1, 0, 1], bool)},
                             axis=1), [["N", 2]]),
    "nonzero": (model("NonZero", [("x", F, ["N", 5])]), [[2, None]]),
    "unique_axis": (model("Unique", [("x", F, ["N", 5])], 4, axis=1), [["N", None], [None], [5], [None]]),
    "eye_like": (model("EyeLike", [("x", F, ["N", "M"])], dtype=TensorProto.INT32), [["N", "M"]]),
    "trilu": (model("Trilu", [("x", F, ["B", "N", "N"])]), [["B", "N", "N"]]),
    "reverse_sequence": (model("ReverseSequence", [("x", F, ["T", "B", 2]), ("l", I64, ["B"])]),
                         [["T", "B", 2]]),
    "tensor_scatter": (model("TensorScatter", [("c", F, ["B", 8, 4]), ("u", F, ["B", 2, 4])], opset=24),
                       [["B", 8, 4]]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule(name):
    m, expected = CASES[name]
    want, ours, problems = both(m)
    assert not problems, problems
    for k, exp in enumerate(expected):
        got = ours[f"y{k}"]
        assert at_least_as_specific(got, want.get(f"y{k}")), (got, want.get(f"y{k}"))
        assert got == exp, (got, exp)


# ------------------------------------------------------------------ data propagation
TRANSFORMER = '''<ir_version: 8, opset_import: ["" : 18]>
g (float[batch, seq, 768] x, float[batch, past, 12, 64] pk, float[1, 1024, 1024] bias)
  => (heads, heads2, pos, zeros, perm, window, last3, half0, half1, padded, expanded, tail, n, sq, big, tk) {
  s = Shape(x)
  i0 = Constant<value = int64 {0}>()
  i1 = Constant<value = int64 {1}>()
  b = Gather<axis=0>(s, i0)
  q = Gather<axis=0>(s, i1)
  ax0 = Constant<value = int64[1] {0}>()
  bu = Unsqueeze(b, ax0)
  qu = Unsqueeze(q, ax0)
  m1 = Constant<value = int64[1] {-1}>()
  c64 = Constant<value = int64[2] {12, 64}>()
  tgt = Concat<axis=0>(bu, qu, c64)
  heads = Reshape(x, tgt)
  tgt2 = Concat<axis=0>(bu, m1, c64)
  heads2 = Reshape(x, tgt2)
  pos = Range(i0, q, i1)
  zeros = ConstantOfShape(tgt)
  perm = Transpose<perm=[0,2,1,3]>(heads)
  ps = Shape<start=1, end=2>(pk)
  pl = Squeeze(ps, ax0)
  tot = Add(pl, q)
  st = Unsqueeze(pl, ax0)
  en = Unsqueeze(tot, ax0)
  ax1 = Constant<value = int64[1] {1}>()
  window = Slice(bias, st, en, ax1)
  big1 = Constant<value = int64[1] {9223372036854775807}>()
  neg3 = Constant<value = int64[1] {-3}>()
  last3 = Slice(x, neg3, big1, ax1)
  half0, half1 = Split<axis=2, num_outputs=2>(x)
  pads = Constant<value = int64[6] {0, 1, 0, 0, 2, 0}>()
  padded = Pad(x, pads)
  expanded = Expand(bu, s)
  tail = Slice(s, ax1, big1)
  n = Size(x)
  sq = Reshape(tail, m1)
  one1 = Constant<value = int64[1] {1}>()
  reps = Concat<axis=0>(one1, tail)
  big = Tile(x, reps)
  tk, tki = TopK(x, qu)
}'''

EXPECTED = {
    "heads": "float[batch,seq,12,64]", "heads2": "float[batch,seq,12,64]", "pos": "int64[seq]",
    "zeros": "float[batch,seq,12,64]", "perm": "float[batch,12,seq,64]", "window": "float[1,seq,1024]",
    "last3": "float[batch,3,768]", "half0": "float[batch,seq,384]", "half1": "float[batch,seq,384]",
    "padded": "float[batch,seq + 3,768]", "expanded": "int64[batch,seq,768]", "tail": "int64[2]",
    "n": "int64[]", "sq": "int64[2]", "big": "float[batch,seq^2,589824]", "tk": "float[batch,seq,seq]",
}


def test_transformer_shape_computations_stay_symbolic():
    m = onnxkit.parse(TRANSFORMER)
    report = infer(m)
    assert not report.problems, report.summary()
    got = {v.name: str(v.type) for n in m.graph for v in n.outputs}
    assert {k: got[k] for k in EXPECTED} == EXPECTED
    assert report.shaped == report.values


def test_propagated_dims():
    """The elements of shape vectors, read back through the driver."""
    from onnxkit.infer._driver import Driver, _Scope
    from onnxkit.ops._shape import sym
    m = onnxkit.parse(TRANSFORMER)
    drv = Driver(m)
    scope = _Scope({"": 18}, write=True)
    drv.graph(m.graph, scope, "", None)
    dims = {v.name: drv.dims(drv.get(scope, v)) for n in m.graph for v in n.outputs}
    assert dims["s"] == [sym("batch"), sym("seq"), 768]
    assert dims["tgt2"] == [sym("batch"), -1, 12, 64]
    assert dims["tot"] == [sym("past + seq")]
    assert dims["tail"] == [sym("seq"), 768]
    assert dims["sq"] == [sym("seq"), 768]
    assert dims["n"] == [sym("768*batch*seq")]
    assert dims["ps"] == [sym("past")]


def test_contradictions_are_reported_not_raised():
    bad = [
        model("Reshape", [("x", F, [2, 3])], consts={"s": i64(4, 2)}),
        model("Concat", [("a", F, [2, 3]), ("b", F, [2])], axis=0),
        model("Split", [("x", F, [5])], 2, opset=13),
        model("Transpose", [("x", F, [2, 3])], perm=[0, 0]),
        model("Squeeze", [("x", F, [2, 3])], consts={"a": i64(0)}),
        model("Gather", [("x", F, [2, 3])], consts={"i": i64(0)}, axis=2),
    ]
    for m in bad:
        report = infer(onnxkit.load(m.SerializeToString()))
        assert len(report.problems) == 1, (m.graph.node[0].op_type, report.problems)
        assert "shape rule failed" not in str(report.problems[0])


def test_identity_of_sequence_keeps_the_type():
    seq = helper.make_tensor_sequence_value_info("s", F, ["N", 3])
    node = helper.make_node("Identity", ["s"], ["y"])
    g = helper.make_graph([node], "g", [seq], [helper.make_empty_tensor_value_info("y")])
    m = onnxkit.load(helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)]).SerializeToString())
    infer(m)
    assert str(m.graph.outputs[0].type) == str(m.graph.inputs[0].type)


# ------------------------------------------------------------------ odd models
B = TensorProto.BOOL
ODD = {  # op: (input element types, outputs, attributes, opsets)
    "Shape": ([F], 1, {"start": 1, "end": -1}, [1, 15]), "Size": ([F], 1, {}, [1]),
    "Reshape": ([F, I64], 1, {}, [5, 14]), "Flatten": ([F], 1, {"axis": 2}, [13]),
    "Squeeze": ([F, I64], 1, {}, [13]), "Unsqueeze": ([F, I64], 1, {}, [13]),
    "Concat": ([F, F], 1, {"axis": 1}, [13]), "Split": ([F, I64], 2, {"axis": 1}, [13, 18]),
    "Slice": ([F, I64, I64, I64, I64], 1, {}, [13]), "Gather": ([F, I64], 1, {"axis": 1}, [13]),
    "GatherElements": ([F, I64], 1, {"axis": 1}, [13]), "GatherND": ([F, I64], 1, {"batch_dims": 1}, [13]),
    "ScatterND": ([F, I64, F], 1, {}, [18]), "TensorScatter": ([F, F, I64], 1, {}, [24]),
    "Expand": ([F, I64], 1, {}, [13]), "Tile": ([F, I64], 1, {}, [13]), "Pad": ([F, I64, F, I64], 1, {}, [18]),
    "ConstantOfShape": ([I64], 1, {}, [9]), "Range": ([I64, I64, I64], 1, {}, [11]),
    "Transpose": ([F], 1, {"perm": [1, 0, 2]}, [13]), "NonZero": ([F], 1, {}, [13]),
    "Compress": ([F, B], 1, {"axis": 1}, [11]), "OneHot": ([I64, I64, F], 1, {"axis": 1}, [11]),
    "TopK": ([F, I64], 2, {"axis": 1}, [11]), "Unique": ([F], 4, {"axis": 1}, [11]),
    "DepthToSpace": ([F], 1, {"blocksize": 2}, [13]), "SpaceToDepth": ([F], 1, {"blocksize": 2}, [13]),
    "ReverseSequence": ([F, I64], 1, {}, [10]), "EyeLike": ([F], 1, {}, [9]),
}


def test_rules_never_raise_on_odd_models():
    """Unknown ranks, empty and scalar shapes, zero dims, constants of any length:
    a rule infers what it can or reports the contradiction, never raises."""
    rng = np.random.default_rng(0)
    choices = [None, [], ["N"], [2, "S"], [0, 4, "N"], [1, None, 2, 4]]
    crashed = []
    for op, (types, n_out, attrs, opsets) in ODD.items():
        for opset in opsets:
            for _ in range(8):
                ins, inits = [], []
                for k, t in enumerate(types):
                    if t == I64 and rng.random() < 0.5:
                        inits.append(numpy_helper.from_array(rng.integers(-3, 4, rng.integers(0, 5)), f"i{k}"))
                    else:
                        ins.append(helper.make_tensor_value_info(f"i{k}", t, choices[rng.integers(len(choices))]))
                node = helper.make_node(op, [f"i{k}" for k in range(len(types))],
                                        [f"o{k}" for k in range(n_out)], **attrs)
                g = helper.make_graph([node], "g", ins, [helper.make_empty_tensor_value_info(f"o{k}")
                                                         for k in range(n_out)], inits)
                m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=9)
                report = infer(onnxkit.load(m.SerializeToString()))
                crashed += [str(p) for p in report.problems if "rule failed" in str(p)]
    assert not crashed, "\n".join(crashed)


# ------------------------------------------------------------------ rules against the kernels
def _random_model(rng: np.random.Generator, k: int) -> onnx.ModelProto:
    r = int(rng.integers(1, 5))
    s = [[2, 3, 4, 1, "N", "S"][j] for j in rng.integers(0, 6, r)]

    def ints(n, lo, hi):
        return rng.integers(lo, hi, n).astype(np.int64)

    if k == 0:
        return model("Slice", [("x", F, s)], consts={
            "s": ints(1, -6, 6), "e": np.array([rng.choice([-2**63, -3, 0, 1, 5, 2**63 - 1])]),
            "a": ints(1, -r, r), "t": np.array([rng.choice([-2, -1, 1, 2])])})
    if k == 1:
        return model("Reshape", [("x", F, s)], consts={"t": np.array([0, -1][:min(r, 2)])})
    if k == 2:
        return model("Pad", [("x", F, s)], consts={"p": ints(2 * r, -1, 3)})
    if k == 3:
        return model("Split", [("x", F, s)], 2, opset=18, axis=int(rng.integers(-r, r)), num_outputs=2)
    if k == 4:
        return model("Concat", [("a", F, s), ("b", F, s)], axis=int(rng.integers(-r, r)))
    if k == 5:
        return model("Tile", [("x", F, s)], consts={"r": ints(r, 0, 3)})
    return model("Gather", [("x", F, s)], consts={"i": ints(int(rng.integers(0, 3)), -1, 1)},
                 axis=int(rng.integers(-r, r)))


def _evaluate(dim, env: dict) -> int | None:
    if dim is None or isinstance(dim, int):
        return dim
    import math
    return int(eval(dim.replace("^", "**"), {"floor": math.floor, **env}))  # noqa: S307 (our own dim texts)


def test_symbolic_shapes_match_the_kernels_outputs():
    """Random models with symbolic dims: the inferred shapes, with the symbols
    given values, are the shapes the kernels produce (symbols larger than the
    constants, as the Slice rule takes them to be)."""
    rng = np.random.default_rng(3)
    env = {"N": 10, "S": 14}
    wrong, ran = [], 0
    for t in range(350):
        m = _random_model(rng, t % 7)
        km = onnxkit.load(m.SerializeToString())
        if infer(km).problems:
            continue
        feeds = {i.name: np.zeros([d.dim_value or env[d.dim_param] for d in i.type.tensor_type.shape.dim],
                                  np.float32) for i in m.graph.input}
        try:
            outs = onnxkit.Session(m.SerializeToString()).run(None, feeds)
        except onnxkit.errors.RunError:
            continue
        ran += 1
        for v, out in zip(km.graph.outputs, outs):
            want = [_evaluate(d, env) for d in v.type.shape.dims]
            if len(want) != out.ndim or any(w is not None and w != g for w, g in zip(want, out.shape)):
                wrong.append(f"{onnx.printer.to_text(m.graph)}\n  inferred {v.type}, ran {out.shape}")
    assert ran > 200 and not wrong, "\n".join(wrong[:5])
