"""ONNX element types and the conversions between numpy arrays and the
TensorProto storage forms (``raw_data`` and the typed repeated fields).

Layouts (the spec's facts, always little-endian):

* raw_data: elements back to back; 4-bit types two per byte (low nibble
  first), 2-bit types four per byte (lowest bits first), 6-bit floats as one
  bit stream (element ``i`` in bits ``6i .. 6i+5``, least significant first).
* typed fields: FLOAT and COMPLEX64 in ``float_data`` (complex as real, imag
  pairs); DOUBLE and COMPLEX128 in ``double_data``; INT64 in ``int64_data``;
  UINT32 and UINT64 in ``uint64_data``; STRING in ``string_data``; every other
  type in ``int32_data``: integers and bool by value, float16/bfloat16/float8
  and the 6-bit floats by bit pattern one element per entry, and the 4-bit and
  2-bit types as packed bytes (two or four elements per entry).
"""

from __future__ import annotations

import enum
import sys
from typing import Any, Sequence

import ml_dtypes
import numpy as np

from ..errors import DataSizeError, UnsupportedDataTypeError


class DataType(enum.IntEnum):
    """TensorProto.DataType: the spec's names and numbers."""

    UNDEFINED = 0
    FLOAT = 1
    UINT8 = 2
    INT8 = 3
    UINT16 = 4
    INT16 = 5
    INT32 = 6
    INT64 = 7
    STRING = 8
    BOOL = 9
    FLOAT16 = 10
    DOUBLE = 11
    UINT32 = 12
    UINT64 = 13
    COMPLEX64 = 14
    COMPLEX128 = 15
    BFLOAT16 = 16
    FLOAT8E4M3FN = 17
    FLOAT8E4M3FNUZ = 18
    FLOAT8E5M2 = 19
    FLOAT8E5M2FNUZ = 20
    UINT4 = 21
    INT4 = 22
    FLOAT4E2M1 = 23
    FLOAT8E8M0 = 24
    UINT2 = 25
    INT2 = 26
    FLOAT6E2M3 = 27
    FLOAT6E3M2 = 28

    @property
    def numpy_dtype(self) -> np.dtype:
        try:
            return _NUMPY[self]
        except KeyError:
            raise UnsupportedDataTypeError(f"{self.name} has no numpy dtype") from None

    @property
    def bitwidth(self) -> int:
        """Bits per element in the raw layout (0 for STRING and UNDEFINED)."""
        return _BITS.get(self, 0)

    @property
    def itemsize(self) -> float:
        """Bytes per element in the raw layout (fractional for sub-byte types)."""
        return self.bitwidth / 8

    @property
    def short_name(self) -> str:
        """The name the ONNX text syntax uses (``float``, ``int64``, ``float8e4m3fn`` ...)."""
        return self.name.lower()

    @classmethod
    def from_short_name(cls, name: str) -> DataType:
        try:
            return cls[name.upper()]
        except KeyError:
            raise UnsupportedDataTypeError(f"unknown element type {name!r}") from None

    @classmethod
    def from_numpy(cls, dtype: Any) -> DataType:
        dt = np.dtype(dtype)
        found = _FROM_NUMPY.get(dt)
        if found is None:
            if dt.kind in "OUS":
                return cls.STRING
            raise UnsupportedDataTypeError(f"numpy dtype {dt} has no ONNX element type")
        return found

    @property
    def is_floating(self) -> bool:
        return self in _FLOATS

    @property
    def is_integer(self) -> bool:
        return self in _INTS

    @property
    def is_signed(self) -> bool:
        return self in _SIGNED

    @property
    def is_complex(self) -> bool:
        return self in (DataType.COMPLEX64, DataType.COMPLEX128)

    @property
    def is_sub_byte(self) -> bool:
        return 0 < self.bitwidth < 8


