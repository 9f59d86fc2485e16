"""Would a compiled depthwise kernel pay?  The measurement behind the README's
"MobileNetV2" paragraph, kept so it can be rerun.

numba is *not* an onnxkit dependency; this script needs ``pip install numba``.
It compares, on MobileNetV2's depthwise 3x3 layers (channels last, as
``NhwcConv`` sees them):

* onnxkit's kernel: ``einsum`` over a strided window view of the padded input;
* a numba kernel, one thread (``parallel=False``), bias and ReLU6 fused;
* the same with ``parallel=True`` (numba's own thread pool).

and prints what numba costs a process before the first run: importing it and
loading (or, the first time, compiling) the kernels.  Then it times the whole
MobileNetV2 (batch 1, ``benchmarks/_models.py``) in onnxkit as it is and with
each numba kernel patched into ``NhwcConv``'s depthwise path (padding, bias and
activation still done by onnxkit there).  Run it on an idle machine:
``python benchmarks/depthwise_numba.py``.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from numpy.lib.stride_tricks import as_strided

import _models
import onnxkit
import onnxkit.ops.fused_conv as fused_conv

t_import = time.perf_counter()
import numba  # noqa: E402

t_import = time.perf_counter() - t_import

# (H = W of the output, channels, stride, how many such layers MobileNetV2 has)
LAYERS = [(112, 32, 1, 1), (56, 96, 2, 1), (56, 144, 1, 1), (28, 144, 2, 1), (28, 192, 1, 2),
          (14, 192, 2, 1), (14, 384, 1, 4), (14, 576, 1, 2), (7, 576, 2, 1), (7, 960, 1, 3)]


def _depthwise(xp, w, b, y, stride, lo, hi):
    """y[n, i, j, c] = clip(b[c] + sum_ab xp[n, i*s + a, j*s + bb, c] * w[a, bb, c], lo, hi)."""
    n, oh, ow, c = y.shape
    kh, kw = w.shape[0], w.shape[1]
    for t in numba.prange(n * oh):
        bi, i = t // oh, t % oh
        acc = np.empty((ow, c), np.float32)
        for j in range(ow):
            for ch in range(c):
                acc[j, ch] = b[ch]
        for a in range(kh):
            r = i * stride + a
            for bb in range(kw):
                for j in range(ow):
                    col = j * stride + bb
                    for ch in range(c):
                        acc[j, ch] += xp[bi, r, col, ch] * w[a, bb, ch]
        for j in range(ow):
            for ch in range(c):
                y[bi, i, j, ch] = min(max(acc[j, ch], lo), hi)


serial = numba.njit(cache=True, fastmath=True, nogil=True)(_depthwise)
# (not cached: numba's cache would hand back the serial build of the same function)
parallel = numba.njit(fastmath=True, nogil=True, parallel=True)(_depthwise)


def einsum_depthwise(xp, w, b, oh, stride):
    st = xp.strides
    win = as_strided(xp, (xp.shape[0], oh, oh, 3, 3, xp.shape[3]),
                     (st[0], stride * st[1], stride * st[2], st[1], st[2], st[3]), writeable=False)
    y = np.einsum("nhwijc,ijc->nhwc", win, w)
    y += b
    return np.clip(y, 0, 6, out=y)


def median_us(f, reps=50):
    f()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def main():
    tiny = (np.zeros((1, 4, 4, 8), np.float32), np.ones((3, 3, 8), np.float32), np.zeros(8, np.float32),
            np.empty((1, 2, 2, 8), np.float32), 1, 0.0, 6.0)
    t = time.perf_counter()
    serial(*tiny)
    t_serial = time.perf_counter() - t
    t = time.perf_counter()
    parallel(*tiny)
    t_parallel = time.perf_counter() - t
    print(f"numba {numba.__version__}: import {t_import:.2f} s; first call (compile, or load from the cache) "
          f"serial {t_serial:.2f} s, parallel (always compiled) {t_parallel:.2f} s")
    rng = np.random.default_rng(0)
    total = {"einsum": 0.0, "numba 1 thread": 0.0, "numba parallel": 0.0}
    for oh, c, s, count in LAYERS:
        h = (oh - 1) * s + 3
        xp = rng.standard_normal((1, h, h, c)).astype(np.float32)
        w = rng.standard_normal((3, 3, c)).astype(np.float32)
        b = rng.standard_normal(c).astype(np.float32)
        want = einsum_depthwise(xp, w, b, oh, s)
        y = np.empty_like(want)
        for name, f in (("numba 1 thread", serial), ("numba parallel", parallel)):
            f(xp, w, b, y, s, 0.0, 6.0)
            np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)
        times = {"einsum": median_us(lambda: einsum_depthwise(xp, w, b, oh, s)),
                 "numba 1 thread": median_us(lambda: serial(xp, w, b, y, s, 0.0, 6.0)),
                 "numba parallel": median_us(lambda: parallel(xp, w, b, y, s, 0.0, 6.0))}
        for k, v in times.items():
            total[k] += v * count
        print(f"{oh:3d}x{oh:<3d}x{c:<4d} stride {s}: " + ", ".join(f"{k} {v:6.0f} us" for k, v in times.items()))
    print("all of MobileNetV2's depthwise layers, batch 1: "
          + ", ".join(f"{k} {v / 1e3:.2f} ms" for k, v in total.items()))


def in_model():
    """MobileNetV2 at batch 1, per run, with each depthwise kernel."""
    path, feeds = _models.get_model("mobilenetv2"), _models.feeds("mobilenetv2", 1)
    plain = fused_conv._conv_grouped

    def patched(kernel):
        def conv_grouped(xp, w, oh, ow, ks, s, d, group):
            n, _, _, c = xp.shape
            if w.shape[2] != 1 or w.shape[3] != c or ks != [3, 3] or s[0] != s[1] or d != [1, 1] \
                    or xp.dtype != np.float32:
                return plain(xp, w, oh, ow, ks, s, d, group)
            y = np.empty((n, oh, ow, c), np.float32)
            kernel(xp, np.ascontiguousarray(w.reshape(3, 3, c)), np.zeros(c, np.float32), y, s[0],
                   -np.inf, np.inf)
            return y.reshape(n * oh * ow, c)
        return conv_grouped

    try:
        for name, f in (("einsum", plain), ("numba 1 thread", patched(serial)),
                        ("numba parallel", patched(parallel))):
            fused_conv._conv_grouped = f
            sess = onnxkit.Session(path)
            print(f"MobileNetV2 batch 1, {name}: {median_us(lambda: sess.run(None, feeds), 30) / 1e3:.1f} ms")
    finally:
        fused_conv._conv_grouped = plain


if __name__ == "__main__":
    main()
    in_model()
