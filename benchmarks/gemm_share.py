"""How much of an onnxkit run is numpy's GEMM?  The lower bound behind the
README's "Runtime speed" shortfalls: whatever onnxkit does around its
matrix products, a run cannot be faster than the products themselves.

``python benchmarks/gemm_share.py resnet50:8 bert:1 ...`` runs each model
(``benchmarks/_models.py``, batch after the colon) in an ``onnxkit.Session``
with ``numpy.matmul`` wrapped by a timer (every GEMM onnxkit's kernels do goes
through it), and prints the median run time and the time inside matmul.  The
timer's own cost is ~1 µs per call (a few hundred calls per run).  For the
ratio against onnxruntime, compare with ``runtime_speed.py``'s table.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

import _models
import onnxkit


def gemm_share(name: str, batch: int, runs: int = 5) -> tuple[float, float]:
    """(median seconds per run, median seconds of it inside numpy.matmul)."""
    sess = onnxkit.Session(_models.get_model(name))
    feeds = _models.feeds(name, batch)
    sess.run(None, feeds)
    plain = np.matmul
    inside = [0.0]

    def timed(*args, **kwargs):
        t = time.perf_counter()
        try:
            return plain(*args, **kwargs)
        finally:
            inside[0] += time.perf_counter() - t

    totals, gemms = [], []
    np.matmul = timed
    try:
        for _ in range(runs):
            inside[0] = 0.0
            t = time.perf_counter()
            sess.run(None, feeds)
            totals.append(time.perf_counter() - t)
            gemms.append(inside[0])
    finally:
        np.matmul = plain
    return statistics.median(totals), statistics.median(gemms)


def main(argv: list[str]) -> None:
    for spec in argv or ["resnet50:1", "resnet50:8", "mobilenetv2:1", "bert:8", "gpt2:8", "vit:8"]:
        name, _, batch = spec.partition(":")
        total, gemm = gemm_share(name, int(batch or 1))
        print(f"{name} batch {batch or 1}: run {total * 1e3:.1f} ms, numpy.matmul {gemm * 1e3:.1f} ms "
              f"({gemm / total:.0%})")


if __name__ == "__main__":
    main(sys.argv[1:])
