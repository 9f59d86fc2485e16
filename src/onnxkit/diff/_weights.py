"""Comparing two tensors as cheaply as the answer allows.

Equal bytes make equal tensors, so bytes are compared first, and before
bytes where the two tensors are provably the same bytes: the same object, the
same range of the same external-data file, or the same range of the same
memory-mapped model file (a model diffed against itself from one path).
Only tensors whose bytes differ are decoded, in chunks, to measure the
difference (max |a - b| and max |a - b| / max(|a|, |b|)).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import OnnxkitError
from ..ir import DataType, ExternalTensor, ProtoTensor, TensorBase

#: bytes compared per step (an early exit at the first differing chunk)
_CHUNK = 1 << 22
#: elements measured per step: float64 temporaries that stay in the cache
_STEP = 1 << 16


def dtype_name(dt: Any) -> str:
    if isinstance(dt, DataType):
        return {DataType.FLOAT: "float32", DataType.DOUBLE: "float64",
                DataType.FLOAT16: "float16"}.get(dt, dt.name.lower())
    return f"dtype{dt}"


def compare(ta: TensorBase, tb: TensorBase) -> dict[str, Any]:
    """{"status", "max_abs", "max_rel", "differing"} of two tensors (see the
    package docstring).  Tensors of other dtype or shape are not read."""
    if ta.dtype != tb.dtype or tuple(ta.shape) != tuple(tb.shape):
        return {"status": "shape", "max_abs": None, "max_rel": None, "differing": None}
    if same_storage(ta, tb) or _bytes_equal(ta, tb):
        return {"status": "same", "max_abs": 0.0, "max_rel": 0.0, "differing": 0}
    return {"status": "changed", **_difference(ta, tb)}


def tensors_equal(ta: TensorBase, tb: TensorBase) -> bool:
    return compare(ta, tb)["status"] == "same"


# ------------------------------------------------------------------ no reading


def same_storage(ta: TensorBase, tb: TensorBase) -> bool:
    """Whether the two tensors certainly hold the same bytes, decided without
    reading any: one object, or one byte range of one file."""
    if ta is tb:
        return True
    if isinstance(ta, ExternalTensor) and isinstance(tb, ExternalTensor):
        if ta.base_dir is None or tb.base_dir is None:
            return False
        if (ta.offset or 0) != (tb.offset or 0) or ta.length != tb.length:
            return False
        try:
            pa = os.path.join(ta.base_dir, ta.location)
            pb = os.path.join(tb.base_dir, tb.location)
            return os.path.samefile(pa, pb)
        except OSError:
            return False
    if isinstance(ta, ProtoTensor) and isinstance(tb, ProtoTensor):
        ra, rb = ta.proto.raw_data, tb.proto.raw_data
        if isinstance(ra, memoryview) and isinstance(rb, memoryview) and ra.nbytes == rb.nbytes:
            return ra.nbytes == 0 or _same_mapped_range(ra, rb)
    return False


def _same_mapped_range(ra: memoryview, rb: memoryview) -> bool:
    """Both views lie at one offset of maps of one unchanged file."""
    from .. import _io

    ma, mb = ra.obj, rb.obj
    mapped = getattr(_io, "_MAPPED", None)
    if mapped is None:
        return False
    try:
        ka, kb = mapped.get(ma), mapped.get(mb)
    except TypeError:       # not a mapping object
        return False
    if ka is None or ka != kb:
        return False
    try:
        oa = _address(ra) - _address(memoryview(ma))
        ob = _address(rb) - _address(memoryview(mb))
    except (TypeError, ValueError):
        return False
    return oa == ob


def _address(view: memoryview) -> int:
    if view.nbytes == 0:
        raise ValueError("empty")
    return np.frombuffer(view, dtype=np.uint8).__array_interface__["data"][0]


# ------------------------------------------------------------------ reading


def _raw(t: TensorBase):
    try:
        return t.raw_view()
    except OnnxkitError:
        if t.dtype == DataType.STRING:
            return None
        raise


def _bytes_equal(ta: TensorBase, tb: TensorBase) -> bool:
    ra, rb = _raw(ta), _raw(tb)
    if ra is None or rb is None:            # strings
        return bool(np.array_equal(ta.numpy(), tb.numpy()))
    a = np.frombuffer(ra, dtype=np.uint8)
    b = np.frombuffer(rb, dtype=np.uint8)
    if a.size != b.size:
        return False
    for s in range(0, a.size, _CHUNK):
        if not np.array_equal(a[s:s + _CHUNK], b[s:s + _CHUNK]):
            return False
    return True


def _difference(ta: TensorBase, tb: TensorBase) -> dict[str, Any]:
    a = ta.numpy().reshape(-1)
    b = tb.numpy().reshape(-1)
    if a.dtype.kind in "bOSU":              # bool, strings: how many differ, no magnitude
        differing = sum(int(np.count_nonzero(a[s:s + _CHUNK] != b[s:s + _CHUNK]))
                        for s in range(0, a.size, _CHUNK))
        return {"max_abs": None, "max_rel": None, "differing": differing}
    max_abs = max_rel = 0.0
    differing = 0
    for s in range(0, a.size, _STEP):
        x = _as_float(a[s:s + _STEP])
        y = _as_float(b[s:s + _STEP])
        with np.errstate(invalid="ignore", over="ignore"):
            d = np.abs(x - y)                   # inf - inf: NaN, handled below
        top = d.max() if d.size else 0.0
        if not np.isfinite(top):
            chunk_abs, chunk_rel, n = _nonfinite(x, y)
        else:
            n = int(np.count_nonzero(d))
            scale = np.maximum(np.abs(x), np.abs(y))
            np.divide(d, scale, out=d, where=scale > 0)     # 0 where both are 0 (d is 0 there)
            chunk_abs, chunk_rel = float(top), float(d.max()) if d.size else 0.0
        differing += n
        max_abs, max_rel = max(max_abs, chunk_abs), max(max_rel, chunk_rel)
    return {"max_abs": max_abs, "max_rel": max_rel, "differing": differing}


def _nonfinite(x: np.ndarray, y: np.ndarray) -> tuple[float, float, int]:
    """A chunk with NaN or infinities: NaN on both sides and equal infinities
    are equal; NaN on one side is an infinite difference."""
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.abs(x - y)
        d[(np.isnan(x) & np.isnan(y)) | (x == y)] = 0.0
        d[np.isnan(d)] = np.inf
        scale = np.maximum(np.abs(x), np.abs(y))
        r = np.divide(d, scale, out=np.zeros_like(d), where=scale > 0)
        r[np.isinf(d)] = np.inf
        r[np.isnan(r)] = np.inf
    return float(d.max()), float(r.max()), int(np.count_nonzero(d))


def _as_float(x: np.ndarray) -> np.ndarray:
    """float64 (complex128 for complex): ints, float16 and ml_dtypes' floats included."""
    return x.astype(np.complex128 if x.dtype.kind == "c" else np.float64)
