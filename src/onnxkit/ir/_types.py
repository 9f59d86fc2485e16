"""The ONNX type system: shapes with numeric and symbolic dims, and the value types.

Types are immutable values: compare with ``==``, share freely, make a new one to
change one.  A dim is an ``int`` (known size), a ``str`` (a symbol such as
``"batch"``) or ``None`` (unknown).
"""

from __future__ import annotations

from typing import Iterable, Union

from ._dtypes import DataType

Dim = Union[int, str, None]


class Shape:
    """A tensor shape: a tuple of dims, each an int, a symbol (str) or None."""

    __slots__ = ("dims", "denotations")

    def __init__(self, dims: Iterable[Dim], denotations: Iterable[str | None] | None = None) -> None:
        dims = tuple(dims)
        for d in dims:
            if d is not None and not isinstance(d, (int, str)):
                raise TypeError(f"a dim must be an int, a str or None, not {type(d).__name__}")
        object.__setattr__(self, "dims", tuple(int(d) if isinstance(d, int) else d for d in dims))
        den = tuple(denotations) if denotations is not None else None
        if den is not None and (len(den) != len(dims) or not any(x is not None for x in den)):
            den = None if not any(x is not None for x in den) else den
            if den is not None and len(den) != len(dims):
                raise ValueError("denotations must have one entry per dim")
        object.__setattr__(self, "denotations", den)

    def __setattr__(self, name, value):  # immutable
        raise AttributeError("Shape is immutable; make a new one")

    @property
    def rank(self) -> int:
        return len(self.dims)

    def __len__(self) -> int:
        return len(self.dims)

    def __iter__(self):
        return iter(self.dims)

    def __getitem__(self, i):
        return self.dims[i]

    def is_static(self) -> bool:
        """True when every dim is a known integer."""
        return all(isinstance(d, int) for d in self.dims)

    def numpy(self) -> tuple[int, ...]:
        if not self.is_static():
            raise ValueError(f"shape {self} has symbolic or unknown dims")
        return self.dims  # type: ignore[return-value]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Shape):
            return self.dims == other.dims and self.denotations == other.denotations
        if isinstance(other, (tuple, list)):
            return self.dims == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.dims)

    def __str__(self) -> str:
        return "[" + ",".join("?" if d is None else str(d) for d in self.dims) + "]"

    def __repr__(self) -> str:
        return f"Shape({list(self.dims)!r})"


class Type:
    """Base of the value types.  ``denotation`` is the spec's type denotation."""

    __slots__ = ("denotation",)

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable; make a new one")

    def _set(self, **kw) -> None:
        for k, v in kw.items():
            object.__setattr__(self, k, v)

    def _key(self) -> tuple:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._key() == other._key()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._key())


class TensorType(Type):
    """A dense tensor: element type and (possibly unknown) shape."""

    __slots__ = ("elem_type", "shape")

    def __init__(self, elem_type: int | DataType | None, shape: Shape | Iterable[Dim] | None = None,
                 denotation: str | None = None) -> None:
        if shape is not None and not isinstance(shape, Shape):
            shape = Shape(shape)
        self._set(elem_type=_dtype(elem_type), shape=shape, denotation=denotation)

    def _key(self) -> tuple:
        return (self.elem_type, self.shape, self.denotation)

    def __repr__(self) -> str:
        return f"TensorType({getattr(self.elem_type, 'name', self.elem_type)}, {self.shape})"

    def __str__(self) -> str:
        et = self.elem_type
        name = et.short_name if isinstance(et, DataType) and et else "undefined"
        return name if self.shape is None else f"{name}{self.shape}"


class SparseTensorType(TensorType):
    """A sparse tensor: element type and shape."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"SparseTensorType({getattr(self.elem_type, 'name', self.elem_type)}, {self.shape})"

    def __str__(self) -> str:
        return f"sparse_tensor({TensorType.__str__(self)})"


class _Wrapper(Type):
    """A type made of one element type (``elem_type`` may be None: unknown)."""

    __slots__ = ("elem_type",)
    _word = ""

    def __init__(self, elem_type: Type | None, denotation: str | None = None) -> None:
        self._set(elem_type=elem_type, denotation=denotation)

    def _key(self) -> tuple:
        return (self.elem_type, self.denotation)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.elem_type!r})"

    def __str__(self) -> str:
        return f"{self._word}({self.elem_type})"


class SequenceType(_Wrapper):
    """A sequence of values of one type."""

    __slots__ = ()
    _word = "seq"


class OptionalType(_Wrapper):
    """An optional value of one type."""

    __slots__ = ()
    _word = "optional"


class MapType(Type):
    """A map from an integer or string key type to values of one type."""

    __slots__ = ("key_type", "value_type")

    def __init__(self, key_type: int | DataType | None, value_type: Type | None,
                 denotation: str | None = None) -> None:
        self._set(key_type=_dtype(key_type), value_type=value_type, denotation=denotation)

    def _key(self) -> tuple:
        return (self.key_type, self.value_type, self.denotation)

    def __repr__(self) -> str:
        return f"MapType({getattr(self.key_type, 'name', self.key_type)}, {self.value_type!r})"

    def __str__(self) -> str:
        return f"map({getattr(self.key_type, 'short_name', self.key_type)}, {self.value_type})"


class OpaqueType(Type):
    """An opaque type named by domain and name."""

    __slots__ = ("domain", "name")

    def __init__(self, domain: str | None = None, name: str | None = None,
                 denotation: str | None = None) -> None:
        self._set(domain=domain, name=name, denotation=denotation)

    def _key(self) -> tuple:
        return (self.domain, self.name, self.denotation)

    def __repr__(self) -> str:
        return f"OpaqueType({self.domain!r}, {self.name!r})"

    __str__ = __repr__


class UnknownType(Type):
    """A TypeProto with no kind set (kept so such files round-trip)."""

    __slots__ = ()

    def __init__(self, denotation: str | None = None) -> None:
        self._set(denotation=denotation)

    def _key(self) -> tuple:
        return (self.denotation,)

    def __repr__(self) -> str:
        return "UnknownType()"

    __str__ = __repr__


def _dtype(x: int | DataType | None) -> DataType | None:
    if x is None:
        return None  # absent from the file: element type unknown
    try:
        return DataType(x)
    except ValueError:
        return x  # type: ignore[return-value]  # a number newer than this onnxkit: kept as is
