"""Signal processing: DFT, STFT, the Blackman / Hamming / Hann windows and
MelWeightMatrix.

Complex values travel as a trailing dimension of 2 (real, imaginary); a real
signal has a trailing dimension of 1.  Transforms run in numpy's FFT, in
single precision unless the input is float64, and are cast back to the
input's type.
"""

from __future__ import annotations

import numpy as np

from ..ir import DataType
from ._registry import kernel, shape
from ._shape import add, floordiv, mul, sub
from .cast import attr_datatype, cast_array


def _complex(x: np.ndarray) -> np.ndarray:
    """[..., 1] real or [..., 2] complex -> complex array without the last dim
    (complex128 for float64 input, else complex64: numpy's FFT keeps it)."""
    x = x.astype(np.float64 if x.dtype == np.float64 else np.float32)
    if x.shape[-1] == 1:
        return x[..., 0].astype(np.complex128 if x.dtype == np.float64 else np.complex64)
    if x.shape[-1] == 2:
        return x[..., 0] + 1j * x[..., 1]
    raise ValueError(f"the last dimension must be 1 (real) or 2 (complex), got shape {list(x.shape)}")


def _split(y: np.ndarray, like: np.ndarray) -> np.ndarray:
    """complex -> [..., 2] of ``like``'s dtype."""
    return cast_array(np.stack([y.real, y.imag], axis=-1), DataType.from_numpy(like.dtype))


