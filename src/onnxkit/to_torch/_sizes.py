"""Shape arithmetic on Python ints: Shape -> Gather -> Unsqueeze -> Concat -> Reshape.

Exported transformers compute their reshapes from ``Shape`` at run time.  As
tensors, each step of such a chain is a tiny int64 tensor op (a few µs of
dispatch each, hundreds per model) and ends in a ``.tolist()`` that
``torch.export`` cannot trace through.  Here the chain runs on the sizes
themselves: ``Shape`` gives a tuple of ``x.shape`` entries (SymInts when
traced), and the ops below keep it a Python value (an int for a 0-d tensor, a
tuple for a 1-d one) while their other inputs are sizes or small integer
constants of the model.  Where such a value meets anything else it becomes
an int64 tensor (:func:`as_tensor`); rule inputs that take Python values
(``const=``: Reshape's shape, Expand's, ConstantOfShape's...) take it as it is.

Each entry of ``SIZE_OPS``: op -> (function, qualifies(node, attrs, kinds)),
where ``kinds[i]`` is ``"sizes0"`` / ``"sizes1"`` (a sizes value of rank 0 / 1),
``"const"`` (an integer constant of the model, baked) or None.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["SIZE_OPS", "as_tensor"]


def as_tensor(s: Any, anchor: torch.Tensor, dtype: torch.dtype = torch.int64) -> torch.Tensor:
    """A sizes value as the tensor the ONNX graph has there (int64, or int32 after a Cast)."""
    return torch.tensor(s, dtype=dtype, device=anchor.device)


def _seq(v: Any) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,)


def _one(v: Any) -> Any:
    return v[0] if isinstance(v, (tuple, list)) else v


def shape(x, *, start=0, end=None):
    return tuple(x.shape[start:end])


def size(x):
    return x.numel()


def gather(s, idx, *, axis=0):
    if isinstance(idx, (list, tuple)):
        return tuple(s[i] for i in idx)
    return s[idx]


def unsqueeze(s, axes=None):
    return (s,)


def squeeze(s, axes=None):
    if len(s) != 1:
        raise ValueError(f"Squeeze of a dim of size {len(s)}")
    return s[0]


def concat(*parts, axis=0):
    out: tuple = ()
    for p in parts:
        out += _seq(p)
    return out


def slice_(s, starts, ends, axes=None, steps=None):
    return tuple(s[_one(starts):_one(ends)])


def cast(s, *, to, saturate=1, round_mode="up"):
    return s


def _elementwise(fn):
    def f(a, b):
        if isinstance(a, tuple) or isinstance(b, tuple) or isinstance(a, list) or isinstance(b, list):
            a, b = _seq(a), _seq(b)
            if len(a) == 1:
                a = a * len(b)
            elif len(b) == 1:
                b = b * len(a)
            if len(a) != len(b):
                raise ValueError(f"cannot broadcast {len(a)} and {len(b)} sizes")
            return tuple(fn(x, y) for x, y in zip(a, b))
        return fn(a, b)
    f.__name__ = f.__qualname__ = fn.__name__
    return f


def _div(a, b):
    q = abs(a) // abs(b)                   # the spec's integer division truncates
    return q if (a >= 0) == (b >= 0) else -q


add = _elementwise(lambda a, b: a + b)
add.__name__ = add.__qualname__ = "add"
sub = _elementwise(lambda a, b: a - b)
sub.__name__ = sub.__qualname__ = "sub"
mul = _elementwise(lambda a, b: a * b)
mul.__name__ = mul.__qualname__ = "mul"
div = _elementwise(_div)
div.__name__ = div.__qualname__ = "div"


# ------------------------------------------------------------------ when an op keeps sizes sizes
def _data_is(kinds, *allowed) -> bool:
    return bool(kinds) and kinds[0] in allowed


def _consts(kinds, idx) -> bool:
    return all(i >= len(kinds) or kinds[i] in ("const", None) for i in idx)


def _is_list(v, value) -> bool:
    return v is not None and list(v) == list(value)


def _q_gather(node, attrs, kinds, consts):
    return _data_is(kinds, "sizes1") and len(kinds) == 2 and kinds[1] == "const" and consts[1].ndim <= 1 \
        and attrs.get("axis", 0) in (0, -1)


def _q_unsqueeze(node, attrs, kinds, consts):
    axes = attrs.get("axes") if len(kinds) < 2 else consts[1]
    return _data_is(kinds, "sizes0") and (len(kinds) < 2 or kinds[1] == "const") and _is_list(axes, [0])


def _q_squeeze(node, attrs, kinds, consts):
    axes = attrs.get("axes") if len(kinds) < 2 else consts[1]
    return _data_is(kinds, "sizes1") and (len(kinds) < 2 or kinds[1] == "const") and _is_list(axes, [0])


def _q_concat(node, attrs, kinds, consts):
    return attrs.get("axis") in (0, -1) and all(k == "sizes1" or (k == "const" and c is not None and c.ndim == 1)
                                                 for k, c in zip(kinds, consts)) \
        and any(k == "sizes1" for k in kinds)


def _q_slice(node, attrs, kinds, consts):
    if not _data_is(kinds, "sizes1"):
        return False
    if len(kinds) == 1:                               # Slice-1: attributes
        return len(attrs.get("starts", [])) == 1 and len(attrs.get("ends", [])) == 1 \
            and attrs.get("axes") in (None, [0], [-1])
    if not _consts(kinds, range(1, len(kinds))) or len(kinds) < 3:
        return False
    starts, ends = consts[1], consts[2]
    axes = consts[3] if len(kinds) > 3 else None
    steps = consts[4] if len(kinds) > 4 else None
    return starts.size == 1 and ends.size == 1 and (axes is None or list(axes.reshape(-1)) in ([0], [-1])) \
        and (steps is None or list(steps.reshape(-1)) == [1])


def _q_cast(node, attrs, kinds, consts):
    return _data_is(kinds, "sizes0", "sizes1") and attrs.get("to") in (6, 7)      # INT32, INT64


def _q_arith(node, attrs, kinds, consts):
    if len(kinds) != 2 or not any(k in ("sizes0", "sizes1") for k in kinds):
        return False
    return all(k in ("sizes0", "sizes1") or (k == "const" and c is not None and c.ndim <= 1
                                              and c.dtype.kind in "iu") for k, c in zip(kinds, consts))


def _q_shape(node, attrs, kinds, consts):
    return True


def _rank_of_arith(kinds, consts):
    return 1 if any(k == "sizes1" or (k == "const" and c is not None and c.ndim == 1)
                    for k, c in zip(kinds, consts)) else 0


#: op -> (function, qualifies, rank of the result: an int or fn(kinds, consts, attrs))
SIZE_OPS = {
    "Shape": (shape, _q_shape, 1),
    "Size": (size, _q_shape, 0),
    "Gather": (gather, _q_gather, lambda k, c, a: c[1].ndim),
    "Unsqueeze": (unsqueeze, _q_unsqueeze, 1),
    "Squeeze": (squeeze, _q_squeeze, 0),
    "Concat": (concat, _q_concat, 1),
    "Slice": (slice_, _q_slice, 1),
    "Cast": (cast, _q_cast, lambda k, c, a: 0 if k[0] == "sizes0" else 1),
    "Add": (add, _q_arith, lambda k, c, a: _rank_of_arith(k, c)),
    "Sub": (sub, _q_arith, lambda k, c, a: _rank_of_arith(k, c)),
    "Mul": (mul, _q_arith, lambda k, c, a: _rank_of_arith(k, c)),
    "Div": (div, _q_arith, lambda k, c, a: _rank_of_arith(k, c)),
}
#: the first opset of each form above (older ones: the tensor rules)
SIZE_SINCE = {"Shape": 1, "Size": 1, "Gather": 1, "Unsqueeze": 1, "Squeeze": 1, "Concat": 4, "Slice": 1,
              "Cast": 6, "Add": 7, "Sub": 7, "Mul": 7, "Div": 7}
