"""``onnxkit.export``: arguments in, traced program, ONNX model out."""

from __future__ import annotations

import inspect
import sys
import time
import warnings
from typing import Any, Callable, Iterator, Sequence

import torch

from .._gc import gc_paused
from ..ir import Model
from ._errors import ExportError

DEFAULT_OPSET = 20
MIN_OPSET = 18


class _Inputs:
    """The example inputs flattened: tensor leaves become graph inputs, other leaves stay constant."""

    def __init__(self, fn: Callable, args: tuple, kwargs: dict, input_names: Sequence[str] | None,
                 dynamic_shapes: Any) -> None:
        self.args, self.kwargs = args, kwargs
        leaves, self.spec = torch.utils._pytree.tree_flatten((args, kwargs))
        self.leaves = leaves
        self.tensor_idx = [i for i, x in enumerate(leaves) if isinstance(x, torch.Tensor)]
        self.tensors = [leaves[i] for i in self.tensor_idx]
        # which parameter of fn each leaf belongs to
        params = _param_names(fn)
        owners: list[tuple[str, int | None, int]] = []  # (parameter name, position, count within)
        for pos, a in enumerate(args):
            name = params[pos] if pos < len(params) else f"input_{pos}"
            n = len(torch.utils._pytree.tree_leaves(a))
            owners += [(name, pos, k) for k in range(n)]
        for key, v in kwargs.items():
            n = len(torch.utils._pytree.tree_leaves(v))
            owners += [(key, None, k) for k in range(n)]
        counts: dict[str, int] = {}
        for name, _, _ in owners:
            counts[name] = counts.get(name, 0) + 1
        names = []
        self.owner = []
        for i in self.tensor_idx:
            name, pos, k = owners[i]
            self.owner.append((name, pos))
            names.append(name if counts[name] == 1 else f"{name}_{k}")
        if input_names is not None:
            input_names = list(input_names)
            if len(input_names) != len(names):
                raise ExportError(f"input_names has {len(input_names)} names but the example inputs "
                                  f"hold {len(names)} tensors ({', '.join(names)})")
            names = input_names
        self.names = names
        self.dynamic = self._dynamic(dynamic_shapes)

    def _dynamic(self, spec: Any) -> list[dict[int, str]]:
        out: list[dict[int, str]] = [{} for _ in self.tensors]
        if spec is None:
            return out
        if isinstance(spec, (list, tuple)):
            spec = dict(enumerate(spec))
        if not isinstance(spec, dict):
            raise ExportError("dynamic_shapes must be a dict {input name or position: {dim: 'name'}}, "
                              f"not {type(spec).__name__}")
        for key, dims in spec.items():
            if dims is None:
                continue
            hits = [j for j, (name, pos) in enumerate(self.owner)
                    if key == self.names[j] or key == name or (isinstance(key, int) and key == pos)]
            if not hits:
                raise ExportError(f"dynamic_shapes names input {key!r}, which is not among the "
                                  f"tensor inputs ({', '.join(self.names)}); use their names or "
                                  "positions")
            if isinstance(dims, (list, tuple)):
                dims = {i: d for i, d in enumerate(dims) if d is not None}
            if not isinstance(dims, dict):
                raise ExportError(f"dynamic_shapes[{key!r}] must be a dict {{dim: 'name'}}, e.g. "
                                  "{0: 'batch', 1: 'seq'}")
            for j in hits:
                t = self.tensors[j]
                d2 = {}
                for d, name in dims.items():
                    if not isinstance(d, int) or not -t.dim() <= d < t.dim():
                        raise ExportError(f"dynamic_shapes[{key!r}]: dim {d!r} does not exist in an "
                                          f"input of shape {tuple(t.shape)}")
                    d = d % t.dim()
                    name = str(name) if name is not True else f"{self.names[j]}_dim{d}"
                    if t.shape[d] < 2:
                        raise ExportError(
                            f"input {self.names[j]!r} has size {t.shape[d]} in dim {d}, which is "
                            f"named dynamic ({name!r}): give an example of size 2 or more there "
                            "(sizes 0 and 1 are specialized by the tracer)")
                    d2[d] = name
                out[j] = d2
        return out

    def rebuild(self, tensors: Sequence[Any]) -> tuple[tuple, dict]:
        leaves = list(self.leaves)
        for i, t in zip(self.tensor_idx, tensors):
            leaves[i] = t
        return torch.utils._pytree.tree_unflatten(leaves, self.spec)


