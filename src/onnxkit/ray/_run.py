"""One batch run end to end (what ``onnxkit batch`` does): start or join Ray,
read INPUT, run the :class:`Predictor` in ``workers`` actors, write OUTPUT as
Parquet, and sum up.

Outputs go through Ray Data's ``write_parquet``: a block is written by the
task that holds it, under a name fixed for the run, so a retried task
rewrites its own file and a row is never written twice.  A worker that dies
is restarted by Ray Data and its batches are run again.  The model is checked
on the driver first (loaded: memory-mapped, nothing run; inputs matched to
columns), so a model that cannot be loaded fails at once, not after a retry
storm of workers.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..errors import InvalidInputError, OnnxkitError
from ._inputs import block_rows, file_items, image_options_for, input_kind, parquet_row_groups, read_input
from ._predictor import Predictor, column_map, model_io


@dataclass
class Summary:
    """What a run did: rows written, seconds, per worker process (rows run, busy
    seconds), restarts (worker processes started past the planned ones), error rows.
    A worker that died may have run batches whose outputs were lost and run
    again by another: the rows run per worker then add up to more than ``rows``."""
    rows: int
    seconds: float
    workers: dict[str, tuple[int, float]] = field(default_factory=dict)
    restarts: int = 0
    error_rows: int = 0
    files: list[str] = field(default_factory=list)
    planned: int = 0

    def lines(self) -> list[str]:
        n_workers = self.planned or len(self.workers)
        out = [f"{self.rows:,} rows in {self.seconds:.2f} s: {self.rows / max(self.seconds, 1e-9):,.1f} rows/s, "
               f"{n_workers} worker{'s' if n_workers != 1 else ''}, "
               f"{self.restarts} worker restart{'s' if self.restarts != 1 else ''} (batches retried), "
               f"{len(self.files)} output file{'s' if len(self.files) != 1 else ''}"]
        for w, (n, s) in sorted(self.workers.items()):
            out.append(f"  worker {w}: {n:,} rows run, {n / max(s, 1e-9):,.1f} rows/s while busy ({s:.2f} s)")
        if self.restarts and sum(n for n, _ in self.workers.values()) > self.rows:
            out.append("  (rows run add up to more than were written: batches of a worker that died ran again)")
        if self.error_rows:
            out.append(f"{self.error_rows:,} rows did not fit the model: see the 'error' column of the output")
        return out


def _stats_actor_class():
    import ray

    @ray.remote(num_cpus=0)
    class Stats:
        """Counts each worker's rows and busy time, and how many workers started."""

        def __init__(self) -> None:
            self.starts = 0
            self.workers: dict[str, list] = {}

        def started(self, worker: str) -> None:
            self.starts += 1
            self.workers.setdefault(worker, [0, 0.0])

        def add(self, worker: str, rows: int, seconds: float) -> None:
            w = self.workers.setdefault(worker, [0, 0.0])
            w[0] += rows
            w[1] += seconds

        def get(self) -> tuple[int, dict]:
            return self.starts, {k: (v[0], v[1]) for k, v in self.workers.items()}

    return Stats


def start_ray(address: str | None = None, num_cpus: int | None = None, **kwargs: Any) -> bool:
    """Join the cluster at ``address`` ("auto", "ray://host:port", host:port),
    or start Ray on this machine (127.0.0.1 only, no dashboard).  True when
    this call started or joined Ray (the caller shuts it down); False when Ray
    was running in this process already."""
    import ray
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=False, **kwargs)
    else:       # "local": a new Ray here, never one RAY_ADDRESS or an earlier `ray start` points to
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
                 log_to_driver=False, **kwargs)
    return True


def plan_workers(workers: int | str | None) -> tuple[int, float, int]:
    """(actors, CPUs reserved per actor, threads per actor) for ``workers``
    (a count, or "auto": one per CPU of the cluster).  Each actor runs with
    its share of the cores as threads, but the actors together reserve 1.5
    CPUs less than the cluster has: Ray Data's own tasks (listing files takes
    1 CPU; reading, writing) must always find room, also beside the actors of a
    run that just failed and are still being torn down, or the run waits forever."""
    import ray
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    if workers in (None, "auto"):
        n = cpus
    else:
        n = int(workers)
        if n < 1:
            raise InvalidInputError(f"workers must be at least 1, not {n}")
    share = cpus / n
    return n, round(max(0.05, min(share, (cpus - 1.5) / n)), 3), max(1, int(share))


def predict(ds: Any, model: str | os.PathLike, *, workers: int | str | None = None, batch_size: int = 256,
            provider: str = "numpy", columns: Mapping[str, Any] | None = None,
            outputs: Sequence[str] | None = None, keep_columns: Sequence[str] | None = None,
            on_error: str = "raise", threads: int | None = None, stats: str | None = None,
            decode: Any = None) -> Any:
    """``ds`` with the model's outputs as columns (lazy: a Ray Dataset).  The
    model is checked here (loaded, inputs matched to ``columns``), then run by
    ``workers`` :class:`Predictor` actors, each opening it by path."""
    model = os.path.abspath(os.fspath(model))     # the workers' working folder is not ours
    inputs, _ = model_io(model)         # fails now, on the driver, if the model cannot be loaded
    column_map(inputs, columns)
    n, cpus, auto_threads = plan_workers(workers)
    kwargs = {"model": model, "provider": provider, "threads": threads or auto_threads, "columns": columns,
              "outputs": outputs, "keep_columns": keep_columns, "on_error": on_error, "stats": stats,
              "decode": decode}
    from ray.data import ActorPoolStrategy
    return ds.map_batches(Predictor, fn_constructor_kwargs=kwargs, compute=ActorPoolStrategy(size=n),
                          num_cpus=cpus, batch_size=batch_size, batch_format="numpy")


