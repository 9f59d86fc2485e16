"""ONNX element types and the conversions between numpy arrays and the
TensorProto storage forms (``raw_data`` and the typed repeated fields).

Layouts (the spec's, always little-endian whatever the host):

* raw_data: elements back to back.  The 4-bit types go two per byte (element
  ``2k`` in the low nibble of byte ``k``), the 2-bit types four per byte
  (element ``4k + j`` in bits ``2j, 2j+1``), the 6-bit floats as one bit
  stream (element ``i`` in bits ``6i .. 6i+5``, least significant bit first;
  so four elements fill three bytes).  A partly used last byte is zero-padded
  and the byte count is exactly ``ceil(count * bits / 8)``.
* typed fields: FLOAT and COMPLEX64 in ``float_data`` (complex as real, imag
  pairs); DOUBLE and COMPLEX128 in ``double_data``; INT64 in ``int64_data``;
  UINT32 and UINT64 in ``uint64_data``; STRING in ``string_data``; every other
  type in ``int32_data``: the integer types and bool by value, float16,
  bfloat16, the float8 types and the 6-bit floats by bit pattern, one element
  per entry; the 4-bit and 2-bit types as their packed raw bytes, one byte per
  entry (two or four elements each).

Strings are kept as ``bytes`` (ONNX strings are arbitrary bytes, not
necessarily UTF-8): :func:`from_fields` returns an object array of ``bytes``.
"""

from __future__ import annotations

import enum
import operator
import sys
from typing import Any, Sequence

import numpy as np

from ..errors import DataSizeError, UnsupportedDataTypeError

__all__ = ["DataType", "element_count", "nbytes", "unpack_raw", "pack_raw", "from_fields",
           "to_fields", "field_of"]


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
        """The numpy dtype of one element (ml_dtypes for the non-numpy types,
        ``object`` for STRING); UNDEFINED has none."""
        try:
            return _NUMPY[self]
        except KeyError:
            if self in _ML_DTYPES:
                ml_dtypes()
                return _NUMPY[self]
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
        """The type a text-syntax name stands for (case-insensitive)."""
        try:
            return cls[name.upper()]
        except (KeyError, AttributeError):
            raise UnsupportedDataTypeError(f"unknown element type {name!r}") from None

    @classmethod
    def from_numpy(cls, dtype: Any) -> DataType:
        """The type of a numpy dtype; str, bytes and object dtypes give STRING."""
        dt = np.dtype(dtype)
        if dt.byteorder not in ("=", "|"):
            dt = dt.newbyteorder("=")
        found = _FROM_NUMPY.get(dt)
        if found is None and "ml_dtypes" in sys.modules:
            ml_dtypes()                 # a dtype of ml_dtypes: its types join the table
            found = _FROM_NUMPY.get(dt)
        if found is not None:
            return found
        if dt.kind in "OUS":
            return cls.STRING
        raise UnsupportedDataTypeError(f"numpy dtype {dt} has no ONNX element type")

    @property
    def is_floating(self) -> bool:
        """A real floating-point type (complex types are not)."""
        return self in _FLOATS

    @property
    def is_integer(self) -> bool:
        """An integer type, signed or not (BOOL is not)."""
        return self in _INTS

    @property
    def is_signed(self) -> bool:
        """Takes negative values (signed integers, real and complex floats)."""
        return self in _SIGNED

    @property
    def is_complex(self) -> bool:
        """COMPLEX64 or COMPLEX128."""
        return self in (DataType.COMPLEX64, DataType.COMPLEX128)

    @property
    def is_sub_byte(self) -> bool:
        """Fewer than 8 bits per element (the 2-, 4- and 6-bit types)."""
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
}
#: the types numpy lacks: (ml_dtypes name, bits in the raw layout).  ml_dtypes takes
#: about a second to import, so it is imported when one of them is first touched
_ML_DTYPES: dict[DataType, tuple[str, int]] = {
    DataType.BFLOAT16: ("bfloat16", 16), DataType.FLOAT8E4M3FN: ("float8_e4m3fn", 8),
    DataType.FLOAT8E4M3FNUZ: ("float8_e4m3fnuz", 8), DataType.FLOAT8E5M2: ("float8_e5m2", 8),
    DataType.FLOAT8E5M2FNUZ: ("float8_e5m2fnuz", 8), DataType.UINT4: ("uint4", 4),
    DataType.INT4: ("int4", 4), DataType.FLOAT4E2M1: ("float4_e2m1fn", 4),
    DataType.FLOAT8E8M0: ("float8_e8m0fnu", 8), DataType.UINT2: ("uint2", 2),
    DataType.INT2: ("int2", 2), DataType.FLOAT6E2M3: ("float6_e2m3fn", 6),
    DataType.FLOAT6E3M2: ("float6_e3m2fn", 6),
}
_FROM_NUMPY = {dt: k for k, dt in _NUMPY.items() if k != DataType.STRING}
_BITS: dict[DataType, int] = {k: 8 * dt.itemsize for k, dt in _NUMPY.items()
                              if k != DataType.STRING}