def _param_names(fn: Callable) -> list[str]:
    target = fn.forward if isinstance(fn, torch.nn.Module) else fn
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return []
    return [p.name for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def flatten_outputs(out: Any, prefix: str = "") -> list[tuple[str, torch.Tensor]]:
    """(name, tensor) for every tensor in a program's result, names from dict keys / positions."""
    res: list[tuple[str, torch.Tensor]] = []

    def walk(x: Any, name: str) -> None:
        if isinstance(x, torch.Tensor):
            res.append((name or "output", x))
        elif x is None or isinstance(x, (int, float, bool, str)):
            return
        elif isinstance(x, dict) or (hasattr(x, "keys") and hasattr(x, "__getitem__")):
            for k in list(x.keys()):
                walk(x[k], f"{name}.{k}" if name else str(k))
        elif isinstance(x, (list, tuple)):
            for i, v in enumerate(x):
                walk(v, f"{name}.{i}" if name else f"output_{i}")
        else:
            leaves, _ = torch.utils._pytree.tree_flatten(x)
            if len(leaves) == 1 and leaves[0] is x:
                raise ExportError(f"the program returns a {type(x).__name__}, which holds no tensors "
                                  "that onnxkit can find; return tensors (or tuples/dicts of them)")
            for i, v in enumerate(leaves):
                walk(v, f"{name}.{i}" if name else f"output_{i}")

    walk(out, prefix)
    return res


def export(fn: Callable, args: Any = (), kwargs: dict | None = None, *,
           input_names: Sequence[str] | None = None, output_names: Sequence[str] | None = None,
           dynamic_shapes: Any = None, opset: int | None = None, verify: bool = False,
           max_branches: int | None = None, progress: Callable[[str], None] | None = None) -> Model:
    """Export a PyTorch module or function to an ONNX :class:`~onnxkit.Model` by tracing.

    ``args``/``kwargs``: example inputs (a lone tensor is taken as ``(tensor,)``).
    ``dynamic_shapes``: ``{input name or position: {dim: "name"}}`` — those dims
    stay symbolic and the model runs at other sizes.  ``opset``: the ONNX opset
    (default 20).  ``verify``: run the model (onnxruntime, and onnxkit's runtime
    when present) against eager PyTorch at the example size and at other sizes of
    the dynamic dims, print the max errors, and raise ExportError on a mismatch.
    ``max_branches``: how many data-dependent decisions one run may take (default
    16; each is explored both ways and becomes an ONNX If; the program is traced
    at most 4 * max_branches times, at least 64: a decision costs about two more
    traces when what follows it does not depend on the side taken, nested or
    dependent ones more).
    A Python decision on a dynamic size (``if x.size(0) == 1:``) becomes an If on
    the size; one that cannot (``range(x.shape[0])``, ``int(n * 0.5)``) makes
    the model refuse, at run time, sizes it was not traced for, listed in
    ``model.metadata_props["onnxkit.size_guards"]`` and in a warning.
    ``progress``: called with a line of text as each stage (tracing,
    converting, verifying) starts and ends.
    """
    from . import _rules  # noqa: F401  (registers the built-in rules)
    from ._convert import Converter, Placeholder
    from ._trace import MAX_DECISIONS, TraceTree

    if not callable(fn):
        raise ExportError(f"export() needs a torch.nn.Module or a function, not {type(fn).__name__}")
    if not isinstance(args, tuple):
        args = tuple(args) if isinstance(args, list) else (args,)
    kwargs = dict(kwargs or {})
    opset = DEFAULT_OPSET if opset is None else int(opset)
    if opset < MIN_OPSET:
        raise ExportError(f"opset {opset} is too old for onnxkit's exporter; use {MIN_OPSET} or newer")
    from ..defs import max_opset
    if opset > max_opset():
        raise ExportError(f"opset {opset} is newer than the newest this onnxkit knows ({max_opset()}); "
                          f"use {MIN_OPSET} to {max_opset()}")
    inputs = _Inputs(fn, args, kwargs, input_names, dynamic_shapes)

    params: list[tuple[str, torch.Tensor]] = []
    buffers: set[int] = set()
    if isinstance(fn, torch.nn.Module):
        seen: set[int] = set()
        for name, p in list(fn.named_parameters()) + list(fn.named_buffers()):
            if id(p) in seen:  # tied weights: stored once
                continue
            seen.add(id(p))
            params.append((name, p))
        buffers = {id(b) for b in fn.buffers()}
    labels = [f"{'buffer' if id(p) in buffers else 'parameter'} {n!r}" for n, p in params]
    labels += [f"input {n!r}" for n in inputs.names]
    n_params = len(params)
    pnames = [n for n, _ in params]
    out_names: list[str] = []

    def flat_fn(*flat: torch.Tensor) -> list[torch.Tensor]:
        a, kw = inputs.rebuild(flat[n_params:])
        if isinstance(fn, torch.nn.Module):
            out = torch.func.functional_call(fn, dict(zip(pnames, flat[:n_params])), a, kw)
        else:
            out = fn(*a, **kw)
        named = flatten_outputs(out)
        if not named:
            raise ExportError("the program returns no tensors")
        out_names[:] = [n for n, _ in named]
        return [t for _, t in named]

    say = progress or (lambda line: None)
    t0 = time.perf_counter()
    say(f"tracing {type(fn).__name__} ({_plural(len(params), 'weight')}, "
        f"{_plural(len(inputs.tensors), 'input')}) ...")
    tree = TraceTree(flat_fn, [p for _, p in params] + inputs.tensors, [None] * n_params + inputs.dynamic,
                     max_decisions=max_branches or MAX_DECISIONS, labels=labels)
    with gc_paused():
        tree.first()  # the first run names the outputs; the converter asks for the others
    if output_names is not None:
        output_names = list(output_names)
        if len(output_names) != len(out_names):
            raise ExportError(f"output_names has {len(output_names)} names but the program returns "
                              f"{len(out_names)} tensors ({', '.join(out_names)})")
    else:
        output_names = _unique(out_names, set(inputs.names))
    placeholders = [Placeholder(n, tensor=p) for n, p in params] + [
        Placeholder(n, dynamic=d, example=t) for n, d, t in zip(inputs.names, inputs.dynamic, inputs.tensors)]
    say(f"traced in {time.perf_counter() - t0:.1f} s; converting to ONNX opset {opset} "
        "(tracing the other side of each data-dependent branch) ...")
    t0 = time.perf_counter()
    with gc_paused():
        conv = Converter(tree, placeholders, output_names, opset)
        model = conv.run()
    say(f"converted: {len(model.graph)} nodes from {_plural(len(tree.traces), 'traced path')} "
        f"in {time.perf_counter() - t0:.1f} s")
    for f in tree.failures:
        where = f.decision_src[-1] if f.decision_src else "?"
        warnings.warn(f"onnxkit.export: after the data-dependent decision at {where} went "
                      f"{f.path[-1] if f.path else '?'}, the program raised {type(f.error).__name__}: "
                      f"{f.error}; the exported model assumes the other outcome", stacklevel=2)
    if conv.guards:
        from ._guards import warning_text

        warnings.warn(warning_text(conv.guards), stacklevel=2)
    if verify:
        say("verifying against eager PyTorch ...")
        from ._verify import verify as run_verify

        report = run_verify(model, fn, args, kwargs, dynamic_shapes=dynamic_shapes,
                            input_names=input_names)
        print(report, file=sys.stderr)
        if not report.ok:
            raise ExportError(f"verification failed: the exported model disagrees with eager "
                              f"PyTorch\n{report}")
    return model


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _unique(names: list[str], taken: set[str]) -> list[str]:
    out, used = [], set(taken)
    for n in names:
        m, k = n, 1
        while m in used:
            m, k = f"{n}_{k}", k + 1
        used.add(m)
        out.append(m)
    return out