def _dft(x: np.ndarray, length: int | None, axis: int, inverse: bool, onesided: bool) -> np.ndarray:
    r = x.ndim
    if not (-r <= axis <= -2 or 0 <= axis <= r - 2):
        raise ValueError(f"axis {axis} out of range for an input of rank {r} (the last dim holds "
                         "real/imaginary parts)")
    axis = axis % r
    c = _complex(x)
    if inverse and onesided:                      # IRFFT: one-sided spectrum -> real signal
        n = length if length is not None else 2 * (x.shape[axis] - 1)
        y = np.fft.irfft(c, n=n, axis=axis)
        return cast_array(y[..., None], DataType.from_numpy(x.dtype))
    n = length if length is not None else x.shape[axis]
    y = np.fft.ifft(c, n=n, axis=axis) if inverse else np.fft.fft(c, n=n, axis=axis)
    if onesided:
        y = np.take(y, np.arange(n // 2 + 1), axis=axis)
    return _split(y, x)


def _scalar(v: np.ndarray | None) -> int | None:
    return None if v is None else int(np.asarray(v).reshape(-1)[0])


@kernel("DFT", 17)
def dft_17(x, dft_length=None, *, axis=1, inverse=0, onesided=0):
    return _dft(x, _scalar(dft_length), axis, bool(inverse), bool(onesided))


@kernel("DFT", 20)
def dft_20(x, dft_length=None, axis=None, *, inverse=0, onesided=0):
    ax = _scalar(axis)
    return _dft(x, _scalar(dft_length), -2 if ax is None else ax, bool(inverse), bool(onesided))


@kernel("STFT", 17)
def stft(signal, frame_step, window=None, frame_length=None, *, onesided=1):
    step = _scalar(frame_step)
    length = _scalar(frame_length)
    if length is None:
        length = window.shape[0] if window is not None else signal.shape[1]
    if window is not None and window.shape[0] != length:
        raise ValueError(f"window has {window.shape[0]} elements, frame_length is {length}")
    if step is None or step <= 0:
        raise ValueError(f"frame_step must be positive, got {step}")
    c = _complex(signal)                                          # [batch, signal_length]
    frames = (c.shape[1] - length) // step + 1
    idx = np.arange(max(frames, 0))[:, None] * step + np.arange(length)
    framed = c[:, idx]                                            # [batch, frames, length]
    if window is not None:
        framed = framed * window.astype(framed.real.dtype)
    if onesided and signal.shape[-1] == 1:
        y = np.fft.rfft(framed.real, n=length, axis=-1)
    else:
        y = np.fft.fft(framed, n=length, axis=-1)
    return _split(y, signal)


# ---------------------------------------------------------------- windows
def _window(size, periodic: int, output_datatype: int, coefs: tuple[float, ...]) -> np.ndarray:
    n = _scalar(size)
    denom = n if periodic else n - 1
    with np.errstate(divide="ignore", invalid="ignore"):   # symmetric size 1: 0/0, NaN as in the spec's formula
        k = np.arange(n, dtype=np.float64) * (np.float64(2 * np.pi) / denom)
        w = sum(a * np.cos(j * k) for j, a in enumerate(coefs))
    return cast_array(w, DataType(output_datatype))


@kernel("HannWindow", 17)
def hann_window(size, *, periodic=1, output_datatype=1):
    return _window(size, periodic, output_datatype, (0.5, -0.5))


@kernel("HammingWindow", 17)
def hamming_window(size, *, periodic=1, output_datatype=1):
    return _window(size, periodic, output_datatype, (25 / 46, -21 / 46))


@kernel("BlackmanWindow", 17)
def blackman_window(size, *, periodic=1, output_datatype=1):
    return _window(size, periodic, output_datatype, (0.42, -0.5, 0.08))


@kernel("MelWeightMatrix", 17)
def mel_weight_matrix(num_mel_bins, dft_length, sample_rate, lower_edge_hertz, upper_edge_hertz, *,
                      output_datatype=1):
    """[dft_length // 2 + 1, num_mel_bins] triangular filters, each peaking at 1,
    spaced evenly on the mel scale mel(f) = 2595 log10(1 + f/700)."""
    bins, n_fft = _scalar(num_mel_bins), _scalar(dft_length)
    rate = float(sample_rate)
    lo_mel, hi_mel = (2595 * np.log10(1 + float(f) / 700) for f in (lower_edge_hertz, upper_edge_hertz))
    mels = lo_mel + np.arange(bins + 2) * ((hi_mel - lo_mel) / (bins + 2))
    hz = 700 * (10 ** (mels / 2595) - 1)
    edges = np.floor((n_fft + 1) * hz / rate).astype(np.int64)
    left, center, right = edges[:-2], edges[1:-1], edges[2:]
    j = np.arange(n_fft // 2 + 1)[:, None].astype(np.float64)
    rise = np.where(center > left, (j - left) / np.maximum(center - left, 1), (j == center))
    fall = (right - j) / np.maximum(right - center, 1)
    out = np.where((j >= left) & (j <= center), rise, 0.0)
    out = np.where((j > center) & (j < right), fall, out)
    return cast_array(out, DataType(output_datatype))


# ---------------------------------------------------------------- shape rules
def _const_int(ctx, i: int):
    """An int (or symbolic dim) input's scalar value, or None."""
    if not ctx.has_input(i):
        return None
    dims = ctx.input_dims(i)
    if dims is not None and len(dims) == 1:
        return dims[0]
    v = ctx.input_value(i)
    return None if v is None or np.size(v) != 1 else int(np.asarray(v).reshape(-1)[0])


def _dft_rule(ctx, axis) -> None:
    s = ctx.input_shape(0)
    dt = ctx.input_dtype(0)
    inverse, onesided = ctx.attr("inverse", 0), ctx.attr("onesided", 0)
    last = 1 if inverse and onesided else 2
    if s is None or axis is None:       # axis unknown: only a full-length DFT keeps every dim
        same = not onesided and not ctx.has_input(1)
        ctx.set_output(0, dt, None if s is None else
                       (*(s[:-1] if same else (None,) * (len(s) - 1)), last))
        return
    r = len(s)
    if not (-r <= axis <= -2 or 0 <= axis <= r - 2):
        ctx.fail(f"axis {axis} out of range for an input of rank {r}")
        return
    axis %= r
    n = _const_int(ctx, 1)
    unknown_len = ctx.has_input(1) and n is None
    out = list(s)
    if inverse and onesided:
        out[axis] = None if unknown_len else (n if n is not None else mul(2, sub(s[axis], 1)))
        out[-1] = 1
    else:
        n = None if unknown_len else (n if n is not None else s[axis])
        out[axis] = add(1, floordiv(n, 2)) if onesided else n
        out[-1] = 2
    ctx.set_output(0, dt, out)


@shape("DFT", 17)
def dft_17_shape(ctx) -> None:
    _dft_rule(ctx, ctx.attr("axis", 1))


@shape("DFT", 20)
def dft_20_shape(ctx) -> None:
    _dft_rule(ctx, _const_int(ctx, 2) if ctx.has_input(2) else -2)


@shape("STFT", 17)
def stft_shape(ctx) -> None:
    s = ctx.input_shape(0)
    if s is not None and len(s) != 3:
        ctx.fail(f"signal must be [batch, length, 1 or 2], has rank {len(s)}")
        return
    batch, sig_len, comp = (None, None, None) if s is None else s
    length = _const_int(ctx, 3)
    if length is None and not ctx.has_input(3):
        w = ctx.input_shape(2) if ctx.has_input(2) else None
        length = w[0] if w else (sig_len if not ctx.has_input(2) else None)
    step = _const_int(ctx, 1)
    frames = None
    if isinstance(step, int) and step > 0 and length is not None:
        frames = add(1, floordiv(sub(sig_len, length), step))
    bins = length
    if ctx.attr("onesided", 1):
        bins = add(1, floordiv(length, 2)) if comp == 1 else (None if comp is None else length)
    ctx.set_output(0, ctx.input_dtype(0), (batch, frames, bins, 2))


def _window_shape(ctx) -> None:
    ctx.set_output(0, attr_datatype(ctx, "output_datatype", 1), (_const_int(ctx, 0),))


for _op in ("HannWindow", "HammingWindow", "BlackmanWindow"):
    shape(_op, 17)(_window_shape)


@shape("MelWeightMatrix", 17)
def mel_weight_matrix_shape(ctx) -> None:
    n_fft = _const_int(ctx, 1)
    ctx.set_output(0, attr_datatype(ctx, "output_datatype", 1),
                   (add(1, floordiv(n_fft, 2)), _const_int(ctx, 0)))