_NUMPY: dict[DataType, np.dtype] = {
    DataType.FLOAT: np.dtype(np.float32), DataType.UINT8: np.dtype(np.uint8),
    DataType.INT8: np.dtype(np.int8), DataType.UINT16: np.dtype(np.uint16),
    DataType.INT16: np.dtype(np.int16), DataType.INT32: np.dtype(np.int32),
    DataType.INT64: np.dtype(np.int64), DataType.STRING: np.dtype(object),
    DataType.BOOL: np.dtype(np.bool_), DataType.FLOAT16: np.dtype(np.float16),
    DataType.DOUBLE: np.dtype(np.float64), DataType.UINT32: np.dtype(np.uint32),
    DataType.UINT64: np.dtype(np.uint64), DataType.COMPLEX64: np.dtype(np.complex64),
    DataType.COMPLEX128: np.dtype(np.complex128),
    DataType.BFLOAT16: np.dtype(ml_dtypes.bfloat16),
    DataType.FLOAT8E4M3FN: np.dtype(ml_dtypes.float8_e4m3fn),
    DataType.FLOAT8E4M3FNUZ: np.dtype(ml_dtypes.float8_e4m3fnuz),
    DataType.FLOAT8E5M2: np.dtype(ml_dtypes.float8_e5m2),
    DataType.FLOAT8E5M2FNUZ: np.dtype(ml_dtypes.float8_e5m2fnuz),
    DataType.UINT4: np.dtype(ml_dtypes.uint4), DataType.INT4: np.dtype(ml_dtypes.int4),
    DataType.FLOAT4E2M1: np.dtype(ml_dtypes.float4_e2m1fn),
    DataType.FLOAT8E8M0: np.dtype(ml_dtypes.float8_e8m0fnu),
    DataType.UINT2: np.dtype(ml_dtypes.uint2), DataType.INT2: np.dtype(ml_dtypes.int2),
    DataType.FLOAT6E2M3: np.dtype(ml_dtypes.float6_e2m3fn),
    DataType.FLOAT6E3M2: np.dtype(ml_dtypes.float6_e3m2fn),
}
_FROM_NUMPY = {dt: k for k, dt in _NUMPY.items() if k != DataType.STRING}
_BITS = {k: 8 * dt.itemsize for k, dt in _NUMPY.items() if k != DataType.STRING}
_BITS.update({DataType.UINT4: 4, DataType.INT4: 4, DataType.FLOAT4E2M1: 4,
              DataType.UINT2: 2, DataType.INT2: 2, DataType.FLOAT6E2M3: 6, DataType.FLOAT6E3M2: 6})
_FLOATS = {DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16,
           DataType.FLOAT8E4M3FN, DataType.FLOAT8E4M3FNUZ, DataType.FLOAT8E5M2,
           DataType.FLOAT8E5M2FNUZ, DataType.FLOAT4E2M1, DataType.FLOAT8E8M0,
           DataType.FLOAT6E2M3, DataType.FLOAT6E3M2}
_SIGNED = {DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64, DataType.INT4, DataType.INT2}
_INTS = _SIGNED | {DataType.UINT8, DataType.UINT16, DataType.UINT32, DataType.UINT64,
                   DataType.UINT4, DataType.UINT2}
# storage dtype of the bit patterns (same width unsigned integers)
_BITS_DTYPE = {8: np.uint8, 16: np.uint16, 32: np.uint32, 64: np.uint64}
_LITTLE = sys.byteorder == "little"


def element_count(dims: Sequence[int]) -> int:
    n = 1
    for d in dims:
        if d < 0:
            raise DataSizeError(f"negative dim in shape {list(dims)}")
        n *= int(d)
    return n


def nbytes(data_type: int, dims: Sequence[int]) -> int:
    """Bytes the raw layout of a tensor of this type and shape takes."""
    dt = _dt(data_type)
    bits = dt.bitwidth
    if bits == 0:
        raise UnsupportedDataTypeError(f"{dt.name} tensors have no raw layout")
    return (element_count(dims) * bits + 7) // 8


def _dt(data_type: int) -> DataType:
    try:
        return DataType(data_type)
    except ValueError:
        raise UnsupportedDataTypeError(f"unknown tensor element type {data_type}") from None


def _storage(dt: DataType) -> np.dtype:
    """Unsigned integer dtype holding one element's bits (for the sub-byte types: uint8)."""
    return np.dtype(_BITS_DTYPE[max(8, dt.bitwidth if dt.bitwidth >= 8 else 8)])


# ---------------------------------------------------------------- raw_data