_BITS.update({k: bits for k, (_, bits) in _ML_DTYPES.items()})


def ml_dtypes():
    """The ``ml_dtypes`` module, imported on first use (its types then join the tables)."""
    import ml_dtypes as mod

    if DataType.BFLOAT16 not in _NUMPY:
        for k, (name, _) in _ML_DTYPES.items():
            _NUMPY[k] = np.dtype(getattr(mod, name))
            _FROM_NUMPY[_NUMPY[k]] = k
    return mod


_FLOAT8 = frozenset({DataType.FLOAT8E4M3FN, DataType.FLOAT8E4M3FNUZ, DataType.FLOAT8E5M2,
                     DataType.FLOAT8E5M2FNUZ})
_FLOATS = frozenset({DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16,
                     DataType.FLOAT4E2M1, DataType.FLOAT8E8M0, DataType.FLOAT6E2M3,
                     DataType.FLOAT6E3M2}) | _FLOAT8
_SIGNED_INTS = frozenset({DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64,
                          DataType.INT4, DataType.INT2})
# float8e8m0 has no sign bit
_SIGNED = (_SIGNED_INTS | _FLOATS | {DataType.COMPLEX64, DataType.COMPLEX128}) - {
    DataType.FLOAT8E8M0}
_INTS = _SIGNED_INTS | {DataType.UINT8, DataType.UINT16, DataType.UINT32, DataType.UINT64,
                        DataType.UINT4, DataType.UINT2}
# int32_data holds these by value; the other int32_data types by bit pattern
_BY_VALUE_INT32 = frozenset({DataType.INT32, DataType.INT16, DataType.INT8, DataType.UINT16,
                             DataType.UINT8, DataType.BOOL})
_UINT_OF_SIZE = {1: np.dtype(np.uint8), 2: np.dtype(np.uint16), 4: np.dtype(np.uint32),
                 8: np.dtype(np.uint64)}
_LITTLE = sys.byteorder == "little"


def _dt(data_type: int) -> DataType:
    try:
        return DataType(data_type)
    except ValueError:
        raise UnsupportedDataTypeError(f"unknown tensor element type {data_type}") from None


def element_count(dims: Sequence[int]) -> int:
    """Number of elements of a tensor of shape ``dims`` (1 for a scalar)."""
    n = 1
    for d in dims:
        d = operator.index(d)
        if d < 0:
            raise DataSizeError(f"negative dimension {d} in shape {list(dims)}")
        n *= d
    return n


