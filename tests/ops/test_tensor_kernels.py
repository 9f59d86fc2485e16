"""Tensor and shape-manipulation kernels (tensor_*.py) against onnxruntime, or
onnx.reference where onnxruntime lacks the op or opset, on the cases the
conformance suite leaves out: old opset versions, reductions with duplicates,
negative and clamped bounds, uneven splits, other dtypes; and views where the
op allows one."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import onnxkit
from onnxkit.ops.tensor_shape import expand, reshape, squeeze, transpose
from onnxkit.ops.tensor_slice import slice_

RNG = np.random.default_rng(0)


def _model(op: str, inputs: dict, n_out: int, opset: int, consts: dict | None = None, **attrs):
    consts = consts or {}
    names = [n if n else "" for n in list(inputs) + list(consts)]
    order = [k for k in attrs.pop("_order", names)]
    node = helper.make_node(op, order, [f"y{i}" for i in range(n_out)], **attrs)
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
         for k, v in inputs.items()],
        [helper.make_empty_tensor_value_info(f"y{i}") for i in range(n_out)],
        [numpy_helper.from_array(v, k) for k, v in consts.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=9)


def check(op: str, inputs: dict, n_out: int = 1, opset: int = 21, oracle: str = "ort",
          consts: dict | None = None, **attrs) -> list:
    """Run the one-node model in onnxkit and the oracle; outputs must match exactly."""
    m = _model(op, inputs, n_out, opset, consts, **attrs)
    if oracle == "ort":
        want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, inputs)
    else:
        want = ReferenceEvaluator(m).run(None, inputs)
    got = onnxkit.Session(m.SerializeToString()).run(None, inputs)
    for w, g in zip(want, got):
        w = np.asarray(w)
        assert g.shape == w.shape, (g.shape, w.shape)
        assert g.dtype == w.dtype or (w.dtype.kind in "OU" and g.dtype.kind in "OU"), (g.dtype, w.dtype)
        assert g.tolist() == w.tolist() if w.dtype.kind in "OU" else np.array_equal(g, w, equal_nan=True)
    return got


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def i64(*vals):
    return np.array(vals, dtype=np.int64)


# ------------------------------------------------------------------ shape ops
def test_reshape_allowzero_and_minus_one():
    check("Reshape", {"x": f32(2, 0, 3)}, consts={"s": i64(0, 3, -1)}, allowzero=0)
    check("Reshape", {"x": f32(0, 3)}, consts={"s": i64(3, 0)}, allowzero=1)


@pytest.mark.parametrize("axis", [0, 1, -1, 3])
def test_flatten_axes_and_empty(axis):
    check("Flatten", {"x": f32(2, 0, 3)}, axis=axis)


def test_squeeze_unsqueeze_attribute_versions():
    check("Squeeze", {"x": f32(1, 3, 1, 2)}, opset=11, axes=[-2])
    check("Squeeze", {"x": f32(1, 3, 1)}, opset=11)
    check("Unsqueeze", {"x": f32(3, 2)}, opset=11, axes=[-1, 0])
    check("Unsqueeze", {"x": np.array(5.0, np.float32)}, consts={"a": i64(0, 1)})


def test_views_not_copies():
    x = f32(4, 6)
    assert np.shares_memory(reshape(x, i64(3, -1)), x)
    assert np.shares_memory(transpose(x), x)
    assert np.shares_memory(squeeze(x[None]), x)
    assert np.shares_memory(slice_(x, i64(1), i64(-1), i64(1), i64(2)), x)
    assert np.shares_memory(expand(x[:, :1], i64(2, 4, 6)), x)
    outs = onnxkit.Session(_model("Split", {"x": x}, 2, 18, num_outputs=2, axis=1).SerializeToString())
    assert all(o.shape == (4, 3) for o in outs.run(None, {"x": x}))


def test_expand_broadcasts_both_ways_and_transpose_bfloat16():
    check("Expand", {"x": f32(3, 1)}, consts={"s": i64(2, 1, 4)})
    x = f32(2, 3, 4).astype(ml_dtypes.bfloat16)
    m = _model("Transpose", {"x": x}, 1, 21, perm=[2, 0, 1])
    (y,) = onnxkit.Session(m.SerializeToString()).run(None, {"x": x})
    assert y.dtype == x.dtype and np.array_equal(y, x.transpose(2, 0, 1))


def test_shape_size_of_empty_and_scalar():
    check("Shape", {"x": f32(2, 0, 5)}, start=-2)
    check("Size", {"x": np.array(1.0, np.float32)})


# ------------------------------------------------------------------ concat, split, slice, tile
def test_concat_strings_and_empty():
    s = np.array([["a", "b"]], dtype=object)
    check("Concat", {"a": s, "b": np.array([["c", "dd"]], dtype=object)}, axis=0)
    check("Concat", {"a": f32(2, 0), "b": f32(2, 3)}, axis=1)


def test_split_versions():
    x = f32(5, 4)
    check("Split", {"x": x}, 2, opset=11, axis=1, split=[1, 3])
    check("Split", {"x": x}, 3, opset=18, num_outputs=3)          # uneven: 2, 2, 1
    check("Split", {"x": x}, 2, consts={"s": i64(5, 0)})
    got = check("Split", {"x": f32(6)}, 3, opset=11)
    assert [g.shape for g in got] == [(2,), (2,), (2,)]


@pytest.mark.parametrize("starts,ends,axes,steps", [
    ([10], [-100], [0], [-2]),
    ([-1, 0], [-2**63, 2**63 - 1], [1, 0], [-1, 3]),
    ([2], [1], [1], [1]),
    ([-100], [100], [-1], [1]),
    ([-10], [-2**63], [0], [-1]),          # backwards from before the front: the first element
])
def test_slice_bounds(starts, ends, axes, steps):
    check("Slice", {"x": f32(7, 5)}, consts={"s": i64(*starts), "e": i64(*ends), "a": i64(*axes),
                                              "t": i64(*steps)})


def test_slice_attribute_version():
    x = f32(4, 5)
    m = _model("Slice", {"x": x}, 1, 9, starts=[1, -3], ends=[100, -1], axes=[0, 1])
    (y,) = onnxkit.Session(m.SerializeToString()).run(None, {"x": x})
    np.testing.assert_array_equal(y, x[1:100, -3:-1])


def test_tile():
    check("Tile", {"x": f32(2, 3)}, consts={"r": i64(3, 0)})
    check("Tile", {"x": np.array([[True, False]])}, consts={"r": i64(2, 2)})


def test_compress_short_condition():
    check("Compress", {"x": f32(3, 4), "c": np.array([False, True])}, axis=1)
    check("Compress", {"x": f32(3, 4), "c": np.array([True, False, True])})


# ------------------------------------------------------------------ pad
@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
def test_pad_modes_with_negative_pads_and_axes(mode):
    consts = {"p": i64(2, 1, -1, 2), "a": i64(0, -1)}
    if mode == "constant":
        consts["v"] = np.array(1.5, np.float32)
    check("Pad", {"x": f32(4, 5, 3)}, consts=consts, _order=["x", "p", "v" if mode == "constant" else "", "a"],
          mode=mode)


def test_pad_axes_input_and_int_types():
    x = np.arange(12, dtype=np.int32).reshape(3, 4)
    m = _model("Pad", {"x": x}, 1, 18, {"p": i64(1, 2), "a": i64(-1)}, _order=["x", "p", "", "a"])
    (y,) = onnxkit.Session(m.SerializeToString()).run(None, {"x": x})
    np.testing.assert_array_equal(y, np.pad(x, [(0, 0), (1, 2)]))
    check("Pad", {"x": x}, consts={"p": i64(0, 3, 0, 3)}, mode="wrap")


def test_pad_attribute_version():
    x = f32(3, 4)
    m = _model("Pad", {"x": x}, 1, 2, pads=[1, 0, 0, 2], mode="reflect")
    (y,) = onnxkit.Session(m.SerializeToString()).run(None, {"x": x})
    np.testing.assert_array_equal(y, np.pad(x, [(1, 0), (0, 2)], mode="reflect"))


# ------------------------------------------------------------------ gather / scatter
def test_gather_scalar_and_negative_axis():
    check("Gather", {"x": f32(3, 4, 5), "i": np.array(-1, np.int64)}, axis=-2)
    check("Gather", {"x": f32(3, 4), "i": np.array([[0, -1], [2, 1]], np.int32)}, axis=0)


def test_gather_elements_smaller_indices():
    x = f32(4, 5)
    check("GatherElements", {"x": x, "i": RNG.integers(-5, 5, (2, 3))}, axis=1)
    check("GatherElements", {"x": x, "i": RNG.integers(-4, 4, (3, 5))}, axis=0)


def test_gather_nd_batch_dims():
    x = f32(2, 3, 4, 5)
    check("GatherND", {"x": x, "i": RNG.integers(0, 4, (2, 3, 6, 1))}, batch_dims=2)
    check("GatherND", {"x": x, "i": RNG.integers(-2, 2, (7, 2))})
    check("GatherND", {"x": x, "i": RNG.integers(0, 3, (2, 4, 2))}, batch_dims=1)


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_elements_duplicates(reduction):
    x = f32(4, 3)
    idx = np.array([[1, 1, 0], [1, 3, 0]], np.int64) if reduction != "none" else np.array([[1, 2, 0]], np.int64)
    upd = f32(*idx.shape)
    check("ScatterElements", {"x": x, "i": idx, "u": upd}, axis=0, reduction=reduction)


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_nd_reductions(reduction):
    x = f32(4, 3, 2)
    idx = np.array([[[1, 0]], [[3, 2]]], np.int64) if reduction == "none" else \
        np.array([[[1, 0]], [[1, 0]], [[-1, 2]]], np.int64)
    upd = f32(*idx.shape[:-1], 2)
    check("ScatterND", {"x": x, "i": idx, "u": upd}, reduction=reduction)


def test_scatter_opset9():
    x = f32(3, 3)
    check("Scatter", {"x": x, "i": np.array([[2, 0, 1]], np.int64), "u": f32(1, 3)}, opset=9, axis=0)


@pytest.mark.parametrize("mode", ["linear", "circular"])
def test_tensor_scatter_4d(mode):
    cache, upd = f32(2, 3, 6, 4), f32(2, 3, 3, 4)
    w = np.array([1, 5 if mode == "circular" else 3], np.int64)
    check("TensorScatter", {"c": cache, "u": upd, "w": w}, opset=24, oracle="reference", mode=mode, axis=2)


def test_nonzero_bool_3d():
    check("NonZero", {"x": RNG.integers(0, 2, (3, 4, 2)).astype(bool)})


# ------------------------------------------------------------------ sort
@pytest.mark.parametrize("largest", [0, 1])
def test_top_k_ties_along_first_axis(largest):
    x = RNG.integers(0, 3, (6, 4, 3)).astype(np.float32)
    check("TopK", {"x": x}, 2, consts={"k": i64(4)}, axis=0, largest=largest)
    check("TopK", {"x": x.astype(np.int32)}, 2, consts={"k": i64(0)}, axis=1, largest=largest)


@pytest.mark.parametrize("largest", [0, 1])
def test_top_k_small_k_of_long_rows_with_ties(largest):
    x = RNG.integers(0, 6, (3, 200, 2)).astype(np.float32)
    check("TopK", {"x": x}, 2, consts={"k": i64(7)}, axis=1, largest=largest)


def test_top_k_version_1():
    x = f32(3, 5)
    m = _model("TopK", {"x": x}, 2, 1, k=2)
    vals, idx = onnxkit.Session(m.SerializeToString()).run(None, {"x": x})
    np.testing.assert_array_equal(idx, np.argsort(-x, axis=1, kind="stable")[:, :2])


@pytest.mark.parametrize("sorted_", [0, 1])
@pytest.mark.parametrize("axis", [None, 1])
def test_unique(sorted_, axis):
    x = RNG.integers(0, 3, (3, 6)).astype(np.float32)
    kw = {} if axis is None else {"axis": axis}
    check("Unique", {"x": x}, 4, sorted=sorted_, **kw)


def test_unique_strings_first_occurrence():
    x = np.array(["b", "a", "b", "c", "a"], dtype=object)
    m = _model("Unique", {"x": x}, 4, 21, sorted=0)
    y, idx, inv, cnt = onnxkit.Session(m.SerializeToString()).run(None, {"x": x})
    assert y.tolist() == ["b", "a", "c"] and idx.tolist() == [0, 1, 3]
    assert inv.tolist() == [0, 1, 0, 2, 1] and cnt.tolist() == [2, 2, 1]
    cols = np.array([["b", "a", "b", "c"], ["a", "c", "a", "a"]], dtype=object)
    m = _model("Unique", {"x": cols}, 4, 21, axis=1)
    got = onnxkit.Session(m.SerializeToString()).run(None, {"x": cols})
    want = np.unique(cols.astype(str), axis=1, return_index=True, return_inverse=True, return_counts=True)
    assert [g.tolist() for g in got] == [w.tolist() for w in want]


# ------------------------------------------------------------------ creation
def test_constant_attribute_forms():
    for attrs in ({"value_floats": [1.5, 2.0]}, {"value_int": 3}, {"value_ints": [1, -2]},
                  {"value_float": 0.25}):
        node = helper.make_node("Constant", [], ["y0"], **attrs)
        g = helper.make_graph([node], "g", [], [helper.make_empty_tensor_value_info("y0")])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)], ir_version=9)
        want = ReferenceEvaluator(m).run(None, {})[0]
        got = onnxkit.Session(m.SerializeToString()).run(None, {})[0]
        assert got.dtype == want.dtype and np.array_equal(got, want)


def test_constant_sparse_value():
    sp = helper.make_sparse_tensor(numpy_helper.from_array(np.array([5.0, 7.0], np.float32), "v"),
                                   numpy_helper.from_array(i64(1, 6), "i"), [2, 4])
    node = helper.make_node("Constant", [], ["y0"], sparse_value=sp)
    g = helper.make_graph([node], "g", [], [helper.make_empty_tensor_value_info("y0")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=9)
    (y,) = onnxkit.Session(m.SerializeToString()).run(None, {})
    np.testing.assert_array_equal(y, [[0, 5, 0, 0], [0, 0, 7, 0]])


def test_constant_of_shape_value_types():
    value = helper.make_tensor("v", TensorProto.INT32, [1], [7])
    check("ConstantOfShape", {"s": i64(2, 3)}, value=value)
    check("ConstantOfShape", {"s": i64(0)})


@pytest.mark.parametrize("args", [(1.0, -2.0, -0.3), (5, 5, 1), (10, 3, -3), (0.5, 3.0, 0.7)])
def test_range(args):
    dt = np.int64 if isinstance(args[0], int) else np.float32
    check("Range", {k: np.array(v, dt) for k, v in zip("sld", args)}, oracle="reference")  # ort accumulates


def test_range_bfloat16_stash():
    s, lim, d = (np.array(v, ml_dtypes.bfloat16) for v in (250.0, 270.0, 1.0))
    m = _model("Range", {"s": s, "l": lim, "d": d}, 1, 27)
    (y,) = onnxkit.Session(m.SerializeToString()).run(None, {"s": s, "l": lim, "d": d})
    assert y.dtype == s.dtype and y.shape == (20,)
    np.testing.assert_array_equal(y, np.arange(250, 270, dtype=np.float32).astype(ml_dtypes.bfloat16))


@pytest.mark.parametrize("k", [-5, -1, 2, 9])
def test_eye_like(k):
    check("EyeLike", {"x": f32(3, 5)}, k=k, dtype=TensorProto.INT32)


def test_one_hot_float_indices_axis():
    check("OneHot", {"i": np.array([[1.0, -1.0], [3.0, 9.0]], np.float32), "d": np.array(4.0, np.float32),
                     "v": np.array([0, 5], np.int64)}, axis=1, oracle="reference")
    check("OneHot", {"i": np.array([[1, -1], [3, 9]], np.int64), "d": np.array(4, np.int64),
                     "v": np.array([0, 5], np.float32)}, axis=-3)


@pytest.mark.parametrize("upper", [0, 1])
def test_trilu_batched(upper):
    check("Trilu", {"x": f32(2, 3, 4, 5)}, consts={"k": i64(-1)}, upper=upper)
    check("Trilu", {"x": RNG.integers(0, 9, (4, 3)).astype(np.int64)}, upper=upper)


# ------------------------------------------------------------------ layout
def test_depth_to_space_and_back():
    x = f32(2, 8, 3, 2)
    check("DepthToSpace", {"x": x}, blocksize=2, mode="CRD")
    for mode in ("DCR", "CRD"):
        d2s = _model("DepthToSpace", {"x": x}, 1, 28, blocksize=2, mode=mode)
        (y,) = onnxkit.Session(d2s.SerializeToString()).run(None, {"x": x})
        s2d = _model("SpaceToDepth", {"y": y}, 1, 28, blocksize=2, mode=mode)
        (back,) = onnxkit.Session(s2d.SerializeToString()).run(None, {"y": y})
        np.testing.assert_array_equal(back, x)


def test_reverse_sequence_batch_first_3d():
    x = f32(3, 5, 2)
    check("ReverseSequence", {"x": x, "l": i64(5, 1, 3)}, batch_axis=0, time_axis=1)
    check("ReverseSequence", {"x": x.transpose(1, 0, 2).copy(), "l": i64(2, 0, 4)})


def test_identity_sequence_passes_through():
    x = f32(2)
    seq_in = helper.make_tensor_sequence_value_info("s", TensorProto.FLOAT, None)
    node = helper.make_node("Identity", ["s"], ["y"])
    g = helper.make_graph([node], "g", [seq_in], [helper.make_tensor_sequence_value_info("y", TensorProto.FLOAT,
                                                                                          None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)], ir_version=9)
    (y,) = onnxkit.Session(m.SerializeToString()).run(None, {"s": [x, x * 2]})
    assert isinstance(y, list) and len(y) == 2 and np.array_equal(y[1], x * 2)

