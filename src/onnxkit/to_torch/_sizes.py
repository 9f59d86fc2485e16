"""Shape arithmetic on Python ints: Shape -> Gather -> Unsqueeze -> Concat -> Reshape.

Exported transformers compute their reshapes from ``Shape`` at run time.  As
tensors, each step of such a chain is a tiny int64 tensor op (a few µs of
dispatch each, hundreds per model) and ends in a ``.tolist()`` that
``torch.export`` cannot trace through (a data-dependent value).  Here the
chain runs on the sizes themselves: ``Shape`` gives a tuple of ``x.shape``
entries (SymInts under ``torch.export`` / ``torch.compile(dynamic=True)``,
so the arithmetic below is symbolic size arithmetic and adds no graph
break), and the ops below keep it a Python value (an int for a 0-d tensor, a
tuple for a 1-d one) while their other inputs are sizes or small integer
constants of the model.  Where such a value meets anything else it becomes
an int64 tensor (:func:`as_tensor`); rule inputs that take Python values
(``const=``: Reshape's shape, Expand's, ConstantOfShape's, Range's...) take
it as it is.

Besides the chain itself, the exporters write a few idioms on sizes that
stay Python values here: ``Max`` / ``Min`` of two shapes (broadcasting),
``Where(Equal(shape, -1), ones, shape)`` (torch.onnx's ``expand_as``),
``ConstantOfShape(Shape(shape))``, ``Reshape(shape, [-1])`` and ``Squeeze``
without axes.  Comparisons give Python bools (SymBools when traced); a
``Where`` on them picks in Python, which for sizes the tracer settles from
their value ranges (a size is never -1), so no guard is added.

Each entry of ``SIZE_OPS``: op -> (function, qualifies(node, attrs, kinds,
consts), rank), where ``kinds[i]`` is ``"sizes0"`` / ``"sizes1"`` (a sizes
value of rank 0 / 1), ``"const"`` (an integer constant of the model, baked),
``"tensor"`` or None.  The functions are plain module-level functions of
Python values (the source writer copies them).
"""

from __future__ import annotations

import operator
from typing import Any

import torch

__all__ = ["SIZE_OPS", "SIZE_SINCE", "as_tensor"]


def as_tensor(s: Any, anchor: torch.Tensor, dtype: torch.dtype = torch.int64) -> torch.Tensor:
    """A sizes value as the tensor the ONNX graph has there (int64, or int32 after a Cast).

    Symbolic sizes go through ``scalar_tensor`` (+ ``stack``): a tracer that
    is not dynamo (``make_fx``, as ``onnxkit.export`` uses) would fix a
    SymInt given to ``torch.tensor`` to its current value."""
    if isinstance(s, (tuple, list)):
        if s and any(isinstance(v, torch.SymInt | torch.SymBool) for v in s):
            return torch.stack([torch.scalar_tensor(v, dtype=dtype, device=anchor.device) for v in s])
    elif isinstance(s, torch.SymInt | torch.SymBool):
        return torch.scalar_tensor(s, dtype=dtype, device=anchor.device)
    return torch.tensor(s, dtype=dtype, device=anchor.device)


def _seq(v: Any) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,)


def _one(v: Any) -> Any:
    return v[0] if isinstance(v, (tuple, list)) else v


def shape(x, *, start=0, end=None):
    return tuple(x.shape[start:end])


def sizes_shape(s, *, start=0, end=None):
    """Shape of a sizes value: its length, a plain int (a tuple's length is never symbolic)."""
    return ((len(s),) if isinstance(s, (tuple, list)) else ())[start:end]


def size(x):
    return x.numel()


def sizes_size(s):
    return len(s) if isinstance(s, (tuple, list)) else 1


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


def reshape(s, shape, *, allowzero=0):
    """Reshape of a sizes value to rank 1 (``[-1]``, ``[n]``) or rank 0 (``[]``)."""
    if len(shape) == 0:
        return squeeze(_seq(s))
    return _seq(s)