def nbytes(data_type: int, dims: Sequence[int]) -> int:
    """Bytes the raw layout of a tensor of this type and shape takes (sub-byte
    types rounded up to whole bytes)."""
    dt = _dt(data_type)
    if dt.bitwidth == 0:
        raise UnsupportedDataTypeError(f"{dt.name} tensors have no raw layout")
    return -(-element_count(dims) * dt.bitwidth // 8)


def _raw_type(data_type: int) -> DataType:
    dt = _dt(data_type)
    if dt == DataType.STRING:
        raise UnsupportedDataTypeError("string tensors cannot use raw_data")
    if dt == DataType.UNDEFINED:
        raise UnsupportedDataTypeError("tensor has no element type (UNDEFINED)")
    return dt


# ---------------------------------------------------------------- byte order


def _swap_unit(npdt: np.dtype) -> int:
    """Size of the little-endian units of one element (complex: each half)."""
    return npdt.itemsize // 2 if npdt.kind == "c" else npdt.itemsize


def _from_le(buf: np.ndarray, npdt: np.dtype, little: bool = _LITTLE) -> np.ndarray:
    """Little-endian bytes (uint8 array) -> array of ``npdt`` in host order
    (a view on little-endian hosts, a copy otherwise)."""
    unit = _swap_unit(npdt)
    if little or unit == 1:
        return buf.view(npdt)
    return np.ascontiguousarray(buf.reshape(-1, unit)[:, ::-1]).reshape(-1).view(npdt)


def _to_le(a: np.ndarray, little: bool = _LITTLE) -> np.ndarray:
    """Contiguous host-order array -> its little-endian bytes as a 1-D uint8
    array (a view on little-endian hosts)."""
    b = a.reshape(-1).view(np.uint8)
    unit = _swap_unit(a.dtype)
    if little or unit == 1:
        return b
    return np.ascontiguousarray(b.reshape(-1, unit)[:, ::-1]).reshape(-1)


# ---------------------------------------------------------------- sub-byte packing


def _unpack_codes(buf: np.ndarray, bits: int, count: int) -> np.ndarray:
    """Packed bytes -> one uint8 code per element (value in the low bits)."""
    if bits == 6:
        stream = np.unpackbits(buf, bitorder="little")[: count * 6].reshape(count, 6)
        return np.packbits(stream, axis=1, bitorder="little").reshape(count)
    shifts = np.arange(0, 8, bits, dtype=np.uint8)
    codes = (buf[:, None] >> shifts) & np.uint8((1 << bits) - 1)
    return codes.reshape(-1)[:count]


def _pack_codes(codes: np.ndarray, bits: int) -> bytes:
    """One uint8 code per element -> packed bytes (zero-padded last byte)."""
    codes = codes.reshape(-1)
    if bits == 6:
        stream = np.unpackbits(codes[:, None], axis=1, bitorder="little")[:, :6]
        return np.packbits(stream.reshape(-1), bitorder="little").tobytes()
    per = 8 // bits
    pad = -codes.size % per
    if pad:
        codes = np.concatenate([codes, np.zeros(pad, np.uint8)])
    shifts = np.arange(0, 8, bits, dtype=np.uint8)
    return np.bitwise_or.reduce(codes.reshape(-1, per) << shifts, axis=1).astype(np.uint8).tobytes()


def _codes_to(codes: np.ndarray, dt: DataType) -> np.ndarray:
    """uint8 codes -> typed sub-byte array (ml_dtypes keeps one element per
    byte, the value in its low bits, so this is a view)."""
    return np.ascontiguousarray(codes, dtype=np.uint8).view(dt.numpy_dtype)


def _to_codes(a: np.ndarray, dt: DataType) -> np.ndarray:
    """Typed sub-byte array -> flat uint8 codes, high bits cleared."""
    a = np.ascontiguousarray(a, dtype=dt.numpy_dtype).reshape(-1)
    return a.view(np.uint8) & np.uint8((1 << dt.bitwidth) - 1)


# ---------------------------------------------------------------- value conversion


def _to_e8m0(x: np.ndarray) -> np.ndarray:
    """float8e8m0 keeps only an exponent: take float32's, round up when there
    is a fraction, saturate at the largest finite value, NaN/Inf -> NaN."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    exp = (bits >> np.uint32(23)) & np.uint32(0xFF)
    up = ((bits & np.uint32(0x7FFFFF)) != 0) & (exp < 0xFE)
    out = np.where(exp == 0xFF, np.uint32(0xFF), exp + up.astype(np.uint32))
    return out.astype(np.uint8).view(ml_dtypes().float8_e8m0fnu)


def _cast(array: Any, dt: DataType) -> np.ndarray:
    """``array`` as ``dt``'s numpy dtype, converting values as make_tensor
    does: float8 saturating (out of range -> largest finite, NaN stays NaN),
    float8e8m0 rounding up, every other type with numpy's ``astype``."""
    a = np.asarray(array)
    npdt = dt.numpy_dtype
    if a.dtype == npdt:
        return a
    if dt in _FLOAT8:
        info = ml_dtypes().finfo(npdt)
        return np.clip(a.astype(np.float64), float(info.min), float(info.max)).astype(npdt)
    if dt == DataType.FLOAT8E8M0:
        return _to_e8m0(a)
    return a.astype(npdt)


# ---------------------------------------------------------------- raw_data


def unpack_raw(data: Any, data_type: int, dims: Sequence[int]) -> np.ndarray:
    """The array of shape ``dims`` stored in ``raw_data`` bytes (any buffer).

    For byte-aligned types on little-endian hosts the result is a read-only
    view of ``data`` (zero-copy); sub-byte types are unpacked into a new array.
    Raises DataSizeError unless ``data`` has exactly :func:`nbytes` bytes.
    """
    dt = _raw_type(data_type)
    shape = tuple(operator.index(d) for d in dims)
    count = element_count(shape)
    need = nbytes(dt, shape)
    view = memoryview(data)
    size = view.nbytes
    if size != need:
        raise DataSizeError(
            f"raw_data has {size} bytes, but {dt.name}{list(shape)} needs {need} bytes")
    if view.ndim != 1 or view.itemsize != 1:
        view = view.cast("B")
    buf = np.frombuffer(view, dtype=np.uint8, count=need)
    if dt.bitwidth >= 8:
        arr = _from_le(buf, dt.numpy_dtype).reshape(shape)
        arr.flags.writeable = False
        return arr
    return _codes_to(_unpack_codes(buf, dt.bitwidth, count), dt).reshape(shape)


def pack_raw(array: Any, data_type: int) -> bytes | memoryview:
    """The ``raw_data`` bytes of ``array`` as a tensor of ``data_type``.

    Byte-aligned types give a memoryview over the (little-endian, contiguous)
    array, zero-copy where ``array`` already is one; sub-byte types give packed
    ``bytes``.  Values of another dtype are converted as :func:`to_fields` does.
    """
    dt = _raw_type(data_type)
    a = _cast(array, dt)
    if dt.is_sub_byte:
        return _pack_codes(_to_codes(a, dt), dt.bitwidth)
    if a.size == 0:
        return b""
    return memoryview(_to_le(np.ascontiguousarray(a)))


# ---------------------------------------------------------------- typed fields


def field_of(data_type: int) -> str:
    """The TensorProto field that holds the values of ``data_type`` when not raw."""
    dt = _dt(data_type)
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
    if dt == DataType.UNDEFINED:
        raise UnsupportedDataTypeError("tensor has no element type (UNDEFINED)")
    return "int32_data"


def _check_count(n: int, want: int, dt: DataType, dims: Sequence[int], field: str) -> None:
    if n != want:
        raise DataSizeError(f"{field} has {n} values, but {dt.name}{list(dims)} needs {want}")


def _as_bytes(s: Any) -> bytes:
    if isinstance(s, (bytes, bytearray, memoryview)):
        return bytes(s)
    if isinstance(s, str):
        return s.encode("utf-8")
    raise UnsupportedDataTypeError(
        f"string tensor elements must be bytes or str, not {type(s).__name__}")


def from_fields(data_type: int, dims: Sequence[int], *, float_data: Any = (),
                int32_data: Any = (), int64_data: Any = (), double_data: Any = (),
                uint64_data: Any = (), string_data: Any = ()) -> np.ndarray:
    """The array of shape ``dims`` stored in a TensorProto's typed fields
    (layouts in the module doc).  Only the field of ``data_type`` is read; its
    length must match ``dims`` exactly, else DataSizeError.  STRING gives an
    object array of ``bytes`` (``str`` inputs are UTF-8 encoded).  Bool entries
    are true when non-zero."""
    dt = _dt(data_type)
    field = field_of(dt)
    values = {"float_data": float_data, "int32_data": int32_data, "int64_data": int64_data,
              "double_data": double_data, "uint64_data": uint64_data,
              "string_data": string_data}[field]
    shape = tuple(operator.index(d) for d in dims)
    count = element_count(shape)
    n = len(values)
    if dt == DataType.STRING:
        _check_count(n, count, dt, shape, field)
        out = np.empty(count, dtype=object)
        for i, s in enumerate(values):
            out[i] = _as_bytes(s)
        return out.reshape(shape)
    if dt.is_complex:
        _check_count(n, 2 * count, dt, shape, field)
        part = np.float32 if dt == DataType.COMPLEX64 else np.float64
        return np.ascontiguousarray(values, dtype=part).view(dt.numpy_dtype).reshape(shape)
    if dt.is_sub_byte and dt.bitwidth != 6:
        _check_count(n, nbytes(dt, shape), dt, shape, field)
        packed = np.asarray(values, dtype=np.int64).astype(np.uint8)
        return _codes_to(_unpack_codes(packed, dt.bitwidth, count), dt).reshape(shape)
    _check_count(n, count, dt, shape, field)
    if field == "int32_data" and dt not in _BY_VALUE_INT32:
        # bit patterns, only the low bits of each entry count
        if dt.bitwidth == 6:
            codes = np.asarray(values, dtype=np.int64).astype(np.uint8) & np.uint8(0x3F)
            return _codes_to(codes, dt).reshape(shape)
        storage = _UINT_OF_SIZE[dt.numpy_dtype.itemsize]
        return np.asarray(values, dtype=np.int64).astype(storage).view(dt.numpy_dtype).reshape(shape)
    if dt == DataType.BOOL:
        return (np.asarray(values, dtype=np.int64) != 0).reshape(shape)
    source = {"float_data": np.float32, "double_data": np.float64, "int64_data": np.int64,
              "uint64_data": np.uint64, "int32_data": np.int64}[field]
    return np.asarray(values, dtype=source).astype(dt.numpy_dtype).reshape(shape)


def to_fields(array: Any, data_type: int) -> tuple[str, list]:
    """(field name, values) storing ``array`` in a TensorProto's typed fields,
    as ``onnx.helper.make_tensor(..., raw=False)`` stores it.  Values of another
    dtype are converted first (float8: saturating; float8e8m0: rounding up;
    others: numpy ``astype``)."""
    dt = _dt(data_type)
    field = field_of(dt)
    if dt == DataType.STRING:
        return field, [_as_bytes(s) for s in np.asarray(array, dtype=object).reshape(-1)]
    a = _cast(array, dt)
    if dt.is_complex:
        part = np.float32 if dt == DataType.COMPLEX64 else np.float64
        return field, np.ascontiguousarray(a).reshape(-1).view(part).tolist()
    if dt.is_sub_byte:
        codes = _to_codes(a, dt)
        if dt.bitwidth == 6:
            return field, codes.tolist()
        return field, list(_pack_codes(codes, dt.bitwidth))
    flat = np.ascontiguousarray(a).reshape(-1)
    if field == "int32_data" and dt not in _BY_VALUE_INT32:
        return field, flat.view(_UINT_OF_SIZE[flat.dtype.itemsize]).tolist()
    if dt == DataType.BOOL:
        return field, flat.astype(np.uint8).tolist()
    return field, flat.tolist()
