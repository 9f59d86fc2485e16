"""Control flow: If, Loop, Scan.

Subgraphs reach the kernels as callables (``body(*inputs) -> list``) that read
outer-scope values on their own (see :class:`onnxkit.runtime._plan.BoundGraph`).
Loop-carried values may be tensors, sequences (lists) or optionals (None).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import RunError
from ..ir import DataType, OptionalType, SequenceType, TensorType
from ._registry import kernel, shape
from ._shape import normalize_axis

__all__ = ["union_type"]


def _scalar_bool(x: Any, what: str) -> bool:
    a = np.asarray(x)
    if a.size != 1:
        raise RunError(f"{what} must hold one element, got shape {list(a.shape)}")
    return bool(a.reshape(-1)[0])


def _empty_scan_output(value: Any, axis: int = 0) -> np.ndarray:
    """A scan output of zero iterations, shaped from the body output's declared type."""
    t = getattr(value, "type", None)
    dtype = np.float32
    dims: list[int] = []
    if isinstance(t, TensorType):
        if t.elem_type not in (None, DataType.UNDEFINED):
            dtype = t.elem_type.numpy_dtype
        if t.shape is not None:
            dims = [d if isinstance(d, int) else 0 for d in t.shape.dims]
    dims.insert(axis if axis <= len(dims) else len(dims), 0)
    return np.empty(dims, dtype=dtype)


def _stack(parts: list, axis: int, reverse: bool, body_out: Any) -> np.ndarray:
    if not parts:
        return _empty_scan_output(body_out, axis)
    if reverse:
        parts = parts[::-1]
    return np.stack([np.asarray(p) for p in parts], axis=axis)


# ------------------------------------------------------------------- If
@kernel("If", 1)
def if_(cond, *, then_branch, else_branch):
    branch = then_branch if _scalar_bool(cond, "If condition") else else_branch
    return tuple(branch())


# ------------------------------------------------------------------- Loop
@kernel("Loop", 1)
def loop(M=None, cond=None, *v_initial, body):
    """Run ``body`` while ``cond`` holds and fewer than ``M`` iterations ran."""
    n_carried = len(v_initial)
    outs = body.graph.outputs
    n_scan = len(outs) - 1 - n_carried
    if n_scan < 0:
        raise RunError(f"Loop body has {len(outs)} outputs, needs at least 1 + {n_carried} "
                       "(condition and loop-carried values)")
    max_trip = None if M is None else int(np.asarray(M).reshape(-1)[0])
    go = True if cond is None else _scalar_bool(cond, "Loop condition")
    values = list(v_initial)
    scans: list[list] = [[] for _ in range(n_scan)]
    i = 0
    while go and (max_trip is None or i < max_trip):
        r = body(np.array(i, dtype=np.int64), np.array(go), *values)
        go = _scalar_bool(r[0], "Loop body condition output")
        values = list(r[1:1 + n_carried])
        for k in range(n_scan):
            scans[k].append(r[1 + n_carried + k])
        i += 1
    return tuple(values) + tuple(_stack(s, 0, False, outs[1 + n_carried + k])
                                 for k, s in enumerate(scans))


