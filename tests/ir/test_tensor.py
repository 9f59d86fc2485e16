"""Tensors in every ONNX element type, against onnx.numpy_helper as the oracle."""

from __future__ import annotations

import numpy as np
import onnx
import onnx.numpy_helper as nh
import pytest

import onnxkit
from onnxkit.errors import DataSizeError
from onnxkit.ir import DataType, SparseTensor, Tensor
from onnxkit.ir.serde import deserialize_tensor, serialize_tensor
from onnxkit.proto import TensorProto


def _sample(dt: DataType, shape, rng) -> np.ndarray:
    n = int(np.prod(shape))
    npdt = dt.numpy_dtype
    if dt == DataType.STRING:
        return np.array([f"s{i}".encode() for i in range(n)], dtype=object).reshape(shape)
    if dt.is_complex:
        return (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(npdt).reshape(shape)
    if dt == DataType.BOOL:
        return (rng.random(n) > 0.5).reshape(shape)
    if dt.is_integer:
        lo = 0 if not dt.is_signed else -(2 ** min(dt.bitwidth - 1, 7))
        hi = 2 ** min(dt.bitwidth - (1 if dt.is_signed else 0), 7)
        return rng.integers(lo, hi, n).astype(npdt).reshape(shape)
    vals = rng.standard_normal(n) * 2
    if dt == DataType.FLOAT8E8M0:
        vals = np.abs(vals) + 0.25
    return vals.astype(npdt).reshape(shape)


ALL_TYPES = [dt for dt in DataType if dt != DataType.UNDEFINED]


@pytest.mark.parametrize("dt", ALL_TYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("shape", [(), (0,), (1,), (3,), (2, 5), (7, 1, 3)])
def test_numpy_to_onnx_and_back(dt, shape):
    rng = np.random.default_rng(int(dt) * 31 + len(shape))
    a = _sample(dt, shape, rng)
    t = Tensor(a, name="t", dtype=dt)
    assert t.dtype == dt and t.shape == tuple(shape)
    proto_bytes = serialize_tensor(t).to_bytes()
    theirs = onnx.TensorProto.FromString(proto_bytes)
    ref = nh.to_array(theirs)
    assert ref.shape == a.shape
    if dt == DataType.STRING:
        assert ref.tolist() == [s.decode() for s in a.reshape(-1)] or \
            ref.reshape(-1).tolist() == [s.decode() for s in a.reshape(-1)]
    else:
        assert ref.dtype == a.dtype and ref.tobytes() == np.ascontiguousarray(a).tobytes()
    # and the other way: what onnx writes (raw and typed fields), onnxkit reads
    for raw in (True, False):
        if dt == DataType.STRING and raw:
            continue
        vals = a.reshape(-1)
        if dt == DataType.STRING:
            vals = list(vals)
        elif not dt.is_complex and not raw:
            vals = vals.tolist() if dt.bitwidth >= 8 or dt.is_integer else vals
        try:
            src = onnx.helper.make_tensor("t", int(dt), shape, vals, raw=False) if not raw else nh.from_array(a, "t")
        except Exception:  # onnx cannot build this combination itself
            continue
        ours = deserialize_tensor(TensorProto.from_bytes(src.SerializeToString())).numpy()
        expect = nh.to_array(src)
        assert ours.shape == expect.shape
        if dt == DataType.STRING:
            assert [s.decode() for s in ours.reshape(-1)] == list(expect.reshape(-1))
        else:
            assert ours.dtype == expect.dtype and ours.tobytes() == expect.tobytes()


def test_tensor_infers_dtype_from_numpy():
    assert Tensor(np.zeros(2, np.float16)).dtype == DataType.FLOAT16
    assert Tensor(np.array(["a", "b"])).dtype == DataType.STRING
    assert Tensor([1, 2]).dtype == DataType.INT64


def test_wrong_raw_size_is_a_clear_error():
    t = onnx.TensorProto(name="w", data_type=1, dims=[10**9, 10**9], raw_data=b"\0" * 8)
    pt = deserialize_tensor(TensorProto.from_bytes(t.SerializeToString()))
    with pytest.raises(DataSizeError, match="needs"):
        pt.numpy()
    t = onnx.TensorProto(name="w", data_type=1, dims=[3], float_data=[1.0])
    with pytest.raises(DataSizeError, match="float_data has 1 values"):
        deserialize_tensor(TensorProto.from_bytes(t.SerializeToString())).numpy()


def test_sparse_tensor_to_dense_matches_onnx():
    values = nh.from_array(np.array([1.5, -2.0, 3.0], np.float32), "sp")
    for indices, dims in ((np.array([0, 5, 11], np.int64), [3, 4]),
                          (np.array([[0, 0], [1, 1], [2, 3]], np.int64), [3, 4])):
        sp = onnx.helper.make_sparse_tensor(values, nh.from_array(indices, "i"), dims)
        g = onnx.helper.make_graph([], "g", [], [], sparse_initializer=[sp])
        m = onnxkit.load(onnx.helper.make_model(g).SerializeToString())
        s = m.graph.sparse_initializers[0]
        assert isinstance(s, SparseTensor) and s.name == "sp"
        dense = np.zeros(dims, np.float32)
        if indices.ndim == 1:
            dense.reshape(-1)[indices] = [1.5, -2.0, 3.0]
        else:
            dense[tuple(indices.T)] = [1.5, -2.0, 3.0]
        np.testing.assert_array_equal(s.to_dense(), dense)
