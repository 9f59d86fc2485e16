"""Big element-wise work split across the cores.

numpy runs a ufunc, a copy or an einsum on one core; BLAS (GEMM) uses them
all.  onnxruntime runs every kernel on all cores, so on the non-GEMM part of
a model (activations, normalizations, softmax, im2col copies, depthwise
convolutions) numpy alone gives up a factor of the core count.  numpy
releases the GIL inside those loops, so plain threads working on disjoint
row ranges of the same arrays run truly in parallel.

``parallel_rows(fn, n)`` calls ``fn(lo, hi)`` over ``range(n)`` cut into one
block per core (the calling thread takes the last).  Only worth it for big
arrays: a dispatch costs ~20 us, so callers pass ``work`` (elements) and
small jobs run inline.  GEMMs are never run from these threads (BLAS has its
own), so the two never compete for the cores.  ``ONNXKIT_THREADS=1`` turns it
off.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

__all__ = ["MIN_WORK", "parallel_rows", "threads"]

#: below this many elements a job runs on the calling thread
MIN_WORK = 1 << 17

_pool: ThreadPoolExecutor | None = None


def threads() -> int:
    """How many threads share the work (the cores this process may use)."""
    env = os.environ.get("ONNXKIT_THREADS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


_N = threads()


def parallel_rows(fn: Callable[[int, int], object], n: int, work: int) -> None:
    """Run ``fn(lo, hi)`` over ``[0, n)`` in one block per thread when ``work``
    (the job's element count) is big enough, else ``fn(0, n)``.  Exceptions
    from any block propagate."""
    k = min(_N, n)
    if k < 2 or work < MIN_WORK:
        fn(0, n)
        return
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(_N - 1, thread_name_prefix="onnxkit")
    bounds = [n * i // k for i in range(k + 1)]
    futures = [_pool.submit(fn, bounds[i], bounds[i + 1]) for i in range(k - 1)]
    try:
        fn(bounds[k - 1], bounds[k])
    finally:
        for f in futures:
            f.result()