# ------------------------------------------------------------------- Scan
def _scan(body, states: list, scan_inputs: list, in_axes: Sequence[int], in_dirs: Sequence[int],
          out_axes: Sequence[int], out_dirs: Sequence[int]) -> tuple:
    """One Scan (opset 9 semantics) over non-batched inputs."""
    n_state = len(states)
    outs = body.graph.outputs
    n_out_scan = len(outs) - n_state
    views = []
    lengths = set()
    for x, ax, d in zip(scan_inputs, in_axes, in_dirs):
        x = np.moveaxis(x, normalize_axis(ax, x.ndim), 0)
        views.append(x[::-1] if d else x)
        lengths.add(x.shape[0])
    if len(lengths) > 1:
        raise RunError(f"Scan inputs differ in length along their scan axes: {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    scans: list[list] = [[] for _ in range(n_out_scan)]
    for t in range(n):
        r = body(*states, *(v[t] for v in views))
        states = list(r[:n_state])
        for k in range(n_out_scan):
            scans[k].append(r[n_state + k])
    results = []
    for k, s in enumerate(scans):
        rank = (np.asarray(s[0]).ndim if s else 0) + 1
        axis = normalize_axis(out_axes[k] if k < len(out_axes) else 0, rank)
        results.append(_stack(s, axis, bool(out_dirs[k]) if k < len(out_dirs) else False,
                              outs[n_state + k]))
    return tuple(states) + tuple(results)


def _per_input(values: Sequence[int] | None, n: int) -> list[int]:
    values = list(values or [])
    return values + [0] * (n - len(values))


@kernel("Scan", 9)
def scan(*inputs, body, num_scan_inputs, scan_input_axes=None, scan_input_directions=None,
         scan_output_axes=None, scan_output_directions=None):
    m = num_scan_inputs
    n_state = len(inputs) - m
    n_out = len(body.graph.outputs) - n_state
    return _scan(body, list(inputs[:n_state]), list(inputs[n_state:]), _per_input(scan_input_axes, m),
                 _per_input(scan_input_directions, m), _per_input(scan_output_axes, n_out),
                 _per_input(scan_output_directions, n_out))


@kernel("Scan", 8)
def scan8(sequence_lens=None, *inputs, body, num_scan_inputs, directions=None):
    """Opset 8: every input has a leading batch dim; each batch entry is scanned
    over its own length (``sequence_lens``), outputs padded with zeros."""
    m = num_scan_inputs
    n_state = len(inputs) - m
    n_out = len(body.graph.outputs) - n_state
    dirs = _per_input(directions, m)
    batch = inputs[0].shape[0] if inputs else 0
    max_len = inputs[n_state].shape[1]
    lens = np.full(batch, max_len, np.int64) if sequence_lens is None else np.asarray(sequence_lens)
    per_batch = []
    for b in range(batch):
        L = int(lens[b])
        per_batch.append(_scan(body, [x[b] for x in inputs[:n_state]],
                               [x[b, :L] for x in inputs[n_state:]], [0] * m, dirs, [0] * n_out,
                               [0] * n_out))
    outs = []
    for k in range(len(body.graph.outputs)):
        parts = [r[k] for r in per_batch]
        if k >= n_state:
            parts = [np.pad(p, [(0, max_len - p.shape[0])] + [(0, 0)] * (p.ndim - 1)) for p in parts]
        outs.append(np.stack(parts) if parts else _empty_scan_output(body.graph.outputs[k]))
    return tuple(outs)


# ------------------------------------------------------------------- shape rules
def union_type(a: Any, b: Any) -> Any:
    """The type of a value that is either of type ``a`` or ``b``: equal dims
    kept, differing dims unknown, differing ranks an unknown rank.  None when
    either is unknown or when they are of different kinds / element types."""
    if a is None or b is None:
        return None
    if isinstance(a, TensorType) and isinstance(b, TensorType):
        if a.elem_type != b.elem_type:
            return None
        if a.shape is None or b.shape is None or len(a.shape) != len(b.shape):
            return TensorType(a.elem_type)
        return TensorType(a.elem_type, [x if x == y else None for x, y in zip(a.shape.dims, b.shape.dims)])
    for kind in (SequenceType, OptionalType):
        if isinstance(a, kind) and isinstance(b, kind):
            inner = union_type(a.elem_type, b.elem_type)
            return kind(inner) if inner is not None else None
    return a if a == b else None


def _scalar(dtype: DataType) -> TensorType:
    return TensorType(dtype, [])


def _with_dim(t: Any, axis: int, dim: Any) -> Any:
    """Tensor type ``t`` with ``dim`` inserted at ``axis`` (None for unknown rank)."""
    if not isinstance(t, TensorType):
        return None
    if t.shape is None:
        return TensorType(t.elem_type)
    dims = list(t.shape.dims)
    axis = axis + len(dims) + 1 if axis < 0 else axis
    if not 0 <= axis <= len(dims):
        return TensorType(t.elem_type)
    dims.insert(axis, dim)
    return TensorType(t.elem_type, dims)


def _without_dim(t: Any, axis: int) -> Any:
    if not isinstance(t, TensorType) or t.shape is None:
        return t
    dims = list(t.shape.dims)
    if not -len(dims) <= axis < len(dims):
        return TensorType(t.elem_type)
    del dims[axis]
    return TensorType(t.elem_type, dims)


def _dim(t: Any, axis: int) -> Any:
    if isinstance(t, TensorType) and t.shape is not None and -len(t.shape) <= axis < len(t.shape):
        return t.shape.dims[axis]
    return None


@shape("If", 1)
def if_shape(ctx) -> None:
    then_t = ctx.infer_subgraph(ctx.attr("then_branch"), [])
    else_t = ctx.infer_subgraph(ctx.attr("else_branch"), [])
    if len(then_t) != len(else_t):
        ctx.fail(f"then_branch has {len(then_t)} outputs, else_branch {len(else_t)}")
    cond = ctx.input_value(0)
    for i in range(ctx.n_outputs):
        if i >= len(then_t):
            break
        if cond is not None and np.asarray(cond).size == 1:
            t = then_t[i] if bool(np.asarray(cond).reshape(-1)[0]) else else_t[i]
        else:
            a, b = then_t[i], else_t[i]
            if isinstance(a, TensorType) and isinstance(b, TensorType) and a.elem_type and b.elem_type \
                    and a.elem_type != b.elem_type:
                ctx.fail(f"output {i}: then_branch gives {a.elem_type.short_name}, "
                         f"else_branch {b.elem_type.short_name}")
            t = union_type(a, b)
        ctx.set_output_type(i, t)


@shape("Loop", 1)
def loop_shape(ctx) -> None:
    n_carried = max(ctx.n_inputs - 2, 0)
    carried = [ctx.input_type(2 + k) for k in range(n_carried)]
    body = ctx.attr("body")
    out = ctx.infer_subgraph(body, [_scalar(DataType.INT64), _scalar(DataType.BOOL), *carried])
    for k in range(n_carried):
        t_in, t_out = carried[k], out[1 + k] if 1 + k < len(out) else None
        t = union_type(t_in, t_out)
        # no common type (e.g. an optional in, its element out): the body's output kind
        ctx.set_output_type(k, t if t is not None else _kind_only(t_out or t_in))
    for k in range(max(len(out) - 1 - n_carried, 0)):
        ctx.set_output_type(n_carried + k, _with_dim(out[1 + n_carried + k], 0, None))


def _kind_only(t: Any) -> Any:
    """What stays certain of a loop-carried value whose type changes: its kind and element type."""
    if isinstance(t, TensorType):
        return TensorType(t.elem_type)
    if isinstance(t, (SequenceType, OptionalType)):
        inner = _kind_only(t.elem_type)
        return type(t)(inner) if inner is not None else None
    return None


@shape("Scan", 9)
def scan_shape(ctx) -> None:
    m = ctx.attr("num_scan_inputs")
    n_state = ctx.n_inputs - m
    in_axes = _per_input(ctx.attr("scan_input_axes"), m)
    states = [ctx.input_type(i) for i in range(n_state)]
    scans = [ctx.input_type(n_state + j) for j in range(m)]
    seq_len = next((d for j, t in enumerate(scans) if (d := _dim(t, in_axes[j])) is not None), None)
    out = ctx.infer_subgraph(ctx.attr("body"), states + [_without_dim(t, in_axes[j]) for j, t in enumerate(scans)])
    out_axes = _per_input(ctx.attr("scan_output_axes"), len(out) - n_state)
    for i, t in enumerate(out):
        if i < n_state:
            u = union_type(states[i], t)
            ctx.set_output_type(i, u if u is not None else _kind_only(t or states[i]))
        else:
            ctx.set_output_type(i, _with_dim(t, out_axes[i - n_state], seq_len))


@shape("Scan", 8)
def scan8_shape(ctx) -> None:
    m = ctx.attr("num_scan_inputs")
    n_state = ctx.n_inputs - 1 - m
    states = [ctx.input_type(1 + i) for i in range(n_state)]
    scans = [ctx.input_type(1 + n_state + j) for j in range(m)]
    batch = next((d for t in states + scans if (d := _dim(t, 0)) is not None), None)
    seq_len = next((d for t in scans if (d := _dim(t, 1)) is not None), None)
    body_in = [_without_dim(t, 0) for t in states] + [_without_dim(_without_dim(t, 0), 0) for t in scans]
    out = ctx.infer_subgraph(ctx.attr("body"), body_in)
    for i, t in enumerate(out):
        if i < n_state:
            u = union_type(body_in[i], t)
            ctx.set_output_type(i, _with_dim(u if u is not None else _kind_only(t), 0, batch))
        else:
            ctx.set_output_type(i, _with_dim(_with_dim(t, 0, seq_len), 0, batch))
