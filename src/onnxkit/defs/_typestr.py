"""The spec's type strings (``tensor(float)``, ``seq(tensor(int64))``,
``map(int64, tensor(float))`` ...), as schemas and onnxruntime write them,
to and from IR types."""

from __future__ import annotations

import functools
import re

from ..ir import DataType, MapType, OptionalType, SequenceType, SparseTensorType, TensorType, Type

__all__ = ["parse_type_string", "type_string"]


def type_string(t: Type | None) -> str | None:
    """The spec's string for ``t`` (``tensor(float)``, ``seq(tensor(int64))``),
    or None when it is unknown or not comparable."""
    if isinstance(t, TensorType):
        et = t.elem_type
        if not isinstance(et, DataType) or et == DataType.UNDEFINED:
            return None
        word = "sparse_tensor" if isinstance(t, SparseTensorType) else "tensor"
        return f"{word}({et.short_name})"
    if isinstance(t, (SequenceType, OptionalType)):
        inner = type_string(t.elem_type)
        if inner is None:
            return None
        return f"{'seq' if isinstance(t, SequenceType) else 'optional'}({inner})"
    return None


_TYPE_TOKEN = re.compile(r"\s*([A-Za-z_0-9]+|[(),])")


@functools.cache
def parse_type_string(text: str) -> Type | None:
    """The IR type of a spec type string (``tensor(float)``, ``seq(tensor(int64))``,
    ``map(int64, tensor(float))``, ``optional(...)``, ``sparse_tensor(...)``);
    None when it cannot be read."""
    toks = _TYPE_TOKEN.findall(text)
    pos = 0

    def take() -> str:
        nonlocal pos
        if pos >= len(toks):
            raise ValueError(text)
        pos += 1
        return toks[pos - 1]

    def one() -> Type:
        word = take()
        if take() != "(":
            raise ValueError(text)
        if word in ("tensor", "sparse_tensor"):
            dt = DataType.from_short_name(take())
            t: Type = TensorType(dt) if word == "tensor" else SparseTensorType(dt)
        elif word == "seq":
            t = SequenceType(one())
        elif word == "optional":
            t = OptionalType(one())
        elif word == "map":
            key = DataType.from_short_name(take())
            if take() != ",":
                raise ValueError(text)
            t = MapType(key, one())
        else:
            raise ValueError(text)
        if take() != ")":
            raise ValueError(text)
        return t

    try:
        t = one()
    except Exception:
        return None
    return t if pos == len(toks) else None
