"""Thread control for ``Session(threads=N)``: the cores this process may use,
the thread count of numpy's BLAS, and the setting around each run.

**Cores** (the cap on any count): the CPUs of this process's affinity mask,
lowered to the cgroup CPU quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``)
rounded up -- never ``os.cpu_count()``, which counts the host's CPUs in a
container; read once, when the first Session is made.  **The default of
``threads``**: those cores, lowered to ``OPENBLAS_NUM_THREADS`` /
``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` when one is set.

**BLAS control** without a dependency: numpy's BLAS is a shared library that
numpy's extension module links, so its symbols are found through that module
with ``ctypes`` (``dlsym`` searches a library's dependencies too): OpenBLAS in
its plain and its ``scipy_openblas`` (``64_``) spellings, MKL
(``MKL_Set_Num_Threads_Local``: per thread), BLIS.  When none is found
(Accelerate, which has no such call, or a build not known here) the BLAS
keeps its own count and a warning says so once.  threadpoolctl is not used: it
is not a dependency, and on some numpy builds it finds no BLAS at all.

**More threads than cores**: BLAS threads are capped at the cores (a warning
says so once).  OpenBLAS's threads wait for each other inside every GEMM
(each waits, yielding in a loop, for the panels the others pack), so while
one of them is off a core all of them wait: with BLAS at 4 threads on 2
cores ResNet-50 and BERT-base ran 4.7x and 7.7x slower than at 2 (onnxruntime
at 4 intra-op threads: 1.7x and 2.0x); capped, 1.0x and 1.2x.  The idle spin
after a call (``OPENBLAS_THREAD_TIMEOUT``, read when the library loads) made
no measurable difference.  onnxkit's own pool (:mod:`onnxkit.ops._parallel`)
is capped the same way, and it only runs between BLAS calls, never while one
is running (kernels wait for their pieces before returning).

**Per Session**: OpenBLAS's count is process-wide, so a run sets it on entry
and the last run to finish puts back the count it found.  Runs of sessions
with the same count proceed at once; a run whose count differs from the runs
in progress waits for them to finish (in another thread; runs in one thread
never wait on each other).
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from contextlib import contextmanager
from typing import Callable, Iterator

from ..ops import _parallel

__all__ = ["available_cores", "blas_info", "machine_cores", "enter", "leave", "resolve_threads", "running_with"]

_ENV_LIMITS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _cgroup_quota() -> float | None:
    """CPUs allowed by the cgroup CPU quota (the smallest along this process's
    cgroup path), or None when there is none or it cannot be read."""
    best: float | None = None
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":                                   # cgroup v2
            roots = [("/sys/fs/cgroup", "cpu.max")]
        elif "cpu" in controllers.split(","):                   # cgroup v1
            roots = [(f"/sys/fs/cgroup/{c}", "cpu.cfs_quota_us")
                     for c in (controllers, "cpu", "cpu,cpuacct", "cpuacct,cpu")]
        else:
            continue
        for root, name in roots:
            d = os.path.join(root, path.lstrip("/"))
            while True:         # the path itself and each parent: the tightest quota holds
                q = _read_quota(d, name)
                if q is not None:
                    best = q if best is None else min(best, q)
                if os.path.normpath(d) == os.path.normpath(root):
                    break
                d = os.path.dirname(d)
    return best


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _read_quota(folder: str, name: str) -> float | None:
    try:
        if name == "cpu.max":               # "max 100000" or "200000 100000"
            fields = _read(os.path.join(folder, name)).split()
            quota, period = fields[0], fields[1] if len(fields) > 1 else "100000"
        else:
            quota = _read(os.path.join(folder, "cpu.cfs_quota_us")).strip()
            period = _read(os.path.join(folder, "cpu.cfs_period_us")).strip()
        if quota == "max" or int(quota) <= 0 or int(period) <= 0:
            return None
        return int(quota) / int(period)
    except (OSError, ValueError, IndexError):
        return None


_cores: int | None = None


def machine_cores() -> int:
    """The cores this process may run on: its affinity mask, lowered to the
    cgroup CPU quota; computed once (the cap on any thread count)."""
    global _cores
    if _cores is None:
        try:
            n = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            n = os.cpu_count() or 1
        q = _cgroup_quota()
        if q is not None:
            n = min(n, max(1, math.ceil(q)))
        _cores = max(1, n)
    return _cores


def available_cores() -> int:
    """The default thread count: :func:`machine_cores`, lowered to
    ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` when
    one is set (Ray, for one, sets ``OMP_NUM_THREADS`` to a worker's CPUs)."""
    n = machine_cores()
    for var in _ENV_LIMITS:
        try:
            v = int(os.environ.get(var, ""))
        except ValueError:
            continue
        if v > 0:
            n = min(n, v)
    return n


# ------------------------------------------------------------------ BLAS
class _Blas:
    """get/set of numpy's BLAS thread count, or ``set is None`` when it cannot be controlled."""

    def __init__(self, name: str, get: Callable[[], int] | None, set_: Callable[[int], object] | None) -> None:
        self.name, self.get, self.set = name, get, set_


# (name, setter symbol, getter symbol); the first found wins
_SYMBOLS = (
    ("scipy-openblas64", "scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy-openblas", "scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas64", "openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas", "openblas_set_num_threads", "openblas_get_num_threads"),
    ("mkl", "MKL_Set_Num_Threads_Local", "MKL_Get_Max_Threads"),
    ("blis", "bli_thread_set_num_threads", "bli_thread_get_num_threads"),
)

_blas: _Blas | None = None
_blas_lock = threading.Lock()


def _numpy_blas_name() -> str:
    try:
        import numpy as np
        return str(np.__config__.CONFIG["Build Dependencies"]["blas"]["name"])
    except Exception:
        return "unknown"


def _find_blas() -> _Blas:
    """Look up the thread-count calls of the BLAS numpy loaded (see the module's docstring)."""
    import ctypes

    import numpy as np
    handles = []
    try:
        from numpy._core import _multiarray_umath as m          # numpy 2
    except ImportError:
        from numpy.core import _multiarray_umath as m           # numpy 1
    for path in (getattr(m, "__file__", None),):
        if path:
            try:
                handles.append(ctypes.CDLL(path))
            except OSError:
                pass
    # a BLAS that numpy's extension loaded with dlopen instead of linking it: by its mapping
    try:
        with open("/proc/self/maps") as f:
            libs = {ln.split()[-1] for ln in f if "blas" in ln.lower() or "mkl_rt" in ln.lower()}
        libdir = os.path.dirname(os.path.dirname(np.__file__))
        for p in sorted(libs, key=lambda p: not p.startswith(libdir)):
            if p.startswith("/") and os.path.exists(p):
                try:
                    handles.append(ctypes.CDLL(p))
                except OSError:
                    pass
    except OSError:
        pass
    for name, set_sym, get_sym in _SYMBOLS:
        for h in handles:
            try:
                setter, getter = getattr(h, set_sym), getattr(h, get_sym)
            except AttributeError:
                continue
            getter.restype = ctypes.c_int
            getter.argtypes = []
            setter.argtypes = [ctypes.c_int]
            setter.restype = ctypes.c_int if name == "mkl" else None
            return _Blas(name, lambda g=getter: int(g()), lambda n, s=setter: s(int(n)))
    return _Blas(_numpy_blas_name(), None, None)


def _get_blas() -> _Blas:
    global _blas
    if _blas is None:
        with _blas_lock:
            if _blas is None:
                try:
                    _blas = _find_blas()
                except Exception:       # never let thread control stop a model from running
                    _blas = _Blas(_numpy_blas_name(), None, None)
    return _blas


def blas_info() -> dict:
    """What onnxkit found: the BLAS's name, whether its thread count can be set, its count now."""
    b = _get_blas()
    return {"name": b.name, "controllable": b.set is not None,
            "threads": b.get() if b.get is not None else None, "cores": machine_cores(),
            "cores_available": available_cores()}


_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=4)


def resolve_threads(threads: int | None) -> int:
    """The count a Session runs with: ``threads`` (>= 1) or the cores available.
    More than the cores available is allowed but capped at run time (warned once)."""
    if threads is None:
        return available_cores()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a whole number >= 1 (or None for the cores available), "
                         f"not {threads!r}")
    cores = machine_cores()
    if threads > cores:
        _warn_once(f"over{threads}", f"threads={threads} is more than the {cores} cores this process may "
                   f"run on (CPU affinity and quota); BLAS and onnxkit's own threads are capped at {cores} "
                   f"(more threads than cores make OpenBLAS's threads wait on each other many times longer)")
    if _get_blas().set is None:
        _warn_once("blas", f"numpy's BLAS ({_get_blas().name}) offers no call to set its thread count; "
                   f"threads={threads} applies to onnxkit's own work only (the BLAS keeps its own count: "
                   f"set its environment variable, e.g. VECLIB_MAXIMUM_THREADS for Accelerate, before "
                   f"numpy is imported)")
    return threads


# ------------------------------------------------------- around each run
#: who runs a GEMM's threads: "blas" (numpy's BLAS with the run's count: the
#: default) or "split" (BLAS on one thread, each GEMM split over onnxkit's own
#: pool: :func:`onnxkit.ops._parallel.gemm`).  From ``ONNXKIT_GEMM``; see the
#: README ("Threads") for what was measured.
GEMM = os.environ.get("ONNXKIT_GEMM", "blas")

_lock = threading.Lock()
_cond = threading.Condition(_lock)   # waited on only by a run whose count differs from those running
_active = 0                 # runs in progress that set the BLAS count
_active_n = 0               # the count they run with
_saved: int | None = None   # the count found before the first of them
_owner = threading.local()  # runs in progress on this thread (a nested run never waits)


def enter(threads: int) -> tuple:
    """Start a run with BLAS and onnxkit's own work on ``threads`` threads
    (capped at :func:`machine_cores`); returns the token for :func:`leave`,
    which must follow (``try``/``finally``).  A run started inside another on
    the same thread takes the outer run's count.  Two plain calls, not a
    context manager: this is on every run's path (~1 us)."""
    global _active, _active_n, _saved
    n = threads if threads <= (_cores or machine_cores()) else _cores
    local = _parallel._local
    prev = getattr(local, "n", 1), getattr(local, "gemm", False)
    blas = _blas or _get_blas()
    split = GEMM == "split"
    if blas.set is None:
        local.n, local.gemm = n, split
        return prev, False
    pool_n = n
    if split:
        n = 1                       # the BLAS count; the pool runs the GEMMs' pieces
    depth = getattr(_owner, "depth", 0)
    _lock.acquire()
    try:
        if depth == 0:
            while _active and _active_n != n:
                _cond.wait()
        if _active == 0:
            _saved = blas.get()
            if _saved != n:
                blas.set(n)
            _active_n = n
        _active += 1
    finally:
        _lock.release()
    _owner.depth = depth + 1
    local.n, local.gemm = (pool_n, True) if split else (_active_n, False)
    return prev, True


def leave(token: tuple) -> None:
    """End the run :func:`enter` started: the last run out puts the BLAS count back."""
    global _active, _saved
    prev, counted = token
    _parallel._local.n, _parallel._local.gemm = prev
    if not counted:
        return
    _owner.depth -= 1
    _lock.acquire()
    try:
        _active -= 1
        if _active == 0:
            if _saved is not None and _saved != _active_n:
                _blas.set(_saved)
            _saved = None
            _cond.notify_all()
    finally:
        _lock.release()


@contextmanager
def running_with(threads: int) -> Iterator[None]:
    """``enter``/``leave`` as a context manager (for code off the hot path)."""
    token = enter(threads)
    try:
        yield
    finally:
        leave(token)
