"""Control flow as plain Python modules: If, Loop, Scan.

Each subgraph is imported as its own GraphModule taking the subgraph's formal
inputs followed by the outer-scope values it reads, and returning a tuple of
its outputs.  The modules below run them with Python control flow in eager
PyTorch (a Python ``if`` costs nothing; ``torch.cond`` in eager mode would
compile).  Under ``torch.compile`` / ``torch.export`` a data-dependent Python
``if`` is a graph break or an error, so there an If whose branches give
tensors of one type and rank runs as ``torch.cond``, and a Loop whose
carried values keep their shapes and that has no scan outputs as
``torch._higher_order_ops.while_loop`` (``traceable``, decided at import from
the inferred types).  Anything else stays Python: eager works, tracing needs
its condition to be known.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

__all__ = ["IfModule", "LoopModule", "ScanModule", "ScanModule8"]


def _tracing() -> bool:
    """Under torch.compile (dynamo) or torch.export: where torch.cond / while_loop are needed."""
    return torch.compiler.is_compiling() or torch.compiler.is_exporting()


def _fresh(outs: Any, inputs: tuple) -> tuple:
    """A branch's outputs, with a copy of any that is one of its inputs
    (torch.cond and while_loop refuse outputs aliasing their operands)."""
    ids = {id(x) for x in inputs}
    return tuple(o.clone() if id(o) in ids else o for o in outs)


def _bool(x: Any, what: str) -> bool:
    if isinstance(x, torch.Tensor):
        if x.numel() != 1:
            raise ValueError(f"{what} must hold one element, got shape {list(x.shape)}")
        return bool(x.reshape(-1)[0])
    return bool(x.reshape(-1)[0]) if hasattr(x, "reshape") else bool(x)


def _empty(spec: tuple, axis: int, device: Any) -> torch.Tensor:
    dtype, dims = spec
    dims = list(dims)
    dims.insert(min(axis, len(dims)), 0)
    return torch.empty(dims, dtype=dtype, device=device)


def _stack(parts: list, axis: int, reverse: bool, spec: tuple, device: Any) -> torch.Tensor:
    if not parts:
        return _empty(spec, axis, device)
    if reverse:
        parts = parts[::-1]
    return torch.stack(parts, dim=axis)


class IfModule(torch.nn.Module):
    """``If(cond)``; ``traceable``: both branches give tensors of the same
    dtypes and ranks, so that a trace can take both as ``torch.cond``."""

    def __init__(self, then_branch: torch.nn.Module, else_branch: torch.nn.Module,
                 then_outer: Sequence[int], else_outer: Sequence[int], traceable: bool = False) -> None:
        super().__init__()
        self.then_branch = then_branch
        self.else_branch = else_branch
        self.then_outer = list(then_outer)
        self.else_outer = list(else_outer)
        self.traceable = traceable

    def forward(self, cond: Any, *outer: Any) -> tuple:
        if self.traceable and _tracing() and isinstance(cond, torch.Tensor) \
                and all(isinstance(x, torch.Tensor) for x in outer):
            return tuple(torch.cond(cond.reshape(()).bool(), self._then, self._else, tuple(outer)))
        if _bool(cond, "If condition"):
            return tuple(self.then_branch(*[outer[i] for i in self.then_outer]))
        return tuple(self.else_branch(*[outer[i] for i in self.else_outer]))

    def _then(self, *outer: Any) -> tuple:
        return _fresh(self.then_branch(*[outer[i] for i in self.then_outer]), outer)

    def _else(self, *outer: Any) -> tuple:
        return _fresh(self.else_branch(*[outer[i] for i in self.else_outer]), outer)


class LoopModule(torch.nn.Module):
    """``Loop(M, cond, *v_initial)``; ``scan_specs``: (dtype, dims) of each scan
    output, for a loop that runs zero times."""

    def __init__(self, body: torch.nn.Module, n_carried: int, scan_specs: Sequence[tuple],
                 traceable: bool = False) -> None:
        super().__init__()
        self.body = body
        self.n_carried = n_carried
        self.scan_specs = list(scan_specs)
        self.traceable = traceable and not self.scan_specs

    def forward(self, M: Any = None, cond: Any = None, *rest: Any) -> tuple:
        n = self.n_carried
        values, outer = list(rest[:n]), list(rest[n:])
        device = next((x.device for x in (M, cond, *rest) if isinstance(x, torch.Tensor)), None)
        if self.traceable and _tracing() and all(isinstance(x, torch.Tensor) for x in rest):
            return self._while_loop(M, cond, values, outer, device)
        max_trip = None if M is None else int(M.reshape(-1)[0])
        go = True if cond is None else _bool(cond, "Loop condition")
        scans: list[list] = [[] for _ in self.scan_specs]
        i = 0
        while go and (max_trip is None or i < max_trip):
            r = self.body(torch.tensor(i, dtype=torch.int64, device=device),
                          torch.tensor(go, device=device), *values, *outer)
            go = _bool(r[0], "Loop body condition output")
            values = list(r[1:1 + n])
            for k in range(len(scans)):
                scans[k].append(r[1 + n + k])
            i += 1
        return tuple(values) + tuple(_stack(s, 0, False, spec, device)
                                     for s, spec in zip(scans, self.scan_specs))

    def _while_loop(self, M: Any, cond: Any, values: list, outer: list, device: Any) -> tuple:
        """The loop as ``while_loop`` over (i, max trip count, go, *values)."""
        from torch._higher_order_ops.while_loop import while_loop
        i0 = torch.zeros((), dtype=torch.int64, device=device)
        big = torch.iinfo(torch.int64).max
        m0 = torch.full((), big, dtype=torch.int64, device=device) if M is None else M.reshape(()).to(torch.int64)
        go0 = torch.ones((), dtype=torch.bool, device=device) if cond is None else cond.reshape(()).bool()
        n = self.n_carried
        body = self.body

        def cond_fn(i, m, go, *values):
            return go & (i < m)

        def body_fn(i, m, go, *values):             # outer values: read from the enclosing scope
            r = body(i, go, *values, *outer)
            return (i + 1, m.clone(), r[0].reshape(()).bool().clone(), *_fresh(r[1:1 + n], values))

        out = while_loop(cond_fn, body_fn, (i0, m0, go0, *values))
        return tuple(out[3:3 + n])


def _scan(body, states: list, scan_inputs: list, outer: list, in_axes, in_dirs, out_axes, out_dirs,
          specs, device) -> tuple:
    n_state = len(states)
    views = []
    lengths = set()
    for x, ax, d in zip(scan_inputs, in_axes, in_dirs):
        x = torch.movedim(x, ax % x.dim(), 0)
        views.append(x.flip(0) if d else x)
        lengths.add(x.shape[0])
    if len(lengths) > 1:
        raise ValueError(f"Scan inputs differ in length along their scan axes: {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    scans: list[list] = [[] for _ in specs]
    for t in range(n):
        r = body(*states, *(v[t] for v in views), *outer)
        states = list(r[:n_state])
        for k in range(len(scans)):
            scans[k].append(r[n_state + k])
    results = []
    for k, s in enumerate(scans):
        rank = (s[0].dim() if s else len(specs[k][1])) + 1
        results.append(_stack(s, out_axes[k] % rank, bool(out_dirs[k]), specs[k], device))
    return tuple(states) + tuple(results)


def _per(values: Sequence[int] | None, n: int) -> list[int]:
    values = list(values or [])
    return values + [0] * (n - len(values))


class ScanModule(torch.nn.Module):
    """Scan, opset 9 and later."""

    def __init__(self, body: torch.nn.Module, n_state: int, n_scan_in: int, scan_specs: Sequence[tuple],
                 in_axes=None, in_dirs=None, out_axes=None, out_dirs=None) -> None:
        super().__init__()
        self.body = body
        self.n_state, self.n_in = n_state, n_scan_in
        self.specs = list(scan_specs)
        n_out = len(self.specs)
        self.in_axes, self.in_dirs = _per(in_axes, n_scan_in), _per(in_dirs, n_scan_in)
        self.out_axes, self.out_dirs = _per(out_axes, n_out), _per(out_dirs, n_out)

    def forward(self, *inputs: Any) -> tuple:
        s, m = self.n_state, self.n_in
        device = next((x.device for x in inputs if isinstance(x, torch.Tensor)), None)
        return _scan(self.body, list(inputs[:s]), list(inputs[s:s + m]), list(inputs[s + m:]),
                     self.in_axes, self.in_dirs, self.out_axes, self.out_dirs, self.specs, device)


class ScanModule8(torch.nn.Module):
    """Scan-8: a leading batch axis, each entry scanned over its own length."""

    def __init__(self, body: torch.nn.Module, n_state: int, n_scan_in: int, scan_specs: Sequence[tuple],
                 directions=None) -> None:
        super().__init__()
        self.body = body
        self.n_state, self.n_in = n_state, n_scan_in
        self.specs = list(scan_specs)
        self.dirs = _per(directions, n_scan_in)

    def forward(self, sequence_lens: Any = None, *inputs: Any) -> tuple:
        s, m = self.n_state, self.n_in
        states, scan_in, outer = list(inputs[:s]), list(inputs[s:s + m]), list(inputs[s + m:])
        device = scan_in[0].device
        batch = scan_in[0].shape[0]
        max_len = scan_in[0].shape[1]
        lens = [max_len] * batch if sequence_lens is None else [int(v) for v in sequence_lens.reshape(-1)]
        n_out = len(self.specs)
        per_batch = []
        for b in range(batch):
            L = lens[b]
            per_batch.append(_scan(self.body, [x[b] for x in states], [x[b, :L] for x in scan_in], outer,
                                   [0] * m, self.dirs, [0] * n_out, [0] * n_out, self.specs, device))
        outs = []
        for k in range(s + n_out):
            parts = [r[k] for r in per_batch]
            if k >= s:
                parts = [torch.nn.functional.pad(p, [0, 0] * (p.dim() - 1) + [0, max_len - p.shape[0]])
                         for p in parts]
            outs.append(torch.stack(parts))
        return tuple(outs)