def unpack_raw(data: Any, data_type: int, dims: Sequence[int]) -> np.ndarray:
    """The array stored in ``raw_data`` bytes (zero-copy and read-only where the layout allows)."""
    dt = _dt(data_type)
    if dt == DataType.STRING:
        raise UnsupportedDataTypeError("string tensors cannot use raw_data")
    if dt == DataType.UNDEFINED:
        raise UnsupportedDataTypeError("tensor has no element type (UNDEFINED)")
    count = element_count(dims)
    need = nbytes(dt, dims)
    size = len(data) if not isinstance(data, memoryview) else data.nbytes
    if size != need:
        raise DataSizeError(f"raw_data has {size} bytes, but {dt.name}{list(dims)} needs {need}")
    buf = np.frombuffer(data, dtype=np.uint8, count=need)
    bits = dt.bitwidth
    npdt = dt.numpy_dtype
    if bits >= 8:
        arr = buf.view(npdt if _LITTLE else npdt.newbyteorder("<"))
        if not _LITTLE:  # pragma: no cover - big-endian hosts
            arr = arr.astype(npdt)
        return arr.reshape(tuple(dims))
    if bits == 6:
        codes = _unpack_bits6(buf, count)
    else:
        per = 8 // bits
        mask = (1 << bits) - 1
        shifts = np.arange(per, dtype=np.uint8) * bits
        codes = ((buf[:, None] >> shifts) & mask).reshape(-1)[:count].astype(np.uint8)
    return _codes_to(codes, dt).reshape(tuple(dims))


def _codes_to(codes: np.ndarray, dt: DataType) -> np.ndarray:
    """Sub-byte codes (uint8, one per element, value in the low bits) -> typed array.
    ml_dtypes keeps sub-byte values as their low bits, so this is a view."""
    return np.ascontiguousarray(codes, dtype=np.uint8).view(dt.numpy_dtype)


def _to_codes(arr: np.ndarray, dt: DataType) -> np.ndarray:
    """Typed sub-byte array -> uint8 codes (value in the low bits)."""
    a = np.ascontiguousarray(arr, dtype=dt.numpy_dtype).reshape(-1)
    return a.view(np.uint8) & ((1 << dt.bitwidth) - 1)


def _unpack_bits6(buf: np.ndarray, count: int) -> np.ndarray:
    bits = np.unpackbits(buf, bitorder="little")[: count * 6].reshape(count, 6)
    return np.packbits(bits, axis=1, bitorder="little").reshape(-1)


def _pack_bits6(codes: np.ndarray) -> bytes:
    bits = np.unpackbits(codes.reshape(-1, 1), axis=1, bitorder="little")[:, :6]
    return np.packbits(bits.reshape(-1), bitorder="little").tobytes()


def pack_raw(array: np.ndarray, data_type: int) -> bytes | memoryview:
    """The ``raw_data`` bytes of ``array`` as a tensor of ``data_type``."""
    dt = _dt(data_type)
    if dt == DataType.STRING:
        raise UnsupportedDataTypeError("string tensors cannot use raw_data")
    bits = dt.bitwidth
    if bits >= 8:
        a = np.asarray(array)
        if a.dtype != dt.numpy_dtype:
            a = a.astype(dt.numpy_dtype)
        if not _LITTLE:  # pragma: no cover
            a = a.astype(a.dtype.newbyteorder("<"))
        a = np.ascontiguousarray(a)
        return memoryview(a.reshape(-1).view(np.uint8)) if a.size else b""
    codes = _to_codes(np.asarray(array), dt)
    if bits == 6:
        return _pack_bits6(codes)
    per = 8 // bits
    pad = -codes.size % per
    if pad:
        codes = np.concatenate([codes, np.zeros(pad, np.uint8)])
    shifts = np.arange(per, dtype=np.uint8) * bits
    return np.bitwise_or.reduce(codes.reshape(-1, per) << shifts, axis=1).astype(np.uint8).tobytes()


# ---------------------------------------------------------------- typed fields


