"""Cast, CastLike and BitCast: conversions between every element type.

Numeric conversions follow numpy / ml_dtypes (``astype``) except where the
spec says otherwise: float8 targets saturate to the largest finite value
unless ``saturate=0``; float8e8m0 targets keep an exponent only, rounded as
``round_mode`` says.  Strings are parsed as Python number literals ("1e-5",
"+INF", "nan", case-insensitive) and numbers print in numpy's shortest
round-trip form ("0.47892547", "inf").  String tensors are object arrays;
outputs hold ``str``, inputs may hold ``str`` or ``bytes``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ir import DataType
from ..ir._dtypes import ml_dtypes
from ._registry import kernel, shape

__all__ = ["as_strings", "attr_datatype", "cast_array", "to_datatype"]

_FLOAT8 = frozenset({DataType.FLOAT8E4M3FN, DataType.FLOAT8E4M3FNUZ, DataType.FLOAT8E5M2,
                     DataType.FLOAT8E5M2FNUZ})


def to_datatype(to: Any) -> DataType:
    """The DataType of a ``to`` attribute (int, or the type's name in Cast-1)."""
    if isinstance(to, (str, bytes)):
        name = to.decode() if isinstance(to, bytes) else to
        return DataType[name.upper()]
    return DataType(int(to))


def attr_datatype(ctx, name: str, default: int = 0) -> DataType | None:
    """For shape rules: the element type an attribute names (``default`` when
    unset; None for 0), failing the node when it names none."""
    value = ctx.attr(name, default)
    if not value:
        return None
    try:
        return to_datatype(value)
    except (KeyError, ValueError, TypeError):
        ctx.fail(f"attribute {name!r} = {value!r} is not an element type")
        return None


def as_strings(x: np.ndarray) -> np.ndarray:
    """An object array of ``str`` (``bytes`` elements decoded as UTF-8)."""
    out = np.empty(x.shape, dtype=object)
    flat = out.reshape(-1)
    for i, s in enumerate(np.asarray(x, dtype=object).reshape(-1)):
        flat[i] = s.decode("utf-8", "replace") if isinstance(s, (bytes, bytearray)) else str(s)
    return out


def _to_e8m0(x: np.ndarray, saturate: bool, round_mode: str) -> np.ndarray:
    """float8e8m0 (a bare exponent) from float32's exponent, rounded up (any
    fraction), down (truncated) or to nearest (ties up).  Saturating keeps
    results at the largest finite code 0xFE (Inf included); otherwise values
    rounding past it and Inf become NaN (0xFF).  NaN stays NaN."""
    with np.errstate(over="ignore", invalid="ignore"):
        bits = np.asarray(x, dtype=np.float32).copy().view(np.uint32)
    exp = ((bits >> np.uint32(23)) & np.uint32(0xFF)).astype(np.uint16)
    frac = bits & np.uint32(0x7FFFFF)
    special = exp == 0xFF
    if round_mode == "up":
        up = frac != 0
    elif round_mode == "down":
        up = np.zeros(exp.shape, bool)
    elif round_mode == "nearest":
        half = (frac & np.uint32(0x400000)) != 0
        up = half & (((frac & np.uint32(0x3FFFFF)) != 0) | (exp > 0))
    else:
        raise ValueError(f"round_mode must be 'up', 'down' or 'nearest', not {round_mode!r}")
    exp = exp + (up & ~special)
    if saturate:
        exp = np.minimum(exp, 0xFE)
        exp = np.where(special & (frac == 0), 0xFE, exp)      # +-Inf -> largest
    exp = np.where(special & (frac != 0), 0xFF, exp)           # NaN stays NaN
    return np.minimum(exp, 0xFF).astype(np.uint8).view(ml_dtypes().float8_e8m0fnu)


def _parse_strings(x: np.ndarray, to: DataType) -> np.ndarray:
    s = as_strings(x).astype(str)
    npdt = to.numpy_dtype
    if to == DataType.BOOL:
        low = np.char.lower(np.char.strip(s))
        named = (low == "true") | (low == "false")
        num = np.where(named, "0", s).astype(np.float64)
        return np.where(named, low == "true", num != 0)
    if to.is_integer and npdt.kind in "iu":
        try:
            return s.astype(npdt)
        except (ValueError, OverflowError):       # "100.5" -> 100 (the spec allows it)
            return np.array([_parse_int(v) for v in s.reshape(-1)], dtype=npdt).reshape(s.shape)
    return _numeric(s.astype(np.float64), to, True, "up")


def _native(x: np.ndarray) -> np.ndarray:
    """An ml_dtypes array as the numpy type that holds its values exactly
    (numpy converts between those and every other type; ml_dtypes not always)."""
    if x.dtype.kind != "V":
        return x
    dt = DataType.from_numpy(x.dtype)
    if dt.is_integer:
        return x.astype(np.int8 if dt.is_signed else np.uint8)
    return x.astype(np.float32)


def _parse_int(s: str) -> int:
    try:
        return int(s)
    except ValueError:
        return int(float(s))


def _format(x: np.ndarray) -> np.ndarray:
    return _native(x).astype(str).astype(object)


def _numeric(x: np.ndarray, to: DataType, saturate: bool, round_mode: str) -> np.ndarray:
    npdt = to.numpy_dtype
    if x.dtype == npdt:
        return x.copy()
    x = _native(x)
    if to in _FLOAT8:
        if saturate and x.dtype.kind in "fiu":
            info = ml_dtypes().finfo(npdt)
            wide = np.float32 if x.dtype.kind == "f" and x.dtype.itemsize <= 4 else np.float64
            x = np.clip(x.astype(wide), float(info.min), float(info.max))
        return x.astype(npdt)
    if to == DataType.FLOAT8E8M0:
        return _to_e8m0(x, saturate, round_mode)
    if to == DataType.BOOL:
        return x != 0
    with np.errstate(invalid="ignore", over="ignore"):
        return x.astype(npdt)


def cast_array(x: np.ndarray, to: DataType, saturate: bool = True,
               round_mode: str = "up") -> np.ndarray:
    """``x`` converted to element type ``to`` as Cast does."""
    x = np.asarray(x)
    src_string = x.dtype.kind in "OUS"
    if to == DataType.STRING:
        return as_strings(x) if src_string else _format(x)
    if src_string:
        return _parse_strings(x, to)
    return _numeric(x, to, bool(saturate), round_mode)


@kernel("Cast", 1)
def cast(x, *, to, saturate=1, round_mode="up"):
    return cast_array(x, to_datatype(to), saturate, round_mode)


@kernel("CastLike", 15)
def cast_like(x, target_type, *, saturate=1, round_mode="up"):
    return cast_array(x, DataType.from_numpy(target_type.dtype), saturate, round_mode)


@kernel("BitCast", 26)
def bit_cast(x, *, to):
    dt = to_datatype(to)
    src = DataType.from_numpy(x.dtype)
    if src.bitwidth != dt.bitwidth or dt == DataType.STRING:
        raise ValueError(f"BitCast from {src.name} ({src.bitwidth} bits) to {dt.name} "
                         f"({dt.bitwidth} bits): the bit widths must be equal")
    x = x if x.flags.c_contiguous else x.copy()
    if dt == DataType.BOOL:
        return x.view(np.uint8) != 0
    if dt.is_sub_byte:        # ml_dtypes keeps one element per byte, value in the low bits
        return (x.view(np.uint8) & np.uint8((1 << dt.bitwidth) - 1)).view(dt.numpy_dtype)
    return x.view(dt.numpy_dtype)


# ---------------------------------------------------------------- shape rules
def _cast_rule(ctx, dt: DataType | None) -> None:
    ctx.set_output(0, dt, ctx.input_shape(0))
    src = ctx.input_dtype(0)
    if dt is not None and src is not None and dt.is_integer and DataType(src).is_integer:
        dims = ctx.input_dims(0)
        info = (ml_dtypes().iinfo if dt.is_sub_byte else np.iinfo)(dt.numpy_dtype)  # ml_dtypes' import costs ~1 s
        if dims is not None and all(not isinstance(d, int) or info.min <= d <= info.max for d in dims):
            ctx.set_output_dims(0, dims)         # shape arithmetic cast to another integer type


@shape("Cast", 1)
def cast_shape(ctx) -> None:
    _cast_rule(ctx, attr_datatype(ctx, "to"))


@shape("CastLike", 15)
def cast_like_shape(ctx) -> None:
    _cast_rule(ctx, ctx.input_dtype(1))


@shape("BitCast", 26)
def bit_cast_shape(ctx) -> None:
    dt = attr_datatype(ctx, "to")
    src = ctx.input_dtype(0)
    if dt is not None and src is not None and DataType(src).bitwidth != dt.bitwidth:
        ctx.fail(f"BitCast from {DataType(src).name} to {dt.name}: bit widths differ")
        return
    ctx.set_output(0, dt, ctx.input_shape(0))
