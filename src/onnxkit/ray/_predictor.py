"""``Predictor``: the callable class Ray Data runs in each worker.

``ds.map_batches(Predictor, fn_constructor_kwargs={"model": path}, ...)``
builds one Predictor per worker (an actor).  It opens the model by path, so
the weights are memory-mapped from the file: workers of one machine share
their pages, and nothing big travels through the object store (only the path
is pickled); a model whose weights protobuf left unaligned in the file is
first copied once per machine with aligned external data (:func:`shared_path`),
so that those pages are shared too.  Each batch is a dict of numpy columns; the model's inputs are
taken from columns by name, its outputs are returned as columns beside the
columns it did not consume (the ids).  A row that does not fit the model is
named by its id in the error, never dropped silently.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InvalidInputError, ProviderError

PROVIDERS = ("numpy", "torch", "onnxruntime")



@dataclass(frozen=True)
class ModelInput:
    """One input of the model as the Predictor feeds it."""
    name: str
    dtype: np.dtype | None          # None: the model does not say
    dims: tuple | None              # the dims after the batch dim (ints or None); None: rank unknown


def model_io(model: Any) -> tuple[list[ModelInput], list[str]]:
    """(the inputs to feed, the output names) of ``model`` (a path or a Model),
    read from the graph without running anything."""
    from .._io import load
    from ..ir import DataType, TensorType
    m = load(model) if isinstance(model, (str, os.PathLike)) else model
    g = m.graph
    inputs = []
    for v in g.inputs:
        if v.name in g.initializers:
            continue
        t = v.type
        dtype = dims = None
        if isinstance(t, TensorType):
            if t.elem_type not in (None, DataType.UNDEFINED, DataType.STRING):
                try:
                    dtype = np.dtype(t.elem_type.numpy_dtype)
                except Exception:
                    dtype = None
            if t.shape is not None and len(t.shape.dims) >= 1:
                dims = tuple(d if isinstance(d, int) else None for d in t.shape.dims[1:])
        inputs.append(ModelInput(v.name, dtype, dims))
    return inputs, [v.name for v in g.outputs]


def column_map(inputs: Sequence[ModelInput], columns: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """input name -> the column(s) that feed it.  ``columns`` maps an input to
    a column name or a list of names (scalar or 1-d columns stacked along the
    last axis: tabular features); an input not named reads the column of its
    own name."""
    columns = dict(columns or {})
    names = {i.name for i in inputs}
    for k in columns:
        if k not in names:
            raise InvalidInputError(f"columns: the model has no input {k!r}; its inputs are {sorted(names)}")
    out = {}
    for i in inputs:
        c = columns.get(i.name, i.name)
        out[i.name] = [c] if isinstance(c, str) else list(c)
    return out


def default_threads() -> int:
    """This worker's share of the cores: the CPUs Ray assigned to it (at least 1)."""
    try:
        import ray
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    except Exception:
        cpus = None
    return max(1, int(cpus)) if cpus else 1


#: unaligned weights past this many bytes make a worker open an aligned copy of the model
SHARED_COPY_BYTES = 16 << 20


def shared_path(model: str) -> str:
    """The file this machine's workers open for ``model``.

    Mapped weights are shared by the workers of a machine only if they can
    be used where they lie; protobuf puts a weight's bytes at any offset, and
    an unaligned one is read into each process's own memory (see
    ``onnxkit._io.read_unaligned_weights``): two workers of a 400 MB model
    would hold 800 MB.  So when more than :data:`SHARED_COPY_BYTES` of weights
    are unaligned, the model is saved once per machine with its weights in an
    aligned external-data file, under a lock in the temp folder
    (``onnxkit-shared-UID/``), and every worker maps that copy.  A copy is kept
    for later runs of the same file (same path, size, inode and mtime); a new
    version of the file replaces it."""
    from .._io import load, save, unaligned_weight_bytes
    st = os.stat(model)
    real = os.path.realpath(model)
    folder = os.path.join(tempfile.gettempdir(), f"onnxkit-shared-{os.getuid()}",
                          hashlib.sha1(real.encode()).hexdigest()[:16])
    version = f"{st.st_size}-{st.st_ino}-{st.st_mtime_ns}"
    copy = os.path.join(folder, version, os.path.basename(real))
    if os.path.exists(copy):
        return copy
    m = load(model)
    if unaligned_weight_bytes(m) < SHARED_COPY_BYTES:
        return model
    import fcntl
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)          # one worker writes, the others wait and map it
        if not os.path.exists(copy):
            for old in os.listdir(folder):          # an earlier version of the file
                if old != ".lock":
                    shutil.rmtree(os.path.join(folder, old), ignore_errors=True)
            os.makedirs(os.path.dirname(copy))
            save(m, copy, external_data=True)       # written under temporary names, renamed last
    return copy