def concat(*parts, axis=0):
    out: tuple = ()
    for p in parts:
        out += _seq(p)
    return out


def slice_(s, starts, ends, axes=None, steps=None):
    return tuple(s[_one(starts):_one(ends)])


def cast(s, *, to, saturate=1, round_mode="up"):
    return s


def constant_of_shape(shape, *, value=0):
    """``ConstantOfShape`` of a one-element static shape: ``(value,) * n``."""
    (n,) = shape
    return (value,) * n


def _broadcast(fn, *args):
    """``fn`` elementwise over scalars and tuples, broadcasting as ONNX does on rank <= 1."""
    if not any(isinstance(a, (tuple, list)) for a in args):
        return fn(*args)
    seqs = [_seq(a) for a in args]
    n = max(len(s) for s in seqs)
    for s in seqs:
        if len(s) not in (1, n):
            raise ValueError(f"cannot broadcast sizes of lengths {[len(t) for t in seqs]}")
    seqs = [s * n if len(s) == 1 else s for s in seqs]
    return tuple(fn(*vals) for vals in zip(*seqs))


def _int_div(a, b):
    """The spec's integer division: truncating (``//`` floors)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _max(a, b):
    return torch.sym_max(a, b) if isinstance(a, torch.SymInt) or isinstance(b, torch.SymInt) else max(a, b)


def _min(a, b):
    return torch.sym_min(a, b) if isinstance(a, torch.SymInt) or isinstance(b, torch.SymInt) else min(a, b)


def _where(c, a, b):
    return a if c else b


def add(a, b):
    return _broadcast(operator.add, a, b)


def sub(a, b):
    return _broadcast(operator.sub, a, b)


def mul(a, b):
    return _broadcast(operator.mul, a, b)


def div(a, b):
    return _broadcast(_int_div, a, b)


def max_(*xs):
    out = xs[0]
    for x in xs[1:]:
        out = _broadcast(_max, out, x)
    return out


def min_(*xs):
    out = xs[0]
    for x in xs[1:]:
        out = _broadcast(_min, out, x)
    return out


def equal(a, b):
    return _broadcast(operator.eq, a, b)


def less(a, b):
    return _broadcast(operator.lt, a, b)


def greater(a, b):
    return _broadcast(operator.gt, a, b)


def where(c, a, b):
    return _broadcast(_where, c, a, b)


# ------------------------------------------------------------------ when an op keeps sizes sizes
def _data_is(kinds, *allowed) -> bool:
    return bool(kinds) and kinds[0] in allowed


def _consts(kinds, idx) -> bool:
    return all(i >= len(kinds) or kinds[i] in ("const", None) for i in idx)


def _is_list(v, value) -> bool:
    return v is not None and list(v) == list(value)


def _out_rank(node) -> int | None:
    """The rank shape inference gave the node's output, where it did."""
    t = node.outputs[0].type if node.outputs else None
    shp = getattr(t, "shape", None)
    return None if shp is None else len(shp.dims)


def _q_gather(node, attrs, kinds, consts):
    return _data_is(kinds, "sizes1") and len(kinds) == 2 and kinds[1] == "const" and consts[1].ndim <= 1 \
        and attrs.get("axis", 0) in (0, -1)


def _q_unsqueeze(node, attrs, kinds, consts):
    axes = attrs.get("axes") if len(kinds) < 2 else consts[1]
    return _data_is(kinds, "sizes0") and (len(kinds) < 2 or kinds[1] == "const") and _is_list(axes, [0])


def _q_squeeze(node, attrs, kinds, consts):
    axes = attrs.get("axes") if len(kinds) < 2 else consts[1]
    if not _data_is(kinds, "sizes1") or (len(kinds) >= 2 and kinds[1] != "const"):
        return False
    if axes is None:                       # no axes: every 1 goes; rank 0 where inference says so
        return _out_rank(node) == 0
    return _is_list(axes, [0]) or _is_list(axes, [-1])


