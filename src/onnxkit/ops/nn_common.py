"""Helpers shared by the neural-network families (conv, pool, resize...): the
padding and output-size arithmetic of convolution-like ops (numeric in the
kernels, symbolic in the shape rules), sliding windows, and float widening."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._shape import Dim, add, ceildiv, floordiv, mul, sub

__all__ = ["cast_back", "compute_dtype", "conv_pads", "interp_dtype", "conv_shape_dims", "pad_spatial", "pool_out_dim", "spatial_attrs",
           "windows"]

# floats narrower than float32: computed in float32, rounded back at the end (known by name:
# an ml_dtypes type can only be met once ml_dtypes is imported, so nothing here imports it)
_HALF_NAMES = frozenset({"float16", "bfloat16", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2",
                         "float8_e5m2fnuz", "float8_e8m0fnu", "float4_e2m1fn"})


def _half(dt: np.dtype) -> bool:
    return dt.kind in "fV" and dt.name in _HALF_NAMES


def compute_dtype(dt: Any) -> np.dtype:
    """The dtype to compute in: float32 for 16-bit and smaller floats, else the dtype."""
    dt = np.dtype(dt)
    return np.dtype(np.float32) if _half(dt) else dt


def interp_dtype(dt: Any) -> np.dtype:
    """The dtype to interpolate values of ``dt`` in (ops that mix values with
    real weights: Resize, GridSample): float32 for float32 and narrower
    floats, complex128 for complex, else float64 (exact for integers)."""
    dt = np.dtype(dt)
    if dt.kind == "c":
        return np.dtype(np.complex128)
    return np.dtype(np.float32) if dt == np.float32 or _half(dt) else np.dtype(np.float64)


def cast_back(y: np.ndarray, dt: Any) -> np.ndarray:
    """Interpolated values back to ``dt``: integers rounded (half to even) and
    saturated, booleans nonzero, floats rounded."""
    dt = np.dtype(dt)
    if y.dtype == dt:
        return y
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return np.clip(np.rint(y), info.min, info.max).astype(dt)
    if dt.kind == "b":
        return y != 0
    return y.astype(dt)


def spatial_attrs(nsp: int, kernel_shape: Sequence[int] | None, strides, dilations, pads
                  ) -> tuple[list[int], list[int], list[int], list[int]]:
    """Defaults filled in: (kernel, strides, dilations, pads of 2*nsp)."""
    k = list(kernel_shape) if kernel_shape is not None else []
    s = list(strides) if strides else [1] * nsp
    d = list(dilations) if dilations else [1] * nsp
    p = list(pads) if pads else [0] * (2 * nsp)
    return k, s, d, p


def conv_pads(in_sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
              dilations: Sequence[int], pads: Sequence[int], auto_pad: str,
              ceil_mode: int = 0) -> list[int]:
    """Begin/end pads (2*nsp) as the op uses them, resolving ``auto_pad``."""
    n = len(in_sizes)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out = []
        for i in range(n):
            eff = (kernel[i] - 1) * dilations[i] + 1
            o = -(-in_sizes[i] // strides[i])
            total = max(0, (o - 1) * strides[i] + eff - in_sizes[i])
            small, big = total // 2, total - total // 2
            out.append((small, big) if auto_pad == "SAME_UPPER" else (big, small))
        return [b for b, _ in out] + [e for _, e in out]
    if auto_pad == "VALID":
        return [0] * (2 * n)
    return list(pads)


def pool_out_dim(size: Dim, k: Dim, s: int, d: int, pb: int, pe: int, auto_pad: str = "NOTSET",
                 ceil_mode: int = 0) -> Dim:
    """Output length of one spatial axis of a conv/pool (int, Sym or None); the
    kernel size ``k`` may be symbolic (a Conv's weight shape)."""
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        return ceildiv(size, s)
    if not isinstance(k, int):
        if ceil_mode:
            return None
        eff = add(mul(sub(k, 1), d), 1)
        return add(floordiv(sub(add(size, 0 if auto_pad == "VALID" else pb + pe), eff), s), 1)
    eff = (k - 1) * d + 1
    if auto_pad == "VALID":
        pb = pe = 0
    span = sub(add(size, pb + pe), eff)
    out = add(ceildiv(span, s) if ceil_mode else floordiv(span, s), 1)
    if ceil_mode and isinstance(out, int) and isinstance(size, int) and (out - 1) * s >= size + pb:
        out -= 1            # the last window would start in the end padding
    elif ceil_mode and not isinstance(out, int) and pe + s > eff:
        return None         # symbolic: whether that happens depends on the size
    return out



def windows(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
            out: Sequence[int], fill: Any = 0) -> np.ndarray:
    """View (N, C, *out, *kernel) of the (already padded) ``x`` (N, C, *spatial);
    windows running past the end (ceil_mode) see ``fill`` there."""
    nsp = len(kernel)
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    need = [(o - 1) * s + e for o, s, e in zip(out, strides, eff)]
    if any(n > x.shape[2 + i] for i, n in enumerate(need)):
        extra = [(0, 0), (0, 0)] + [(0, max(0, n - x.shape[2 + i])) for i, n in enumerate(need)]
        x = np.pad(x, extra, constant_values=fill)
    x = x[(slice(None), slice(None)) + tuple(slice(0, n) for n in need)]
    v = sliding_window_view(x, eff, axis=tuple(range(2, 2 + nsp)))
    sl = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in strides) \
        + tuple(slice(None, None, d) for d in dilations)
    return v[sl]


def conv_shape_dims(ctx: Any, x_shape: Sequence[Dim], kernel: Sequence[int], *, ceil: bool = False
                    ) -> list[Dim]:
    """Spatial output dims of a conv/pool node from its attributes."""
    nsp = len(x_shape) - 2
    _, s, d, p = spatial_attrs(nsp, kernel, ctx.attr("strides"), ctx.attr("dilations"), ctx.attr("pads"))
    if len(s) != nsp or len(d) != nsp or len(p) != 2 * nsp:
        ctx.fail(f"strides {s}, dilations {d} and pads {p} must have {nsp}, {nsp} and {2 * nsp} values "
                 f"for an input with {nsp} spatial dims")
        return [None] * nsp
    if any(v <= 0 for v in s + d):
        ctx.fail(f"strides {s} and dilations {d} must be positive")
        return [None] * nsp
    auto_pad = ctx.attr("auto_pad", "NOTSET") or "NOTSET"
    ceil_mode = ctx.attr("ceil_mode", 0) if ceil else 0
    return [pool_out_dim(x_shape[2 + i], kernel[i], s[i], d[i], p[i], p[i + nsp], auto_pad, ceil_mode)
            for i in range(nsp)]


def pad_spatial(x: np.ndarray, pads: Sequence[int], value: Any = 0) -> np.ndarray:
    """``x`` padded on its spatial axes (begin pads then end pads); negative pads crop."""
    nsp = x.ndim - 2
    if not any(pads):
        return x
    if any(p < 0 for p in pads):
        sl = (slice(None), slice(None)) + tuple(
            slice(max(0, -pads[i]), x.shape[2 + i] - max(0, -pads[i + nsp])) for i in range(nsp))
        x = x[sl]
        pads = [max(0, p) for p in pads]
    width = [(0, 0), (0, 0)] + [(pads[i], pads[i + nsp]) for i in range(nsp)]
    return np.pad(x, width, constant_values=value)