def open_session(model: Any, provider: str = "numpy", threads: int | None = None) -> Any:
    """A session of ``model`` (a path: memory-mapped) for ``provider``, using
    ``threads`` threads; its ``run(None, feeds)`` returns the outputs in order."""
    if provider not in PROVIDERS:
        raise ProviderError(f"unknown provider {provider!r}; batch inference runs on {list(PROVIDERS)}")
    threads = threads or default_threads()
    if provider == "onnxruntime":
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise ProviderError(f"the onnxruntime provider needs the onnxruntime package: {e}") from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        return ort.InferenceSession(os.fspath(model), opts, providers=["CPUExecutionProvider"])
    from ..runtime import Session
    kwargs: dict[str, Any] = {}
    if provider != "numpy":
        kwargs["providers"] = [provider]
    if "threads" in inspect.signature(Session).parameters:
        kwargs["threads"] = threads
    else:   # an onnxkit without Session(threads=): Ray's OMP_NUM_THREADS (the actor's CPUs) bounds BLAS
        warnings.warn("this onnxkit.Session takes no threads=; the thread count is left to "
                      "OMP_NUM_THREADS", RuntimeWarning, stacklevel=2)
    return Session(model, **kwargs)


def _row_name(batch: Mapping[str, np.ndarray], ids: Sequence[str], k: int) -> str:
    """Row ``k`` of ``batch`` named by its id columns (its place in the batch if there are none)."""
    if not ids:
        return f"row {k} of a batch"
    return ", ".join(f"{c}={_scalar(batch[c][k])!r}" for c in ids)


