"""``Session``: load a model once, run it many times (the onnxruntime API)."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from ..defs import type_string
from ..errors import ExternalDataError, InvalidInputError, OptimizeError, ProviderError, RunError
from ..ir import DataType, Model, TensorType, Type, Value
from ..ir._domain import normalize_opsets
from . import _threads
from ._plan import Plan, describe_value, model_functions

__all__ = ["NodeArg", "NodeProfile", "Session", "run"]


@dataclass(frozen=True)
class NodeArg:
    """A graph input or output as onnxruntime describes it."""
    name: str
    type: str                 # "tensor(float)", "seq(tensor(int64))", ...
    shape: list | None        # ints, symbols (str) and None; None when the rank is unknown


@dataclass(frozen=True)
class NodeProfile:
    """One node's share of a profiled run (``Session.profile``, ``run(profile=True)``):
    its index in the plan, name and op type, wall-clock seconds, and the shapes
    and total bytes of its outputs."""
    index: int
    name: str
    op_type: str
    seconds: float
    output_shapes: list
    output_bytes: int


def _type_str(t: Type | None) -> str:
    """onnxruntime's spelling: ``tensor(float)``, ``seq(tensor(int64))`` ..."""
    return type_string(t) or (str(t) if t is not None else "unknown")


def _run_optimizer(optimize: Any, model: Model, inplace: bool) -> tuple[Model, Any]:
    """(the optimized model, the optimizer's report).  A level runs onnxkit's
    optimizer (the passes package: the runtime sits above it in the layers),
    constants folded once at any size; a callable rewrites the model in place."""
    if not callable(optimize):
        from ..passes import optimize as optimize_level
        return optimize_level(model, optimize, report=True, fold_limit=1 << 40, inplace=inplace)
    if not inplace:
        from ..ir import clone_model
        model = clone_model(model)
    return model, optimize(model)


def _as_model(model_or_path: Any) -> Model:
    if isinstance(model_or_path, Model):
        return model_or_path
    if isinstance(model_or_path, (str, os.PathLike, bytes, bytearray, memoryview)):
        from .._io import load
        return load(model_or_path)
    if hasattr(model_or_path, "SerializeToString"):      # an onnx ModelProto
        from .._io import load
        return load(model_or_path.SerializeToString())
    raise TypeError(f"Session takes a Model, a path or bytes, not {type(model_or_path).__name__}")


