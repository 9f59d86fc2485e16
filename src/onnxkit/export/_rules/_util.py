"""Helpers shared by the rule modules."""

from __future__ import annotations

import functools
from typing import Any

import torch

from ...ir import DataType, Value
from .._dtypes import to_onnx



class _Missing:
    """An overload this torch build lacks: registering a rule for it does nothing."""

    def __repr__(self) -> str:
        return "<missing aten overload>"


MISSING = _Missing()


class _Packet:
    __slots__ = ("_packet",)

    def __init__(self, packet: Any) -> None:
        self._packet = packet

    def __getattr__(self, overload: str) -> Any:
        if self._packet is None:
            return MISSING
        try:
            return getattr(self._packet, overload)
        except AttributeError:
            return MISSING


class _Aten:
    """``torch.ops.aten`` where an op or overload missing from this torch is :data:`MISSING`."""

    def __getattr__(self, name: str) -> _Packet:
        try:
            return _Packet(getattr(torch.ops.aten, name))
        except AttributeError:
            return _Packet(None)


aten = _Aten()
INT64_MAX = 2 ** 63 - 1


@functools.lru_cache(maxsize=None)
def _proxy(dtype: torch.dtype, zero_dim: bool) -> torch.Tensor:
    return torch.empty(() if zero_dim else (0,), dtype=dtype)


def _as_proxy(m: Any) -> Any:
    if isinstance(m, torch.Tensor):
        return _proxy(m.dtype, m.dim() == 0)
    if isinstance(m, torch.SymBool):
        return True
    if isinstance(m, torch.SymInt):
        return 1
    if isinstance(m, torch.SymFloat):
        return 1.0
    return m


def promoted(ctx: Any, *positions: int) -> DataType:
    """The dtype PyTorch computes ``op(args[positions])`` in (type promotion)."""
    metas = [_as_proxy(ctx.arg_meta(i) if i < len(ctx.node.args) else None) for i in positions]
    metas = [m for m in metas if m is not None]
    if len(metas) == 1:
        m = metas[0]
        return to_onnx(m.dtype) if isinstance(m, torch.Tensor) else to_onnx(torch.tensor(m).dtype)
    dt = torch.result_type(metas[0], metas[1])
    for m in metas[2:]:
        dt = torch.result_type(_proxy(dt, False), m)
    return to_onnx(dt)


def norm_dim(d: int, rank: int) -> int:
    return d + rank if d < 0 else d


def as_tensor(ctx: Any, x: Any, dtype: DataType) -> Value:
    """``x`` (a Value, a symbolic size or a Python number) as a tensor of ``dtype``."""
    return ctx.cast(x, dtype)


def is_value(x: Any) -> bool:
    return isinstance(x, Value)


def same_dim(a: Any, b: Any) -> bool:
    """Two dims (ints or SymInts) known to be equal, without adding guards."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if isinstance(a, torch.SymInt) and isinstance(b, torch.SymInt):
        return a.node.expr == b.node.expr
    return False
