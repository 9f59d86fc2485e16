"""The pass manager's check mode: after each pass that changed the model, the
checker still accepts it (when it accepted the model as given) and a small
model still computes what it computed before (random inputs, every node
evaluated with :func:`onnxkit.ops.evaluate_node`).

On with ``PassManager(..., check=True)`` or the environment variable
``ONNXKIT_CHECK_PASSES=1`` (the pass tests set it).  Slow: for tests.
"""

from __future__ import annotations

import os

import numpy as np

from ..ir import DataType, Model, TensorType
from ..ir._domain import normalize_opsets
from ..ops import evaluate_node
from ..ops._evaluate import model_functions
from ._base import Pass, PostconditionError

__all__ = ["ENV", "PassChecker", "check_mode"]

#: the environment variable that turns the check mode on
ENV = "ONNXKIT_CHECK_PASSES"

#: models up to this many nodes and weight bytes are run before and after each pass
MAX_NODES, MAX_BYTES = 2000, 16 << 20
_FREE_DIM = 3               # a symbolic dimension, when the model is run


def check_mode() -> bool:
    return os.environ.get(ENV, "") not in ("", "0")


class PassChecker:
    """Remember what ``model`` is (valid? its outputs on random inputs) and
    check it again after each pass."""

    def __init__(self, model: Model) -> None:
        from ..check import find_problems
        self.valid = not find_problems(model)
        self.feeds = _feeds(model) if _small(model) else None
        self.want = _outputs(model, self.feeds) if self.feeds is not None else None
        if self.want is not None:       # random ops: nothing to compare with
            again = _outputs(model, self.feeds)
            if again is None or not all(_same(a, b) for a, b in zip(self.want, again)):
                self.want = None

    def after(self, p: Pass, model: Model) -> None:
        if self.valid:
            from ..check import find_problems
            problems = find_problems(model)
            if problems:
                raise PostconditionError(f"after pass {p.name!r} the checker finds: {problems[0]}"
                                         + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
        if self.want is None:
            return
        got = _outputs(model, self.feeds)
        if got is None:
            raise PostconditionError(f"after pass {p.name!r} the model no longer runs on the inputs it ran on")
        for v, a, b in zip(model.graph.outputs, self.want, got):
            if not _same(a, b):
                raise PostconditionError(f"after pass {p.name!r} output {v.name!r} changed: "
                                         f"{_describe(a)} before, {_describe(b)} after")


def _small(model: Model) -> bool:
    g = model.graph
    if len(g) > MAX_NODES or any(n.subgraphs() for n in g):
        return False
    size = 0
    for v in g.initializers.values():
        try:
            size += v.const_value.nbytes
        except Exception:
            return False
    return size <= MAX_BYTES


def _feeds(model: Model) -> dict | None:
    rng = np.random.default_rng(0)
    feeds = {}
    for v in model.graph.inputs:
        if v.name in model.graph.initializers:
            continue
        t = v.type
        if not isinstance(t, TensorType) or t.shape is None or t.elem_type in (None, DataType.UNDEFINED):
            return None
        try:
            dt = np.dtype(t.elem_type.numpy_dtype)
        except Exception:
            return None
        dims = [d if isinstance(d, int) else _FREE_DIM for d in t.shape.dims]
        if dt.kind == "f":
            feeds[v] = rng.standard_normal(dims).astype(dt)
        elif dt.kind in "iu":
            feeds[v] = rng.integers(0, 3, dims).astype(dt)
        elif dt.kind == "b":
            feeds[v] = rng.integers(0, 2, dims).astype(bool)
        else:
            return None
    return feeds


def _outputs(model: Model, feeds: dict) -> list | None:
    """The main graph's outputs for ``feeds`` (by input name), or None when it does not run."""
    g = model.graph
    opsets, functions = normalize_opsets(model.opset_imports), model_functions(model)
    env = {v: v.const_value.numpy() for v in g.initializers.values()}
    by_name = {v.name: x for v, x in feeds.items()}
    for v in g.inputs:
        if v.name in by_name:
            env[v] = by_name[v.name]
    try:
        with np.errstate(all="ignore"):
            for node in g:
                results = evaluate_node(node, [None if v is None else env[v] for v in node.inputs], opsets,
                                        functions=functions)
                env.update(zip(node.outputs, results))
        return [env[v] for v in g.outputs]
    except Exception:
        return None


def _same(a, b) -> bool:
    """Equal, up to how fusions round: 1e-3 of the output's scale (3e-2 for 16-bit floats)."""
    if not isinstance(a, np.ndarray) or not isinstance(b, np.ndarray):
        return type(a) is type(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind not in "fcV":
        return bool(np.array_equal(a, b))
    tol = 3e-2 if a.dtype.itemsize <= 2 else 1e-3
    a, b = a.astype(np.float64), b.astype(np.float64)
    finite = np.abs(a[np.isfinite(a)])
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    return bool(np.allclose(a, b, rtol=tol, atol=tol * scale, equal_nan=True))


def _describe(x) -> str:
    return f"{x.dtype}{list(x.shape)}" if isinstance(x, np.ndarray) else type(x).__name__
