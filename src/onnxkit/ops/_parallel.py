"""onnxkit's own parallel work: a kernel splits its rows over a thread pool.

numpy releases the GIL inside its loops, so the pieces of an element-wise
pass, a row-wise normalization or a copy run on several cores at once from
plain Python threads.  A kernel calls :func:`split_rows` with the number of
rows and a body that does rows ``[start, stop)``; the body runs on the
caller's thread for the first piece and on the pool for the others, and
``split_rows`` returns when all are done.

When a run may use several threads is the runtime's decision
(``Session(threads=N)``): it sets the count for the calling thread with
:func:`using`; code that never sets it (constant folding, the reference-like
paths, a thread of the pool itself) works on one thread, exactly as without
this module.  Splitting pays only with enough cores and enough work: measured
on 2 cores, splitting element-wise work, copies and depthwise rows was slower
or equal everywhere (OpenBLAS's threads hold the cores between GEMMs), so
nothing is split below :data:`MIN_WORKERS` threads, and a piece is never
smaller than the kernel's ``min_work`` (elements).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np

__all__ = ["MIN_WORKERS", "bmm", "gemm", "split_rows", "using", "workers"]

MIN_WORKERS = 4         # fewer threads than this: never split (see the module's docstring)
DEFAULT_MIN_WORK = 1 << 17   # elements per piece (512 KiB of float32): below it a hand-off costs more

_local = threading.local()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def workers() -> int:
    """The threads the calling thread's kernels may split over (1 unless set by :func:`using`)."""
    return getattr(_local, "n", 1)


@contextmanager
def using(n: int, *, split_gemm: bool = False) -> Iterator[None]:
    """Let kernels called from this thread split over ``n`` threads, until the
    block ends; with ``split_gemm`` the GEMMs too (see :func:`gemm`)."""
    prev = getattr(_local, "n", 1), getattr(_local, "gemm", False)
    _local.n, _local.gemm = max(1, int(n)), split_gemm
    try:
        yield
    finally:
        _local.n, _local.gemm = prev


#: a GEMM is split only with at least this many multiply-adds per piece
GEMM_MIN_WORK = 1 << 20


def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``np.matmul(a, b, out=out)`` of 2-D ``a`` and ``b``.  When the runtime
    splits GEMMs itself (``Session`` with ``ONNXKIT_GEMM=split``: BLAS on one
    thread) the rows of ``a`` or the columns of ``b`` (whichever is larger) are
    split over this thread's workers, each piece one single-threaded BLAS call:
    the pieces never wait on each other, where OpenBLAS's own threads do
    inside every GEMM (see ``onnxkit.runtime._threads``)."""
    k = getattr(_local, "n", 1) if getattr(_local, "gemm", False) else 1
    if k > 1 and a.ndim == 2 and b.ndim == 2:
        m, n = a.shape[0], b.shape[1]
        k = min(k, (m * n * a.shape[1]) // GEMM_MIN_WORK)
        if k > 1:
            if out is None:
                out = np.empty((m, n), np.result_type(a, b))
            # each piece packs the operand it is not split along whole: split the one
            # whose copy costs more (B for m <= n: its columns; else A's rows)
            if m >= 32 * k and (m > n or n < 64 * k):
                split_rows(m, lambda i, j: np.matmul(a[i:j], b, out=out[i:j]), row_work=1, min_work=1,
                           _k=k)
                return out
            if n >= 64 * k:
                split_rows(n, lambda i, j: np.matmul(a, b[:, i:j], out=out[:, i:j]), row_work=1, min_work=1,
                           _k=k)
                return out
    return np.matmul(a, b) if out is None else np.matmul(a, b, out=out)


def _get_pool(n: int) -> ThreadPoolExecutor:
    """The process's pool, with at least ``n`` threads (it grows, never shrinks)."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < n:
            old = _pool
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="onnxkit")
            _pool_size = n
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def bmm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.matmul(a, b)`` of batched ``a`` and ``b`` with the same leading
    dims (attention's products); when the runtime splits GEMMs itself, the
    batch (its first dim, or its second when the first is too short) is split
    over this thread's workers."""
    k = getattr(_local, "n", 1) if getattr(_local, "gemm", False) else 1
    if k > 1 and a.ndim >= 3 and a.ndim == b.ndim and a.shape[:-2] == b.shape[:-2] \
            and a.shape[-2] * a.shape[-1] * b.shape[-1] * (a.size // (a.shape[-2] * a.shape[-1] or 1)) \
            >= 2 * GEMM_MIN_WORK:
        out = np.empty(a.shape[:-1] + (b.shape[-1],), np.result_type(a, b))
        if a.shape[0] >= k or a.ndim == 3:
            split_rows(a.shape[0], lambda i, j: np.matmul(a[i:j], b[i:j], out=out[i:j]), _k=k)
        else:
            split_rows(a.shape[1], lambda i, j: np.matmul(a[:, i:j], b[:, i:j], out=out[:, i:j]), _k=k)
        return out
    return np.matmul(a, b)


def split_rows(n_rows: int, body: Callable[[int, int], object], *, row_work: int = 1,
               min_work: int | None = None, _k: int | None = None) -> None:
    """Call ``body(start, stop)`` over pieces of ``range(n_rows)`` that cover it
    once, in parallel when this thread may use :data:`MIN_WORKERS` threads or
    more and each piece gets at least ``min_work`` elements (``row_work`` per
    row); otherwise one call ``body(0, n_rows)``, today's single-threaded path.
    The pieces must write disjoint outputs.  An exception in any piece is
    raised here once all pieces are finished."""
    k = getattr(_local, "n", 1)
    if _k is not None:                  # gemm: its own rule
        k = min(_k, n_rows)
    elif k >= MIN_WORKERS and n_rows > 1:
        k = min(k, n_rows, (n_rows * max(row_work, 1)) // max(min_work or DEFAULT_MIN_WORK, 1))
    else:
        k = 1
    if k <= 1:
        body(0, n_rows)
        return
    bounds = [n_rows * i // k for i in range(k + 1)]
    pool = _get_pool(k - 1)
    futures = [pool.submit(body, bounds[i], bounds[i + 1]) for i in range(1, k)]
    error: BaseException | None = None
    try:
        body(bounds[0], bounds[1])
    except BaseException as e:      # wait for the others before raising: they write our buffers
        error = e
    for f in futures:
        try:
            f.result()
        except BaseException as e:
            error = error or e
    if error is not None:
        raise error
