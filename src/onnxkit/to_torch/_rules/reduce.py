"""Reductions (axes as an attribute before opset 18 — 13 for ReduceSum — and
as an input after) and ArgMax / ArgMin."""

from __future__ import annotations

import torch

from .._registry import rule
from ._common import axes_list, norm_axis


def _dims(x, axes, noop):
    """The axes to reduce; None for "leave x as it is"."""
    a = axes_list(axes, x.dim())
    if not a:
        return None if noop else list(range(x.dim()))
    return sorted(set(a))


def _empty_fill(x, dims, keepdims, value):
    shape = [1 if i in dims else s for i, s in enumerate(x.shape)] if keepdims else \
        [s for i, s in enumerate(x.shape) if i not in dims]
    return torch.full(shape, value, dtype=x.dtype, device=x.device)


def _reducer(op_name, fn, empty=None):
    """fn(x, dims, keepdim) -> reduced; both the attribute and the input form."""
    def run(x, axes, keepdims, noop):
        dims = _dims(x, axes, noop)
        if dims is None:
            return x
        if empty is not None and x.numel() == 0:
            return _empty_fill(x, dims, keepdims, empty(x.dtype))
        if x.dim() == 0:
            return fn(x, None, False).reshape(())
        return fn(x, dims, bool(keepdims))

    def attr_form(x, *, axes=None, keepdims=1):
        return run(x, axes, keepdims, 0)

    def input_form(x, axes=None, *, keepdims=1, noop_with_empty_axes=0):
        return run(x, axes, keepdims, noop_with_empty_axes)

    attr_form.__name__ = attr_form.__qualname__ = f"{op_name}_attr"
    input_form.__name__ = input_form.__qualname__ = op_name
    return attr_form, input_form


def _sum(x, dims, keep):
    return (x.sum() if dims is None else x.sum(dims, keepdim=keep)).to(x.dtype)


def _mean(x, dims, keep):
    xf = x if x.is_floating_point() else x.double()
    return (xf.mean() if dims is None else xf.mean(dims, keepdim=keep)).to(x.dtype)


def _max(x, dims, keep):
    return x.amax() if dims is None else x.amax(dims, keepdim=keep)


def _min(x, dims, keep):
    return x.amin() if dims is None else x.amin(dims, keepdim=keep)


def _prod(x, dims, keep):
    if dims is None:
        return x.prod()
    for d in sorted(dims, reverse=True):
        x = x.prod(d, keepdim=True)
    return x if keep else x.squeeze(tuple(dims))


def _l1(x, dims, keep):
    return _sum(x.abs(), dims, keep)


def _l2(x, dims, keep):
    xf = x if x.is_floating_point() else x.double()
    return torch.sqrt(_sum(xf * xf, dims, keep)).to(x.dtype)


def _sum_square(x, dims, keep):
    return _sum(x * x, dims, keep)


def _log_sum(x, dims, keep):
    return torch.log(_sum(x, dims, keep))


def _log_sum_exp(x, dims, keep):
    return torch.logsumexp(x, dims if dims is not None else tuple(range(x.dim())), keepdim=keep)


def _lowest(dtype):
    if dtype == torch.bool:
        return False
    return -float("inf") if dtype.is_floating_point else torch.iinfo(dtype).min


def _highest(dtype):
    if dtype == torch.bool:
        return True
    return float("inf") if dtype.is_floating_point else torch.iinfo(dtype).max


_TABLE = {
    "ReduceSum": (_sum, 13, lambda t: 0), "ReduceMean": (_mean, 18, None),
    "ReduceMax": (_max, 18, _lowest), "ReduceMin": (_min, 18, _highest),
    "ReduceProd": (_prod, 18, lambda t: 1), "ReduceL1": (_l1, 18, lambda t: 0),
    "ReduceL2": (_l2, 18, lambda t: 0), "ReduceSumSquare": (_sum_square, 18, lambda t: 0),
    "ReduceLogSum": (_log_sum, 18, lambda t: -float("inf")),
    "ReduceLogSumExp": (_log_sum_exp, 18, lambda t: -float("inf")),
}
for _op, (_fn, _since, _empty) in _TABLE.items():
    _attr, _input = _reducer(_op.lower(), _fn, _empty)
    rule(_op, 1, fn=_attr)
    rule(_op, _since, const=(1,), fn=_input)


# ------------------------------------------------------------------ ArgMax / ArgMin
def _arg(fn, x, axis, keepdims, select_last_index):
    a = norm_axis(axis, x.dim())
    if select_last_index:
        r = fn(x.flip(a), dim=a, keepdim=bool(keepdims))
        return x.shape[a] - 1 - r
    return fn(x, dim=a, keepdim=bool(keepdims))


@rule("ArgMax", 1)
def argmax(x, *, axis=0, keepdims=1, select_last_index=0):
    return _arg(torch.argmax, x, axis, keepdims, select_last_index)


@rule("ArgMin", 1)
def argmin(x, *, axis=0, keepdims=1, select_last_index=0):
    return _arg(torch.argmin, x, axis, keepdims, select_last_index)
