"""Calibration: activation ranges from a stream of samples, in fixed memory.

Each calibrated tensor keeps a :class:`RunningHistogram`: its least and
greatest value and a histogram of ``|x|`` with a fixed number of bins whose
width doubles (adjacent bins summed, which is exact) whenever a sample goes
past the covered range.  Memory is ``bins`` counters per tensor whatever the
number of samples, and every method reads its range from the same
histogram: ``minmax`` (the extremes), ``percentile`` (the magnitude below
which that percent of values lie) and ``entropy`` (the clipping threshold
whose 128-level quantized distribution is closest to the observed one in
Kullback-Leibler divergence, as TensorRT calibrates).

The samples are run one at a time through onnxkit's own runtime
(:meth:`Session.run_intermediate`), each read once from the iterable given.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np

from ..errors import OnnxkitError, QuantizeError
from ..ir import Model

__all__ = ["RunningHistogram", "collect"]

BINS = 2048


class RunningHistogram:
    """Min, max and a histogram of magnitudes, merged sample by sample."""

    __slots__ = ("lo", "hi", "width", "counts")

    def __init__(self) -> None:
        self.lo = np.inf
        self.hi = -np.inf
        self.width = 0.0
        self.counts = np.zeros(BINS, np.int64)

    def add(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float32).ravel()
        if x.size == 0:
            return
        if not np.isfinite(x).all():
            x = x[np.isfinite(x)]
            if x.size == 0:
                return
        lo, hi = float(x.min()), float(x.max())
        self.lo, self.hi = min(self.lo, lo), max(self.hi, hi)
        amax = max(-lo, hi)
        if self.width == 0.0:
            if amax == 0.0:
                self.counts[0] += x.size
                return
            self.width = amax / BINS
        while amax > self.width * BINS:                 # widen: pairs of bins become one
            self.counts = np.concatenate([self.counts.reshape(-1, 2).sum(axis=1),
                                          np.zeros(BINS // 2, np.int64)])
            self.width *= 2
        idx = np.minimum((np.abs(x) / self.width).astype(np.int64), BINS - 1)
        self.counts += np.bincount(idx, minlength=BINS)

    # ranges ------------------------------------------------------------------
    def threshold(self, method: str, percentile: float = 99.999) -> float:
        """The magnitude the range is clipped at (``inf`` for ``minmax``)."""
        total = int(self.counts.sum())
        if method == "minmax" or total == 0 or self.width == 0.0:
            return np.inf
        if method == "percentile":
            cum = np.cumsum(self.counts)
            i = int(np.searchsorted(cum, total * percentile / 100.0))
            return (min(i, BINS - 1) + 1) * self.width
        return (_kl_threshold(self.counts) + 1) * self.width

    def range(self, method: str, percentile: float = 99.999) -> tuple[float, float]:
        t = self.threshold(method, percentile)
        return max(self.lo, -t), min(self.hi, t)

    def clipped(self, lo: float, hi: float) -> float:
        """The fraction of the values seen that lie outside ``[lo, hi]`` (from
        the histogram: exact to a bin)."""
        total = self.counts.sum()
        if total == 0 or self.width == 0.0:
            return 0.0
        t = max(-lo, hi)
        i = int(np.ceil(t / self.width))
        return float(self.counts[i:].sum() / total) if i < BINS else 0.0


def _kl_threshold(counts: np.ndarray, levels: int = 128, stride: int = 16) -> int:
    """The last bin kept by the KL-divergence calibration: for each candidate
    cut ``i``, ``p`` is the histogram up to ``i`` with everything beyond piled
    into its last bin, ``q`` is the histogram up to ``i`` (without that pile)
    merged into ``levels`` groups, each group's mass spread over its nonzero
    bins; the cut with the least
    KL(p || q) wins."""
    c = counts.astype(np.float64)
    c[0] = 0.0      # exact zeros (ReLU's half) would dominate the divergence; they stay exact anyway
    best, best_i = np.inf, len(c) - 1
    for i in range(levels, len(c) + 1, stride):
        p = c[:i].copy()
        p[-1] += c[i:].sum()
        nz = p > 0
        if not nz.any():
            continue
        edges = np.linspace(0, i, levels + 1).astype(np.int64)[:-1]
        mass = np.add.reduceat(c[:i], edges)         # q knows nothing of the clipped tail
        n = np.add.reduceat(nz.astype(np.float64), edges)
        group = np.repeat(np.arange(levels), np.diff(np.append(edges, i)))
        q = np.where(nz, mass[group] / np.maximum(n[group], 1), 0.0)
        ps, qs = p[nz] / p.sum(), q[nz] / q.sum()
        if (qs == 0).any():                         # the pile lands on an empty group: infinite
            continue
        kl = float(np.sum(ps * np.log(ps / qs)))
        if kl < best:
            best, best_i = kl, i - 1
    return best_i


def collect(model: Model, names: Iterable[str], calibration: Iterable[Mapping[str, Any]], *,
            hold: int = 0) -> tuple[dict[str, RunningHistogram], list[dict], int]:
    """Run every sample of ``calibration`` through ``model`` (as written) and
    merge the values named into histograms.  Returns ``(histograms, the first
    hold samples, the number of samples)``."""
    from ..runtime import Session

    from .._io import read_unaligned_weights

    names = list(dict.fromkeys(names))
    hists = {n: RunningHistogram() for n in names}
    # quantize's own working copy: its weights that lie unaligned in the mapped file are
    # read aligned once, with pread, as Session does for a path; otherwise the run would
    # make aligned copies and keep the mapped pages too (each weight held twice)
    read_unaligned_weights(model)
    sess = Session(model, optimize="none")
    held: list[dict] = []
    count = 0
    for i, feeds in enumerate(calibration):
        if not isinstance(feeds, Mapping):
            raise QuantizeError(f"calibration sample {i}: expected a dict of input name -> array, "
                                f"got {type(feeds).__name__}")
        try:
            values = sess.run_intermediate(feeds)
        except OnnxkitError as e:
            raise QuantizeError(f"calibration sample {i}: {e}") from e
        for n in names:
            v = values.get(n)
            if v is not None:
                hists[n].add(v)
        del values
        if len(held) < hold:
            held.append({k: np.array(v) for k, v in feeds.items()})
        count += 1
    if count == 0:
        raise QuantizeError("the calibration data is empty: give at least one sample")
    return hists, held, count
