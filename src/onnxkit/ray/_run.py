"""One batch run end to end (what ``onnxkit batch`` does): start or join Ray,
cut INPUT into pieces, have ``workers`` actors read, predict and write each
piece (:mod:`._pieces`), and sum up.

A piece's output is a Parquet file of a name fixed for the run, so a retried
piece rewrites its own file and a row is never written twice.  A worker that
dies is restarted by Ray Data and its pieces are run again.  The model is checked
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
from ._inputs import check_files, decoder, image_options_for, input_kind, parquet_row_groups
from ._pieces import PieceRunner, file_pieces, parquet_pieces, piece_stats, remove_partial
from ._predictor import Predictor, column_map, model_io


@dataclass
class Summary:
    """What a run did: rows written, seconds, per worker process (rows written,
    busy seconds: from the output files), restarts (worker processes started
    past the planned ones), error rows."""
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
            out.append(f"  worker {w}: {n:,} rows, {n / max(s, 1e-9):,.1f} rows/s while busy ({s:.2f} s)")
        if self.error_rows:
            out.append(f"{self.error_rows:,} rows did not fit the model: see the 'error' column of the output")
        return out


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
            on_error: str = "raise", threads: int | None = None, decode: Any = None) -> Any:
    """``ds`` with the model's outputs as columns (lazy: a Ray Dataset).  The
    model is checked here (loaded, inputs matched to ``columns``), then run by
    ``workers`` :class:`Predictor` actors, each opening it by path."""
    model = os.path.abspath(os.fspath(model))     # the workers' working folder is not ours
    inputs, _ = model_io(model)         # fails now, on the driver, if the model cannot be loaded
    column_map(inputs, columns)
    n, cpus, auto_threads = plan_workers(workers)
    kwargs = {"model": model, "provider": provider, "threads": threads or auto_threads, "columns": columns,
              "outputs": outputs, "keep_columns": keep_columns, "on_error": on_error,
              "decode": decode}
    return _map(ds, Predictor, kwargs, n, cpus, batch_size)


def _map(ds: Any, cls: type, kwargs: dict, n: int, cpus: float, batch_size: int) -> Any:
    from ray.data import ActorPoolStrategy
    return ds.map_batches(cls, fn_constructor_kwargs=kwargs, compute=ActorPoolStrategy(size=n),
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
    kind, files = input_kind(input)
    if os.path.isdir(output) and os.listdir(output):
        raise InvalidInputError(f"{output}: the output folder is not empty; give a new or empty one")
    decode = None
    if kind == "parquet":
        groups, n_rows = parquet_row_groups(files)      # footers read now: a bad file fails before Ray starts
    else:
        check_files(files, kind)
        image_input = image_options = None
        if kind == "images":
            if len(inputs) != 1:
                raise InvalidInputError(f"{model}: an image folder feeds a model of one input; this one has "
                                        f"{[i.name for i in inputs]}")
            image_input = cmap[inputs[0].name][0]
            image_options = image_options_for(inputs[0].dims, size=size, mean=mean, std=std, layout=layout,
                                              dtype=inputs[0].dtype)
        decode = decoder(kind, single_input=inputs[0].name if len(inputs) == 1 else None,
                         image_input=image_input, image_options=image_options)
    os.makedirs(output, exist_ok=True)
    started = start_ray(address, num_cpus=num_cpus)
    import ray
    import ray.data
    context = ray.data.DataContext.get_current()
    saved = context.enable_progress_bars
    try:
        context.enable_progress_bars = progress
        n_workers, cpus, auto_threads = plan_workers(workers)
        base = input if os.path.isdir(input) else os.path.dirname(input)
        pieces = parquet_pieces(groups, n_rows, n_workers) if kind == "parquet" else \
            file_pieces(base, files, n_workers, batch_size)
        t0 = time.perf_counter()
        kwargs = {"output": os.path.abspath(output), "kind": kind, "base": base, "batch_size": batch_size,
                  "decode": decode, "model": model, "provider": provider, "threads": threads or auto_threads,
                  "columns": columns, "outputs": outputs, "on_error": on_error}
        ds = _map(ray.data.from_items(pieces, override_num_blocks=max(1, len(pieces))), PieceRunner, kwargs,
                  n_workers, cpus, 1)
        try:
            for _ in ds.iter_internal_ref_bundles() if pieces else ():   # the outputs are the pieces' files
                pass
        except Exception as e:
            inner = _worker_error(e)
            if inner is not None:               # the worker's onnxkit error, as one line
                raise inner.with_traceback(None) from None
            raise
        seconds = time.perf_counter() - t0
    finally:
        context.enable_progress_bars = saved
        starts = remove_partial(output)
        if started:
            ray.shutdown()
    return _summarize(output, seconds, max(0, starts - n_workers), on_error, n_workers)


def _summarize(output: str, seconds: float, restarts: int, on_error: str, planned: int) -> Summary:
    import pyarrow.parquet as pq
    files = sorted(os.path.join(output, f) for f in os.listdir(output) if f.endswith(".parquet"))
    rows = errors = 0
    per_worker: dict[str, tuple[int, float]] = {}
    for f in files:
        meta = pq.ParquetFile(f).metadata
        rows += meta.num_rows
        worker, busy = piece_stats(meta)
        n, t = per_worker.get(worker, (0, 0.0))
        per_worker[worker] = (n + meta.num_rows, t + busy)
        if on_error == "skip":
            col = pq.read_table(f, columns=["error"]).column("error").to_pylist()
            errors += sum(1 for x in col if x)
    return Summary(rows, seconds, per_worker, restarts, errors, files, planned)