class Session:
    """Run a model: ``Session(model_or_path).run(None, {"x": array})``.

    ``seed`` seeds the generator of random ops that carry no seed of their own.
    ``optimize``: the optimization level applied to (a copy of) the model
    before planning (see :func:`onnxkit.optimize`); ``"runtime"`` by default,
    ``"none"`` runs the graph as written.  Or the optimizer itself: a callable
    that rewrites the model it is given in place (e.g. a
    :class:`~onnxkit.passes.PassManager`) and returns a report or None.
    ``self.optimize_report`` says what was done.

    ``providers``: the execution provider, a list of one name: ``["numpy"]``
    (the default, onnxkit's own plan) or ``["torch"]`` (the module of
    :func:`onnxkit.to_torch`, onnxkit[torch]), with ``provider_options`` a
    list of one dict (torch: ``{"device": "cpu" | "cuda", "compile": False}``).
    The torch provider imports the model as given (``optimize`` applies to the
    numpy provider).  A provider that is unknown or not available here raises
    :class:`~onnxkit.errors.ProviderError`; there is no fallback.
    ``get_providers()`` says which provider runs.

    ``threads``: the threads a run uses, for numpy's BLAS and for onnxkit's
    own parallel work (element-wise passes, normalizations, copies split over
    rows); by default the cores this process may use (its CPU affinity and
    cgroup quota, not ``os.cpu_count()``).  ``threads=1`` runs on one thread.
    More than the cores available is capped at the cores (warned once).  The
    BLAS count is set around each run and put back after it; runs of sessions
    with different counts in other threads wait for each other (see
    :mod:`onnxkit.runtime._threads`).  ``self.threads`` is the count given or
    found.  With ``ONNXKIT_GEMM=split`` in the environment the GEMMs too are
    split over onnxkit's own pool, BLAS on one thread (much steadier beside
    other busy processes; see the README).  The torch provider sets torch's
    CPU thread count (process-wide) to ``threads`` for the duration of a run.
    """

    def __init__(self, model_or_path: Any, *, seed: int | None = None,
                 optimize: str | int | Callable[[Model], Any] = "runtime",
                 providers: Sequence[Any] | None = None,
                 provider_options: Sequence[dict] | None = None, threads: int | None = None) -> None:
        from .._io import external_data_problems
        from . import _providers
        self.threads = _threads.resolve_threads(threads)
        self._provider, options = _providers.resolve(providers, provider_options)
        model = self._load(model_or_path)
        problems = external_data_problems(model)
        if problems:    # say so now, not as a failing optimizer pass or a failing node
            more = f" (and {len(problems) - 1} more tensors)" if len(problems) > 1 else ""
            raise ExternalDataError(problems[0] + more)
        self._seed = seed
        self._runner = None
        if self._provider != "numpy":       # the provider imports the model as given
            optimize = "none"
            self._runner = _providers.create(self._provider, model, options)
            if hasattr(self._runner, "threads"):     # a provider with thread control of its own (torch)
                self._runner.threads = self.threads
        # the model as given, for run_intermediate: a Model is optimized as a copy; a model
        # loaded here is optimized in place and loaded again if the graph as written is asked for
        self._given = model_or_path
        self._plain: Plan | None = None
        self.optimize_report = None
        if optimize not in ("none", 0):     # a copy sharing the weights; constants folded once, any size
            try:
                model, self.optimize_report = _run_optimizer(optimize, model, inplace=model is not model_or_path)
            except OptimizeError as e:      # run the graph as written: slower, never different
                warnings.warn(f"{e}; running the model unoptimized", RuntimeWarning, stacklevel=2)
                if model is not model_or_path:          # half rewritten in place: load it again
                    model = self._load(model_or_path)
        self.model = model
        self._plan = self._make_plan(model) if self._runner is None else None
        g = self.model.graph
        init = set(g.initializers)
        self._inputs = [v for v in g.inputs if v.name not in init]
        self._all_inputs = {v.name: v for v in g.inputs}
        self._outputs = {v.name: v for v in g.outputs}
        self.last_profile: list[NodeProfile] | None = None
        # per tensor input: (numpy dtype, dims with None for symbolic) for the quick check in _bind
        self._fast_check: dict[str, tuple] = {}
        for v in g.inputs:
            t = v.type
            if isinstance(t, TensorType) and t.shape is not None and t.elem_type not in (None, DataType.UNDEFINED,
                                                                                         DataType.STRING):
                try:
                    dt = t.elem_type.numpy_dtype
                except Exception:
                    continue
                self._fast_check[v.name] = (dt, tuple(d if isinstance(d, int) else None for d in t.shape.dims))

    @staticmethod
    def _load(model_or_path: Any) -> Model:
        model = _as_model(model_or_path)
        if model is not model_or_path:      # loaded here: its unaligned weights read aligned, once
            from .._io import read_unaligned_weights
            read_unaligned_weights(model)
        return model

    def _make_plan(self, model: Model) -> Plan:
        return Plan(model.graph, normalize_opsets(model.opset_imports), model_functions(model),
                    rng=np.random.default_rng(self._seed))

    # description ---------------------------------------------------------
    def get_providers(self) -> list[str]:
        """The execution providers in use (one): ``["numpy"]`` or ``["torch"]``."""
        return [self._provider]

    def get_provider_options(self) -> dict[str, dict]:
        """The options of each provider in use, by name (``{"torch": {"device": "cpu", ...}}``)."""
        return {self._provider: dict(self._runner.options) if self._runner is not None else {}}

    def get_inputs(self) -> list[NodeArg]:
        """The inputs to feed (graph inputs that are not initializers): name, type, shape."""
        return [_arg(v) for v in self._inputs]

    def get_outputs(self) -> list[NodeArg]:
        """The graph's outputs, in the order ``run(None, ...)`` returns them."""
        return [_arg(v) for v in self.model.graph.outputs]

    # running ---------------------------------------------------------------
    def run(self, output_names: Sequence[str] | None, feeds: Mapping[str, Any], *,
            return_intermediate: bool = False, profile: bool = False):
        """The outputs named (all when None), in order.  With
        ``return_intermediate=True`` a dict of every value computed, by name,
        is returned instead.  With ``profile=True`` the per-node profile is
        left in ``self.last_profile``."""
        if self._runner is not None:
            return self._run_provider(output_names, feeds, return_intermediate, profile)
        plan = self._plan
        if return_intermediate:         # every value of the model as written: run it unoptimized
            if self._plain is None:
                if self.optimize_report is None:
                    self._plain = plan
                else:
                    self._plain = self._make_plan(self._load(self._given))
            plan = self._plain
        env = self._bind(feeds)
        if plan is not self._plan:      # the same inputs, as values of the unoptimized graph
            by_name = {v.name: v for v in plan.graph.inputs}
            env = {by_name[v.name]: a for v, a in env.items()}
        fed = list(env.values())
        if isinstance(output_names, str):
            raise InvalidInputError(f"output_names must be a list of output names or None, not the "
                                    f"string {output_names!r}; write [{output_names!r}]")
        names = list(output_names) if output_names is not None else list(self._outputs)
        for n in names:
            if n not in self._outputs and not return_intermediate:
                raise InvalidInputError(f"unknown output {n!r}; the model's outputs are "
                                        f"{list(self._outputs)}")
        prof: list | None = [] if profile else None
        token = _threads.enter(self.threads)
        try:
            plan.run(env, keep_all=return_intermediate, profile=prof)
        finally:
            _threads.leave(token)
        if prof is not None:
            self.last_profile = [_profile_entry(step, t, r) for step, t, r in prof]
        if return_intermediate:
            return {v.name: a for v, a in env.items() if v.name}
        out = []
        for n in names:
            v = self._outputs[n]
            if v not in env:
                raise RunError(f"output {n!r} was not computed (is it produced by any node?)")
            a = env[v]
            if isinstance(a, np.ndarray) and (not a.flags.owndata or id(a) in plan.constant_ids
                                              or any(a is x for x in fed)):
                # an input or weight itself, or a view (of an input, a weight in the
                # mapped file, a broadcast): the caller gets an array of its own,
                # writable, as onnxruntime gives
                a = a.copy()
            out.append(a)
        return out

    def _run_provider(self, output_names, feeds, return_intermediate: bool, profile: bool) -> list:
        if return_intermediate or profile:
            what = "return_intermediate" if return_intermediate else "profile"
            raise ProviderError(f"run({what}=True) is a feature of the 'numpy' provider; this session "
                                f"runs on {self._provider!r} (make a Session without providers for it)")
        env = self._bind(feeds)
        if isinstance(output_names, str):
            raise InvalidInputError(f"output_names must be a list of output names or None, not the "
                                    f"string {output_names!r}; write [{output_names!r}]")
        names = list(output_names) if output_names is not None else list(self._outputs)
        for n in names:
            if n not in self._outputs:
                raise InvalidInputError(f"unknown output {n!r}; the model's outputs are "
                                        f"{list(self._outputs)}")
        return self._runner.run({v.name: a for v, a in env.items()}, names)

    def run_intermediate(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        """Every value the model computes (inputs, initializers, each node's
        outputs), by name."""
        return self.run(None, feeds, return_intermediate=True)

    def profile(self, feeds: Mapping[str, Any]) -> list[NodeProfile]:
        """Run once and return the time, output shapes and bytes of every node."""
        self.run(None, feeds, profile=True)
        return list(self.last_profile or ())

    def _bind(self, feeds: Mapping[str, Any]) -> dict:
        if type(feeds) is not dict and not isinstance(feeds, Mapping):
            raise InvalidInputError(f"feeds must be a dict of input name -> array, not {type(feeds).__name__}")
        env: dict = {}
        for name, x in feeds.items():
            v = self._all_inputs.get(name)
            if v is None:
                raise InvalidInputError(f"unknown input {name!r}; the model's inputs are "
                                        f"{[u.name for u in self._inputs]}")
            fast = self._fast_check.get(name)
            if fast is not None and type(x) is np.ndarray and x.dtype == fast[0] \
                    and len(x.shape) == len(fast[1]) \
                    and all(d is None or d == n for d, n in zip(fast[1], x.shape)):
                env[v] = x          # the common case, checked without building messages
            else:
                env[v] = _check_input(v, x)
        for v in self._inputs:
            if v not in env:
                raise InvalidInputError(f"missing input {v.name!r} ({_type_str(v.type)}, shape "
                                        f"{_shape_list(v.type)})")
        return env


def _shape_list(t: Type | None) -> list | None:
    if isinstance(t, TensorType) and t.shape is not None:
        return list(t.shape.dims)
    return None


def _arg(v: Value) -> NodeArg:
    return NodeArg(v.name, _type_str(v.type), _shape_list(v.type))


def _check_input(v: Value, x: Any) -> Any:
    t = v.type
    if not isinstance(t, TensorType) or isinstance(x, dict) or x is None:
        return x                 # sequences, maps, optionals: passed as given
    plain = not isinstance(x, np.ndarray)     # a Python list, tuple or number
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as e:
        raise InvalidInputError(f"input {v.name!r}: cannot be read as a tensor "
                                f"({type(x).__name__}: {e}); give a numpy array") from None
    want = t.elem_type
    if want is not None and want != DataType.UNDEFINED:
        try:
            expected = want.numpy_dtype
        except Exception:
            expected = None
        if expected is not None and a.dtype != expected and plain and a.dtype.kind in "biuf" \
                and np.can_cast(a.dtype, expected, "same_kind"):
            b = a.astype(expected)       # Python numbers: to the declared type, if they fit
            if a.dtype.kind == "f" or np.array_equal(b, a):
                a = b
        if expected is not None and a.dtype != expected:
            ok = want == DataType.STRING and a.dtype.kind in "OUS"
            if not ok:
                raise InvalidInputError(f"input {v.name!r}: expected element type {want.short_name} "
                                        f"({expected}), got {a.dtype}")
            a = a.astype(object)
    if t.shape is not None:
        dims = t.shape.dims
        if a.ndim != len(dims):
            raise InvalidInputError(f"input {v.name!r}: expected rank {len(dims)} (shape {list(dims)}), "
                                    f"got shape {list(a.shape)}")
        for k, (d, n) in enumerate(zip(dims, a.shape)):
            if isinstance(d, int) and d != n:
                raise InvalidInputError(f"input {v.name!r}: dim {k} must be {d} (shape {list(dims)}), "
                                        f"got shape {list(a.shape)}")
    return a


def _profile_entry(step, seconds: float, results: Iterable) -> NodeProfile:
    shapes, nbytes = [], 0
    for r in results:
        if isinstance(r, np.ndarray):
            shapes.append(list(r.shape))
            nbytes += r.nbytes
        else:
            shapes.append(describe_value(r))
    n = step.node
    return NodeProfile(step.index, n.name, n.op_type, seconds, shapes, nbytes)


def run(model: Any, feeds: Mapping[str, Any], output_names: Sequence[str] | None = None) -> list:
    """One-liner: ``onnxkit.run(model_or_path, {"x": x}) -> [outputs]``."""
    return Session(model).run(output_names, feeds)