def _scalar(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


class Predictor:
    """Run an ONNX model over Ray Data batches (``batch_format="numpy"``).

    ``model``: the .onnx path (every worker opens it itself; memory-mapped).
    ``provider``: ``"numpy"`` (onnxkit's runtime), ``"torch"`` or ``"onnxruntime"``.
    ``threads``: threads of each worker's session (default: the CPUs Ray gave the worker).
    ``columns``: input name -> column name or list of columns (stacked as features).
    ``outputs``: the output names to keep (default all).  Columns not fed to
    the model are passed through (the ids); ``keep_columns`` limits them.
    ``on_error``: ``"raise"`` (default) fails on a row that does not fit the
    model, naming it by id; ``"skip"`` keeps such rows with their error in
    the column ``error`` (empty for rows that ran) and zeros as outputs.
    ``decode``: a function (picklable) applied to each batch first, e.g. to read
    the files it names; with ``on_error="skip"`` a row it cannot decode is kept
    with its error.
    """

    def __init__(self, model: str | os.PathLike, *, provider: str = "numpy", threads: int | None = None,
                 columns: Mapping[str, Any] | None = None, outputs: Sequence[str] | None = None,
                 keep_columns: Sequence[str] | None = None, on_error: str = "raise",
                 decode: Any = None) -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
        self.model = os.fspath(model)
        self.provider = provider
        self.threads = threads or default_threads()
        self.session = open_session(shared_path(self.model) if provider == "numpy" else self.model,
                                    provider, self.threads)
        self.inputs, all_outputs = model_io(self.model)
        self.columns = column_map(self.inputs, columns)
        self.outputs = list(outputs) if outputs is not None else all_outputs
        missing = [o for o in self.outputs if o not in all_outputs]
        if missing:
            raise InvalidInputError(f"{self.model}: the model has no output {missing[0]!r}; "
                                    f"its outputs are {all_outputs}")
        self.keep_columns = None if keep_columns is None else list(keep_columns)
        self.on_error = on_error
        self.decode = decode

    # ------------------------------------------------------------------
    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(next(iter(batch.values()))) if batch else 0
        raw = batch
        try:
            batch = self.decode(batch) if self.decode is not None else batch
        except InvalidInputError as e:
            if self.on_error == "raise":
                raise
            batch = None        # each row decoded alone; the ids: the columns of names, not of files
            out = self._skip(raw, [c for c in raw if not c.startswith("_")], n, e, decode=True)
        if batch is not None:
            out = self._predict(batch, n)
        return out

    def _ids(self, batch: Mapping[str, np.ndarray]) -> list[str]:
        """The columns passed through: those the model does not read (or ``keep_columns``)."""
        used = {c for cols in self.columns.values() for c in cols}
        return [c for c in batch if c not in used] if self.keep_columns is None else list(self.keep_columns)

    def _predict(self, batch: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
        ids = self._ids(batch)
        try:
            feeds = {i.name: self._feed(batch, i, ids) for i in self.inputs}
            outs = self._run(feeds, batch, ids, n)
            out = {c: batch[c] for c in ids}
            out.update(zip(self.outputs, outs))
            if self.on_error == "skip":
                out["error"] = np.array([""] * n, dtype=object)
        except InvalidInputError as e:
            if self.on_error == "raise":
                raise
            out = self._skip(batch, ids, n, e)
        return out

    def _run(self, feeds: dict, batch: Mapping[str, np.ndarray], ids: Sequence[str], n: int) -> list:
        try:
            outs = self.session.run(self.outputs, feeds)
        except Exception as e:
            from ..errors import OnnxkitError
            if not isinstance(e, OnnxkitError) and type(e).__module__.split(".")[0] != "onnxruntime":
                raise
            first = _row_name(batch, ids, 0) if n else "an empty batch"
            raise InvalidInputError(f"{self.model}: a batch of {n} rows (the first {first}) failed: {e}") from e
        outs = [np.asarray(o) for o in outs]
        for name, o in zip(self.outputs, outs):
            if o.ndim == 0 or o.shape[0] != n:
                raise InvalidInputError(f"{self.model}: output {name!r} has shape {list(o.shape)}, not one "
                                        f"row per input row ({n}); batch inference needs the first dim "
                                        f"of every output to be the batch")
        return outs

    def _skip(self, batch, ids, n, error, decode: bool = False) -> dict:
        """Each row of a failed batch alone (decoded first if ``decode``): those
        that run get outputs, the others an error."""
        rows = []
        for k in range(n):
            one = {c: batch[c][k:k + 1] for c in batch}
            try:
                one = self.decode(one) if decode else one
                feeds = {i.name: self._feed(one, i, ids) for i in self.inputs}
                rows.append((self._run(feeds, one, ids, 1), ""))
            except InvalidInputError as e:
                rows.append((None, str(e)))
        good = next((r for r, _ in rows if r is not None), None)
        blanks = [np.zeros_like(o[0]) for o in good] if good is not None else self._blank_row()
        out = {c: batch[c] for c in ids}
        for j, name in enumerate(self.outputs):
            if blanks is None:          # not one row ran, and no shape to give them: no template
                out[name] = np.array([None] * n, dtype=object)
                continue
            out[name] = np.stack([r[j][0] if r is not None else blanks[j] for r, _ in rows])
        out["error"] = np.array([err for _, err in rows], dtype=object)
        return out

    def _blank_row(self) -> list[np.ndarray] | None:
        """Zeros shaped as one row of each output, for the rows of a batch none
        of which ran: the outputs of a row of zeros, when every input's shape
        is known (else None).  Outputs of one type per column keep the files of
        a run readable together."""
        if not hasattr(self, "_blanks"):
            self._blanks = None
            if all(i.dims is not None and i.dtype is not None and all(isinstance(d, int) for d in i.dims)
                   for i in self.inputs):
                try:
                    outs = self.session.run(self.outputs, {i.name: np.zeros((1, *i.dims), i.dtype)
                                                           for i in self.inputs})
                    self._blanks = [np.zeros_like(np.asarray(o)[0]) for o in outs]
                except Exception:       # a model that cannot run on zeros: no template
                    pass
        return self._blanks

    def _feed(self, batch: Mapping[str, np.ndarray], inp: ModelInput, ids: Sequence[str]) -> np.ndarray:
        cols = self.columns[inp.name]
        for c in cols:
            if c not in batch:
                raise InvalidInputError(f"{self.model}: input {inp.name!r} reads column {c!r}, which the "
                                        f"data does not have; its columns are {sorted(batch)} "
                                        f"(map inputs to columns with columns=/--columns)")
        parts = [self._dense(batch, c, ids) for c in cols]
        if len(parts) == 1:
            x = parts[0]
        else:                           # tabular features: scalar (or 1-d) columns side by side
            x = np.concatenate([p.reshape(len(p), -1) for p in parts], axis=1)
        if inp.dtype is not None and x.dtype != inp.dtype:
            # a cast within a kind (float64 -> float32, int32 -> int64) is what Parquet data needs;
            # across kinds (float -> int, strings) it is a mistake
            if not np.can_cast(x.dtype, inp.dtype, "same_kind") or x.dtype.kind not in "biuf":
                raise InvalidInputError(
                    f"{self.model}: column {'+'.join(cols)} holds {x.dtype} but input {inp.name!r} takes "
                    f"{inp.dtype} (rows from {_row_name(batch, ids, 0)}); cast the column")
            x = x.astype(inp.dtype)
        if inp.dims is not None:
            row = x.shape[1:]
            if len(row) != len(inp.dims) or any(d is not None and d != r for d, r in zip(inp.dims, row)):
                want = ["N"] + ["?" if d is None else d for d in inp.dims]
                raise InvalidInputError(
                    f"{self.model}: column {'+'.join(cols)} gives rows of shape {list(row)} but input "
                    f"{inp.name!r} takes {want} (rows from {_row_name(batch, ids, 0)})")
        return x

    def _dense(self, batch: Mapping[str, np.ndarray], col: str, ids: Sequence[str]) -> np.ndarray:
        """Column ``col`` as one array (rows stacked); a ragged column names its odd row."""
        a = batch[col]
        if a.dtype != object:
            return a
        first = np.asarray(a[0]) if len(a) else None
        for k, r in enumerate(a):
            r = np.asarray(r)
            if r.shape != first.shape or r.dtype != first.dtype or r.dtype == object:
                raise InvalidInputError(
                    f"{self.model}: column {col!r}: {_row_name(batch, ids, k)} has shape {list(r.shape)} "
                    f"and type {r.dtype}, unlike the batch's first row ({list(first.shape)}, {first.dtype})")
        return np.stack([np.asarray(r) for r in a])
