"""Sequences (Python lists of tensors) and optionals (a tensor or None), so
that values flowing through them stay torch tensors (and keep gradients)."""

from __future__ import annotations

import torch

from .._registry import rule
from ._common import ints, norm_axis, scalar


def _position(pos, n, default):
    p = default if pos is None else int(scalar(pos))
    return p + n if p < 0 else p


@rule("SequenceEmpty", 11)
def sequence_empty(*, dtype=None):
    return []


@rule("SequenceConstruct", 11)
def sequence_construct(*xs):
    return list(xs)


@rule("SequenceAt", 11)
def sequence_at(seq, position):
    return seq[_position(position, len(seq), 0)]


@rule("SequenceInsert", 11)
def sequence_insert(seq, x, position=None):
    out = list(seq)
    out.insert(_position(position, len(seq), len(seq)), x)
    return out


@rule("SequenceErase", 11)
def sequence_erase(seq, position=None):
    out = list(seq)
    del out[_position(position, len(seq), len(seq) - 1)]
    return out


@rule("SequenceLength", 11, device=True)
def sequence_length(seq, *, _anchor=None):
    return torch.tensor(len(seq), dtype=torch.int64, device=_anchor.device)


@rule("SplitToSequence", 11, const=(1,))
def split_to_sequence(x, split=None, *, axis=0, keepdims=1):
    a = norm_axis(axis, x.dim())
    if split is None:
        parts = torch.split(x, 1, dim=a)
        return [p.squeeze(a) for p in parts] if not keepdims else list(parts)
    sizes = ints(split)
    is_scalar = (isinstance(split, torch.Tensor) and split.dim() == 0) or not isinstance(split, (list, torch.Tensor))
    return list(torch.split(x, sizes[0] if is_scalar else sizes, dim=a))


@rule("ConcatFromSequence", 11)
def concat_from_sequence(seq, *, axis, new_axis=0):
    if new_axis:
        return torch.stack(seq, norm_axis(axis, seq[0].dim() + 1))
    return torch.cat(seq, norm_axis(axis, seq[0].dim()))


@rule("Optional", 15)
def optional(x=None, *, type=None):
    return x


@rule("OptionalHasElement", 15, device=True)
def optional_has_element(x=None, *, _anchor=None):
    return torch.tensor(x is not None, device=_anchor.device)


@rule("OptionalGetElement", 15)
def optional_get_element(x):
    if x is None:
        raise ValueError("OptionalGetElement of an empty optional")
    return x