def _worker_error(e: BaseException) -> BaseException:
    """The onnxkit error inside what Ray raised for a worker's failure, if any."""
    seen = set()
    text = str(e)
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OnnxkitError):
            cause = getattr(e, "cause", None)
            return cause if isinstance(cause, OnnxkitError) else e
        cause = getattr(e, "cause", None)
        e = cause if isinstance(cause, BaseException) else (e.__cause__ or e.__context__)
    # Ray Data sends the worker's exception as text ("UDF failed" wraps it): rebuild it from its last line
    import re
    from .. import errors
    found = re.findall(r"^onnxkit\.errors\.(\w+): (.*)$", text, re.M)
    if not found:
        return None
    name, message = found[-1]
    cls = getattr(errors, name, None)
    cls = cls if isinstance(cls, type) and issubclass(cls, OnnxkitError) else OnnxkitError
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    return error


def run_batch(model: str | os.PathLike, input: str, output: str, *, batch_size: int = 256,
              workers: int | str | None = None, address: str | None = None, provider: str = "numpy",
              columns: Mapping[str, Any] | None = None, outputs: Sequence[str] | None = None,
              on_error: str = "raise", size: Sequence[int] | None = None, mean=None, std=None,
              layout: str | None = None, progress: bool = True, num_cpus: int | None = None,
              threads: int | None = None) -> Summary:
    """Run ``model`` over INPUT and write OUTPUT (a folder of Parquet files); see the module docstring."""
    model, input = os.path.abspath(os.fspath(model)), os.path.abspath(input)   # workers run elsewhere
    inputs, _ = model_io(model)
    cmap = column_map(inputs, columns)
    kind_files = input_kind(input)
    # footers read now: an unreadable file fails before Ray starts
    _, n_rows, n_bytes = parquet_row_groups(kind_files[1]) if kind_files[0] == "parquet" else ([], 0, 0)
    if os.path.isdir(output) and os.listdir(output):
        raise InvalidInputError(f"{output}: the output folder is not empty; give a new or empty one")
    image_input = image_options = None
    if kind_files[0] == "images":
        if len(inputs) != 1:
            raise InvalidInputError(f"{model}: an image folder feeds a model of one input; this one has "
                                    f"{[i.name for i in inputs]}")
        image_input = cmap[inputs[0].name][0]
        image_options = image_options_for(inputs[0].dims, size=size, mean=mean, std=std, layout=layout,
                                          dtype=inputs[0].dtype)
    started = start_ray(address, num_cpus=num_cpus)
    import ray
    from ray.data import DataContext
    context = DataContext.get_current()
    saved = context.enable_progress_bars, context.target_max_block_size, context.target_min_block_size
    stats = None
    try:
        context.enable_progress_bars = progress
        n_workers = plan_workers(workers)[0]
        if n_rows:                  # blocks as read, neither merged nor split (see read_input)
            size = max(1024, int(block_rows(n_rows, n_bytes, n_workers) * n_bytes / n_rows))
            context.target_max_block_size = size
            context.target_min_block_size = min(size // 2, context.target_min_block_size or size)
        name = f"onnxkit-batch-stats-{os.getpid()}-{time.time_ns()}"
        stats = _stats_actor_class().options(name=name).remote()
        t0 = time.perf_counter()
        decode = None
        if kind_files[0] == "parquet":
            ds = read_input(input, kind_files=kind_files, workers=n_workers)
        else:                       # files decoded in the workers
            ds, decode = file_items(input, *kind_files, workers=n_workers, image_input=image_input,
                                    image_options=image_options,
                                    single_input=inputs[0].name if len(inputs) == 1 else None)
        ds = predict(ds, model, workers=workers, batch_size=batch_size, provider=provider, columns=columns,
                     outputs=outputs, on_error=on_error, stats=name, threads=threads, decode=decode)
        try:
            ds.write_parquet(output, ray_remote_args={"num_cpus": 0.1})
        except Exception as e:
            inner = _worker_error(e)
            if inner is not None:               # the worker's onnxkit error, as one line
                raise inner.with_traceback(None) from None
            raise
        seconds = time.perf_counter() - t0
        starts, per_worker = ray.get(stats.get.remote())
    finally:
        context.enable_progress_bars, context.target_max_block_size, context.target_min_block_size = saved
        if stats is not None:
            ray.kill(stats)
        if started:
            ray.shutdown()
    return _summarize(output, seconds, per_worker, max(0, starts - n_workers), on_error, n_workers)


def _summarize(output: str, seconds: float, per_worker: dict, restarts: int, on_error: str,
               planned: int) -> Summary:
    import pyarrow.parquet as pq
    files = sorted(os.path.join(output, f) for f in os.listdir(output) if f.endswith(".parquet"))
    rows = errors = 0
    for f in files:
        rows += pq.ParquetFile(f).metadata.num_rows
        if on_error == "skip":
            col = pq.read_table(f, columns=["error"]).column("error").to_pylist()
            errors += sum(1 for x in col if x)
    return Summary(rows, seconds, per_worker, restarts, errors, files, planned)
