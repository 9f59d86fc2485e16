"""Helpers the rules share: Python values from constant-or-tensor inputs, axes."""

from __future__ import annotations

from typing import Any

import torch

from .._dtypes import torch_dtype

__all__ = ["axes_list", "ints", "norm_axis", "numpy_kernel", "scalar", "torch_dtype"]


def ints(x: Any) -> list[int] | None:
    """A 1-D int list from a baked constant (list / int) or a run-time tensor."""
    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        return [int(v) for v in x.reshape(-1).tolist()]
    if isinstance(x, (list, tuple)):
        return [v if isinstance(v, torch.SymInt) else int(v) for v in x]     # sizes stay symbolic
    return [x if isinstance(x, torch.SymInt) else int(x)]


def scalar(x: Any) -> Any:
    """A Python number from a one-element constant or tensor."""
    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        return x.reshape(-1)[0].item()
    if isinstance(x, (list, tuple)):
        return scalar(x[0]) if len(x) else None
    return x


def norm_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def axes_list(axes: Any, rank: int) -> list[int] | None:
    a = ints(axes)
    return None if a is None else [norm_axis(int(v), rank) for v in a]


def numpy_kernel(op_type: str, *inputs: Any, **attrs: Any) -> Any:
    """onnxkit's numpy kernel of ``op_type`` (its newest version) on torch
    inputs, for the cases a rule finds at run time that it does not cover."""
    from ...ops._evaluate import kernel_results
    from ...ops._registry import find_kernel
    from .._dtypes import from_numpy, to_numpy
    reg = find_kernel(op_type, 10 ** 6)
    device = next((x.device for x in inputs if isinstance(x, torch.Tensor)), None)
    args = [None if x is None else to_numpy(torch.as_tensor(x) if isinstance(x, list) else x) for x in inputs]
    while args and args[-1] is None:
        args.pop()
    out = kernel_results(reg.fn(*args, **attrs), 1)
    out = tuple(from_numpy(o, device) for o in out)
    return out[0] if len(out) == 1 else out