def _q_reshape(node, attrs, kinds, consts):
    if not (_data_is(kinds, "sizes0", "sizes1") and len(kinds) == 2 and kinds[1] == "const"):
        return False
    target = consts[1].reshape(-1).tolist()
    return target == [] or (len(target) == 1 and (target[0] == -1 or kinds[0] == "sizes1"))


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


def _small(k, c) -> bool:
    return k in ("sizes0", "sizes1") or (k == "const" and c is not None and c.ndim <= 1)


def _q_arith(node, attrs, kinds, consts):
    if len(kinds) < 2 or not any(k in ("sizes0", "sizes1") for k in kinds):
        return False
    return all(k in ("sizes0", "sizes1") or (k == "const" and c is not None and c.ndim <= 1
                                              and c.dtype.kind in "iu") for k, c in zip(kinds, consts))


def _q_where(node, attrs, kinds, consts):
    return len(kinds) == 3 and all(_small(k, c) for k, c in zip(kinds, consts)) \
        and any(k in ("sizes0", "sizes1") for k in kinds[1:]) \
        and all(k != "const" or c.dtype.kind in "iub" for k, c in zip(kinds, consts))


def _q_constant_of_shape(node, attrs, kinds, consts):
    v = attrs.get("value")
    return _data_is(kinds, "sizes1") and v is not None and v.dtype.name in ("int32", "int64") and v.size == 1


def _q_shape(node, attrs, kinds, consts):
    return True


def _rank_of_arith(kinds, consts):
    return 1 if any(k == "sizes1" or (k == "const" and c is not None and c.ndim == 1)
                    for k, c in zip(kinds, consts)) else 0


def _arith_rank(k, c, a):
    return _rank_of_arith(k, c)


#: op -> (function, qualifies, rank of the result: an int or fn(kinds, consts, attrs))
SIZE_OPS = {
    "Shape": (shape, _q_shape, 1),
    "Size": (size, _q_shape, 0),
    "Gather": (gather, _q_gather, lambda k, c, a: c[1].ndim),
    "Unsqueeze": (unsqueeze, _q_unsqueeze, 1),
    "Squeeze": (squeeze, _q_squeeze, 0),
    "Reshape": (reshape, _q_reshape, lambda k, c, a: c[1].size),
    "Concat": (concat, _q_concat, 1),
    "Slice": (slice_, _q_slice, 1),
    "Cast": (cast, _q_cast, lambda k, c, a: 0 if k[0] == "sizes0" else 1),
    "ConstantOfShape": (constant_of_shape, _q_constant_of_shape, 1),
    "Add": (add, _q_arith, _arith_rank),
    "Sub": (sub, _q_arith, _arith_rank),
    "Mul": (mul, _q_arith, _arith_rank),
    "Div": (div, _q_arith, _arith_rank),
    "Max": (max_, _q_arith, _arith_rank),
    "Min": (min_, _q_arith, _arith_rank),
    "Equal": (equal, _q_arith, _arith_rank),
    "Less": (less, _q_arith, _arith_rank),
    "Greater": (greater, _q_arith, _arith_rank),
    "Where": (where, _q_where, _arith_rank),
}
#: the first opset of each form above (older ones: the tensor rules)
SIZE_SINCE = {"Shape": 1, "Size": 1, "Gather": 1, "Unsqueeze": 1, "Squeeze": 1, "Reshape": 5, "Concat": 4,
              "Slice": 1, "Cast": 6, "ConstantOfShape": 9, "Add": 7, "Sub": 7, "Mul": 7, "Div": 7, "Max": 8,
              "Min": 8, "Equal": 7, "Less": 7, "Greater": 7, "Where": 9}
#: ops whose result is a bool sizes value
BOOL_OPS = {"Equal", "Less", "Greater"}
#: the function of Shape / Size when their input is itself a sizes value
OF_SIZES = {"Shape": sizes_shape, "Size": sizes_size}
