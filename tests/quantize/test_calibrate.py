"""The running histograms of calibration: fixed memory whatever the number of
samples, merged exactly (numpy's histogram of all the data at once is the
oracle), and the ranges each method reads from them."""

from __future__ import annotations

import numpy as np
import pytest

from onnxkit.quantize._calibrate import BINS, RunningHistogram


def _batches(seed: int = 0):
    rng = np.random.default_rng(seed)
    # growing magnitudes: the covered range doubles several times
    return [rng.standard_normal(5000).astype(np.float32) * (1 + 3 * i) for i in range(12)]


def test_merge_is_exact_and_memory_fixed():
    h = RunningHistogram()
    data = _batches()
    for x in data:
        h.add(x)
        assert h.counts.shape == (BINS,)
    a = np.abs(np.concatenate(data))
    want, _ = np.histogram(a, bins=BINS, range=(0, h.width * BINS))
    assert int(h.counts.sum()) == a.size
    # the same counts, but for a value lying on a bin edge to float rounding (numpy computes
    # the bin in float64, the running histogram in float32 at the width of its time)
    assert np.abs(np.cumsum(h.counts) - np.cumsum(want)).max() <= 2
    assert np.abs(h.counts - want).sum() <= 8
    assert h.lo == float(np.concatenate(data).min()) and h.hi == float(np.concatenate(data).max())


def test_methods():
    h = RunningHistogram()
    data = _batches(1)
    for x in data:
        h.add(x)
    a = np.abs(np.concatenate(data))
    lo, hi = h.range("minmax")
    assert (lo, hi) == (h.lo, h.hi)
    assert h.clipped(lo, hi) == 0.0
    t = h.threshold("percentile", 99.9)
    assert abs(t - np.percentile(a, 99.9)) <= h.width
    assert h.clipped(-t, t) == pytest.approx(np.mean(a > t), abs=2e-4)
    e = h.threshold("entropy")
    # KL calibration clips the thin tail: below the extremes, above the bulk
    assert np.percentile(a, 99) < e < a.max()


def test_relu_like_and_degenerate():
    h = RunningHistogram()
    h.add(np.zeros(10, np.float32))
    assert h.range("entropy") == (0.0, 0.0)
    h.add(np.maximum(np.random.default_rng(2).standard_normal(20000), 0).astype(np.float32))
    lo, hi = h.range("entropy")
    # the zeros of ReLU do not drag the threshold down
    assert lo == 0.0 and hi > 2.0
    h.add(np.array([np.nan, np.inf], np.float32))       # not finite: ignored
    assert np.isfinite(h.hi)
