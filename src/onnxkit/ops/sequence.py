"""Sequences: a sequence value is a Python ``list`` of tensors (never mutated
in place: every op returns a new list)."""

from __future__ import annotations

import numpy as np

from ..errors import RunError
from ._registry import kernel, shape
from ._shape import normalize_axis

__all__: list[str] = []


def _position(seq: list, pos, *, insert: bool = False) -> int:
    """A non-negative index into ``seq`` (``insert``: len(seq) is allowed too)."""
    p = int(np.asarray(pos).reshape(-1)[0])
    n = len(seq)
    hi = n if insert else n - 1
    if not -n <= p <= hi:
        raise RunError(f"sequence position {p} out of range for a sequence of length {n}")
    return p + n if p < 0 else p


@kernel("SequenceEmpty", 11)
def sequence_empty(*, dtype=1):
    return []


@kernel("SequenceConstruct", 11)
def sequence_construct(*inputs):
    return list(inputs)


@kernel("SequenceAt", 11)
def sequence_at(seq, pos):
    return seq[_position(seq, pos)]


@kernel("SequenceErase", 11)
def sequence_erase(seq, pos=None):
    if not seq:
        raise RunError("SequenceErase on an empty sequence")
    p = len(seq) - 1 if pos is None else _position(seq, pos)
    return seq[:p] + seq[p + 1:]


@kernel("SequenceInsert", 11)
def sequence_insert(seq, tensor, pos=None):
    p = len(seq) if pos is None else _position(seq, pos, insert=True)
    return seq[:p] + [tensor] + seq[p:]


@kernel("SequenceLength", 11)
def sequence_length(seq):
    return np.array(len(seq), dtype=np.int64)


@kernel("SplitToSequence", 11)
def split_to_sequence(x, split=None, *, axis=0, keepdims=1):
    axis = normalize_axis(axis, x.ndim)
    n = x.shape[axis]
    if split is None:
        parts = np.split(x, n, axis=axis) if n else []
        return [np.squeeze(p, axis) for p in parts] if not keepdims else parts
    split = np.asarray(split)
    if split.ndim == 0:
        step = int(split)
        if step <= 0:
            raise RunError(f"SplitToSequence: split must be positive, got {step}")
        bounds = list(range(step, n, step))
    else:
        sizes = [int(s) for s in split]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise RunError(f"SplitToSequence: split sizes {sizes} do not add up to dim {n}")
        bounds = list(np.cumsum(sizes)[:-1])
    return np.split(x, bounds, axis=axis)


@kernel("ConcatFromSequence", 11)
def concat_from_sequence(seq, *, axis, new_axis=0):
    if not seq:
        raise RunError("ConcatFromSequence of an empty sequence")
    if new_axis:
        return np.stack(seq, axis=normalize_axis(axis, seq[0].ndim + 1))
    return np.concatenate(seq, axis=normalize_axis(axis, seq[0].ndim))


@kernel("SequenceMap", 17)
def sequence_map(input_sequence, *additional, body):
    n_out = len(body.graph.outputs)
    outs: list[list] = [[] for _ in range(n_out)]
    for i, x in enumerate(input_sequence):
        extra = []
        for a in additional:
            if isinstance(a, list):
                if len(a) != len(input_sequence):
                    raise RunError(f"SequenceMap: sequences of lengths {len(input_sequence)} and "
                                   f"{len(a)} differ")
                extra.append(a[i])
            else:
                extra.append(a)
        for o, r in zip(outs, body(x, *extra)):
            o.append(r)
    return tuple(outs)