def _field_of(dt: DataType) -> str:
    if dt in (DataType.FLOAT, DataType.COMPLEX64):
        return "float_data"
    if dt in (DataType.DOUBLE, DataType.COMPLEX128):
        return "double_data"
    if dt == DataType.INT64:
        return "int64_data"
    if dt in (DataType.UINT32, DataType.UINT64):
        return "uint64_data"
    if dt == DataType.STRING:
        return "string_data"
    return "int32_data"


def from_fields(data_type: int, dims: Sequence[int], *, float_data: Any = (),
                int32_data: Any = (), int64_data: Any = (), double_data: Any = (),
                uint64_data: Any = (), string_data: Any = ()) -> np.ndarray:
    """The array stored in the typed fields of a TensorProto (see the module doc)."""
    dt = _dt(data_type)
    if dt == DataType.UNDEFINED:
        raise UnsupportedDataTypeError("tensor has no element type (UNDEFINED)")
    count = element_count(dims)
    field = _field_of(dt)
    values = {"float_data": float_data, "int32_data": int32_data, "int64_data": int64_data,
              "double_data": double_data, "uint64_data": uint64_data,
              "string_data": string_data}[field]
    n = len(values)
    shape = tuple(dims)
    if dt == DataType.STRING:
        _check_count(n, count, dt, dims, field)
        out = np.empty(count, dtype=object)
        out[:] = [bytes(s) for s in values]
        return out.reshape(shape)
    if dt.is_complex:
        _check_count(n, 2 * count, dt, dims, field)
        base = np.float32 if dt == DataType.COMPLEX64 else np.float64
        return np.asarray(values, dtype=base).view(dt.numpy_dtype).reshape(shape)
    if dt.is_sub_byte and dt.bitwidth != 6:
        per = 8 // dt.bitwidth
        _check_count(n, -(-count // per), dt, dims, field)
        packed = np.asarray(values, dtype=np.int64).astype(np.uint8)
        return unpack_raw(packed.tobytes(), dt, dims)
    _check_count(n, count, dt, dims, field)
    if field == "int32_data" and dt not in (DataType.INT32, DataType.INT16, DataType.INT8,
                                            DataType.UINT16, DataType.UINT8, DataType.BOOL):
        # bit patterns of float16 / bfloat16 / float8 / float6 types
        codes = np.asarray(values, dtype=np.int64).astype(_storage(dt))
        if dt.bitwidth == 6:
            return _codes_to(codes.astype(np.uint8) & 0x3F, dt).reshape(shape)
        return codes.view(dt.numpy_dtype).reshape(shape)
    src = {"float_data": np.float32, "double_data": np.float64, "int64_data": np.int64,
           "uint64_data": np.uint64, "int32_data": np.int64}[field]
    return np.asarray(values, dtype=src).astype(dt.numpy_dtype).reshape(shape)


def _check_count(n: int, want: int, dt: DataType, dims, field: str) -> None:
    if n != want:
        raise DataSizeError(f"{field} has {n} values, but {dt.name}{list(dims)} needs {want}")


def to_fields(array: np.ndarray, data_type: int) -> tuple[str, list]:
    """(field name, values) that store ``array`` in a TensorProto's typed fields."""
    dt = _dt(data_type)
    field = _field_of(dt)
    a = np.asarray(array)
    if dt == DataType.STRING:
        return field, [s if isinstance(s, bytes) else str(s).encode("utf-8") for s in a.reshape(-1)]
    if dt.is_complex:
        base = np.float32 if dt == DataType.COMPLEX64 else np.float64
        return field, np.ascontiguousarray(a, dtype=dt.numpy_dtype).reshape(-1).view(base).tolist()
    if dt.is_sub_byte and dt.bitwidth != 6:
        return field, list(pack_raw(a, dt))
    a = a.astype(dt.numpy_dtype).reshape(-1)
    if field == "int32_data" and dt not in (DataType.INT32, DataType.INT16, DataType.INT8,
                                            DataType.UINT16, DataType.UINT8, DataType.BOOL):
        if dt.bitwidth == 6:
            return field, _to_codes(a, dt).astype(np.int64).tolist()
        return field, a.view(_storage(dt)).astype(np.int64).tolist()
    if dt == DataType.BOOL:
        return field, a.astype(np.int64).tolist()
    return field, a.tolist()

