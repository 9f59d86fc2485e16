"""Type helpers of the inference driver: merging a declared and an inferred
type, and telling how well a type is known."""

from __future__ import annotations

from ..ir import DataType, MapType, OptionalType, SequenceType, Shape, SparseTensorType, TensorType, Type
from ..ir._types import UnknownType

__all__ = ["Conflict", "fully_shaped", "merge_types"]


class Conflict(Exception):
    """Two types that cannot describe the same value (the message says where)."""


def _merge_dim(declared, inferred):
    if declared is None:
        return inferred
    if inferred is None or declared == inferred:
        return declared
    if isinstance(declared, int) and isinstance(inferred, int):
        raise Conflict(f"dim {inferred} is not {declared}")
    if isinstance(inferred, int):
        return inferred        # a number is more specific than a symbol
    return declared            # two symbols, or a declared number: keep the declared one


def _merge_shape(declared: Shape | None, inferred: Shape | None) -> Shape | None:
    if declared is None:
        return inferred
    if inferred is None:
        return declared
    if declared.rank != inferred.rank:
        raise Conflict(f"rank {inferred.rank} is not {declared.rank}")
    dims = tuple(_merge_dim(a, b) for a, b in zip(declared.dims, inferred.dims))
    return declared if dims == declared.dims else Shape(dims, declared.denotations)


def merge_types(declared: Type | None, inferred: Type | None) -> Type | None:
    """The more specific of two compatible types (the declared one wins where
    both say something different but compatible, e.g. two symbols).  Raises
    :class:`Conflict` when they contradict each other."""
    if declared is None or isinstance(declared, UnknownType):
        return inferred if inferred is not None else declared
    if inferred is None or isinstance(inferred, UnknownType) or declared == inferred:
        return declared
    if isinstance(declared, TensorType) and isinstance(inferred, TensorType):
        if isinstance(declared, SparseTensorType) != isinstance(inferred, SparseTensorType):
            raise Conflict("a sparse and a dense tensor")
        a, b = declared.elem_type, inferred.elem_type
        a = None if a == 0 else a       # UNDEFINED (0) declares nothing
        b = None if b == 0 else b
        if a is not None and b is not None and a != b:
            raise Conflict(f"element type {_dt_name(b)} is not {_dt_name(a)}")
        shape = _merge_shape(declared.shape, inferred.shape)
        if a is not None and shape is declared.shape:
            return declared
        return type(declared)(a if a is not None else b, shape, declared.denotation)
    if type(declared) is not type(inferred):
        raise Conflict(f"{type(inferred).__name__} is not {type(declared).__name__}")
    if isinstance(declared, (SequenceType, OptionalType)):
        elem = merge_types(declared.elem_type, inferred.elem_type)
        return declared if elem is declared.elem_type else type(declared)(elem, declared.denotation)
    if isinstance(declared, MapType):
        if declared.key_type is not None and inferred.key_type is not None \
                and declared.key_type != inferred.key_type:
            raise Conflict(f"map key {_dt_name(inferred.key_type)} is not {_dt_name(declared.key_type)}")
        vt = merge_types(declared.value_type, inferred.value_type)
        return MapType(declared.key_type if declared.key_type is not None else inferred.key_type, vt,
                       declared.denotation)
    return declared


def _dt_name(dt) -> str:
    return dt.short_name if isinstance(dt, DataType) else str(dt)


def _placeholder(d) -> bool:
    """A dim that says nothing: unknown, or a name some tool invented for an unknown."""
    return d is None or (isinstance(d, str) and (not d or d.startswith("unk__")))


def fully_shaped(t: Type | None) -> bool:
    """A tensor type whose element type is known and whose every dim is a number
    or a meaningful symbol (not None, not an ``unk__N`` placeholder); for
    sequences and optionals, that of the element type."""
    if isinstance(t, (SequenceType, OptionalType)):
        return fully_shaped(t.elem_type)
    if not isinstance(t, TensorType):
        return isinstance(t, MapType)
    return t.elem_type is not None and t.shape is not None and not any(map(_placeholder, t.shape.dims))


def is_typed(t: Type | None) -> bool:
    """A type that says at least what kind of value and element type it is."""
    if isinstance(t, TensorType):
        return t.elem_type is not None and t.elem_type != DataType.UNDEFINED
    if isinstance(t, (SequenceType, OptionalType)):
        return is_typed(t.elem_type)
    return t is not None and not isinstance(t, UnknownType)
