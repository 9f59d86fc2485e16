"""ONNX text syntax -> IR.

Reads what ``onnx.parser`` reads and builds the IR whose serialization is the
message ``onnx.parser`` builds from the same text, field presence included
(the parser writes ``domain: ""`` on every node, ``name: ""`` on unnamed
tensor constants, and so on; the IR keeps such details in
:class:`~onnxkit.ir._details.WireDetails` the way :mod:`onnxkit.ir.serde` does).

Where onnx's parser silently drops what the text says, this one keeps it:
lists of tensors, graphs and types in attributes keep their elements.  Text
after the end of a node, graph or function given to :func:`parse_node`,
:func:`parse_graph` or :func:`parse_function` is an error (onnx ignores it).

Every malformed text raises :class:`~onnxkit.errors.ParseError` with the
1-based line and column of the offending character.
"""

from __future__ import annotations

import bisect
import re
import struct
from fractions import Fraction
from typing import Any

import numpy as np

from .. import proto as P
from ..errors import ParseError
from ..ir._core import Attribute, AttributeType, Function, Graph, Model, Node, Value
from ..ir._details import add_listed_initializer, details, set_details
from ..ir._dtypes import DataType
from ..ir._tensor import ProtoTensor
from ..ir.serde import link_nodes
from ..ir._types import (MapType, OpaqueType, OptionalType, SequenceType, Shape, SparseTensorType,
                         TensorType, Type)
from ._printer import ATTR_TYPE_NAMES

A = AttributeType

_PRIM = {dt.short_name: dt for dt in DataType if dt != DataType.UNDEFINED}
_TYPE_WORDS = set(_PRIM) | {"seq", "map", "optional", "sparse_tensor", "opaque"}
_ATTR_TYPES = {name: t for t, name in ATTR_TYPE_NAMES.items() if t != A.UNDEFINED}
_PLURAL = {A.FLOAT: A.FLOATS, A.INT: A.INTS, A.STRING: A.STRINGS, A.TENSOR: A.TENSORS,
           A.GRAPH: A.GRAPHS, A.TYPE_PROTO: A.TYPE_PROTOS, A.SPARSE_TENSOR: A.SPARSE_TENSORS}
_SINGULAR = {v: k for k, v in _PLURAL.items()}
_SPACE = " \t\n\r\v\f"
_ID_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_ID_CHARS = _ID_START | frozenset("0123456789")
_DIGITS = frozenset("0123456789")
_SPECIAL_FLOATS = {"nan": float("nan"), "inf": float("inf"), "infinity": float("inf")}
_INT64 = (-(1 << 63), (1 << 63) - 1)
_INT32 = (-(1 << 31), (1 << 31) - 1)
_FLT_OVERFLOW = 3.4028235677973366e38  # half an ulp above the largest float32

# literal kinds
_INT, _FLOAT, _STR = "int", "float", "string"

# element type -> TensorProto field the parser stores constants in
_DATA_FIELD = {DataType.FLOAT: "float_data", DataType.COMPLEX64: "float_data",
               DataType.DOUBLE: "double_data", DataType.COMPLEX128: "double_data",
               DataType.INT64: "int64_data", DataType.UINT32: "uint64_data",
               DataType.UINT64: "uint64_data", DataType.STRING: "string_data"}


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _mark(obj: Any, field: str) -> None:
    """Note that ``field`` is written although it holds its default value."""
    set_details(obj, explicit=details(obj).explicit | {field})


# ---------------------------------------------------------------- intermediate forms


class _GraphSpec:
    """A parsed graph, turned into IR once the scope it lives in is known."""

    __slots__ = ("name", "inputs", "outputs", "extras", "nodes")

    def __init__(self, name: str) -> None:
        self.name = name
        self.inputs: list[tuple[str, Type | None, ProtoTensor | None]] = []
        self.outputs: list[tuple[str, Type | None]] = []
        self.extras: list[tuple[str, Type | None, ProtoTensor | None]] = []
        self.nodes: list[_NodeSpec] = []


class _NodeSpec:
    __slots__ = ("label", "outputs", "domain", "op_type", "overload", "attrs", "inputs")

    def __init__(self) -> None:
        self.label: str | None = None
        self.outputs: list[str] = []
        self.domain = ""
        self.op_type = ""
        self.overload: str | None = None
        self.attrs: list[_AttrSpec] = []
        self.inputs: list[str] = []


class _AttrSpec:
    __slots__ = ("name", "type", "value", "ref")

    def __init__(self, name: str, type: int | None, value: Any, ref: str | None) -> None:
        self.name = name
        self.type = type  # None: no type written
        self.value = value  # _GraphSpec where a graph goes
        self.ref = ref


# ---------------------------------------------------------------- the parser


class _Parser:
    def __init__(self, text: str) -> None:
        bad = None
        if not isinstance(text, str):
            if not isinstance(text, (bytes, bytearray, memoryview)):
                raise TypeError(f"parse takes a str, not {type(text).__name__}")
            data = bytes(text)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as e:
                text = data[:e.start].decode("utf-8", "replace")
                bad = f"the text is not UTF-8 ({e.reason})"
        self.s = text
        self.n = len(text)
        self.pos = 0
        self._lines: list[int] | None = None
        if bad is None:
            try:
                text.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError as e:
                text, bad = text[:e.start], f"the text holds a lone surrogate ({e.reason})"
        if bad is not None:
            raise self.error(bad, len(text))

    # positions and errors ------------------------------------------------
    def where(self, pos: int) -> tuple[int, int]:
        if self._lines is None:
            starts = [0]
            i = self.s.find("\n")
            while i >= 0:
                starts.append(i + 1)
                i = self.s.find("\n", i + 1)
            self._lines = starts
        line = bisect.bisect_right(self._lines, pos)
        return line, pos - self._lines[line - 1] + 1

    def error(self, reason: str, pos: int | None = None) -> ParseError:
        line, col = self.where(self.pos if pos is None else pos)
        return ParseError(reason, line=line, column=col)

    def found(self) -> str:
        if self.pos >= self.n:
            return "the end of the text"
        c = self.s[self.pos]
        return f"{c!r}"

    # characters -----------------------------------------------------------
    def skip(self) -> None:
        s, n, i = self.s, self.n, self.pos
        while i < n:
            c = s[i]
            if c in _SPACE:
                i += 1
            elif c == "#":
                j = s.find("\n", i)
                i = n if j < 0 else j + 1
            else:
                break
        self.pos = i

    def peek(self) -> str:
        """The next character after white space and comments ("" at the end)."""
        self.skip()
        return self.s[self.pos] if self.pos < self.n else ""

    def match(self, c: str) -> bool:
        if self.peek() == c:
            self.pos += 1
            return True
        return False

    def expect(self, c: str, what: str | None = None) -> None:
        if not self.match(c):
            raise self.error(f"expected {what or repr(c)}, found {self.found()}")

    def match_arrow(self) -> bool:
        if self.peek() == "=" and self.s.startswith("=>", self.pos):
            self.pos += 2
            return True
        return False

    def at_end(self) -> bool:
        return self.peek() == ""

    # words ----------------------------------------------------------------
    def opt_ident(self) -> str:
        self.skip()
        s, i = self.s, self.pos
        if i < self.n and s[i] in _ID_START:
            j = i + 1
            while j < self.n and s[j] in _ID_CHARS:
                j += 1
            self.pos = j
            return s[i:j]
        return ""

    def ident(self, what: str = "an identifier") -> str:
        word = self.opt_ident()
        if not word:
            raise self.error(f"expected {what}, found {self.found()}")
        return word

    def peek_ident(self) -> str:
        save = self.pos
        word = self.opt_ident()
        self.pos = save
        return word

    def string(self) -> str:
        """A string literal (the opening quote is next)."""
        self.skip()
        start = self.pos
        s = self.s
        i = start + 1
        parts = []
        run = i
        while True:
            j = i
            while j < self.n and s[j] != '"' and s[j] != "\\":
                j += 1
            if j >= self.n:
                raise self.error("the string literal is not closed", start)
            if s[j] == '"':
                parts.append(s[run:j])
                self.pos = j + 1
                return "".join(parts)
            # a backslash stands for the character after it
            if j + 1 >= self.n:
                raise self.error("the string literal is not closed", start)
            parts.append(s[run:j])
            parts.append(s[j + 1])
            i = run = j + 2

    def expect_string(self, what: str = "a string literal") -> str:
        if self.peek() != '"':
            raise self.error(f"expected {what}, found {self.found()}")
        return self.string()

    def quotable(self, what: str = "a name") -> str:
        """An identifier or a string literal."""
        if self.peek() == '"':
            return self.string()
        return self.ident(what)

    def qualified(self) -> str:
        parts = [self.ident()]
        while self.match("."):
            parts.append(self.ident())
        return ".".join(parts)

    # literals -------------------------------------------------------------
    def literal(self) -> tuple[str, str, int]:
        """(kind, text, position) of the literal that comes next: a string, an
        integer or a float (digits with ``.`` or an exponent, or nan/inf)."""
        c = self.peek()
        start = self.pos
        if c == '"':
            return _STR, self.string(), start
        s, n = self.s, self.n
        i = start
        if c == "-":
            i += 1
            if i < n and s[i] in _ID_START:
                self.pos = i
                word = self.opt_ident()
                if word.lower() not in _SPECIAL_FLOATS:
                    raise self.error(f"{_clip('-' + word)!r} is not a number", start)
                return _FLOAT, "-" + word, start
        if c in _ID_START:
            word = self.opt_ident()
            if word.lower() in _SPECIAL_FLOATS:
                return _FLOAT, word, start
            raise self.error(f"expected a literal, found {_clip(word)!r}", start)
        if i >= n or s[i] not in _DIGITS:
            raise self.error(f"expected a literal, found {self.found()}", start)
        while i < n and s[i] in _DIGITS:
            i += 1
        kind = _INT
        if i < n and s[i] == ".":
            kind = _FLOAT
            i += 1
            while i < n and s[i] in _DIGITS:
                i += 1
        if i < n and s[i] in "eE":
            kind = _FLOAT
            i += 1
            if i < n and s[i] in "+-":
                i += 1
            while i < n and s[i] in _DIGITS:
                i += 1
        self.pos = i
        return kind, s[start:i], start

    def int_value(self, text: str, pos: int, lo_hi: tuple[int, int] = _INT64) -> int:
        v = _int(text)
        if v is None or not lo_hi[0] <= v <= lo_hi[1]:
            raise self.error(f"integer {_clip(text)} is out of range [{lo_hi[0]}, {lo_hi[1]}]", pos)
        return v

    def integer(self, what: str = "an integer") -> int:
        self.skip()
        kind, text, pos = self.literal_or_error(what)
        if kind != _INT:
            raise self.error(f"expected {what}, found {_clip(text)!r}", pos)
        return self.int_value(text, pos)

    def literal_or_error(self, what: str) -> tuple[str, str, int]:
        try:
            return self.literal()
        except ParseError:
            raise self.error(f"expected {what}, found {self.found()}") from None

    def _float(self, text: str, pos: int, limit: float, kind: str) -> float:
        """A floating-point literal; ``inf``/``nan`` words pass, a finite one
        at or above ``limit`` in magnitude is an error."""
        special = _SPECIAL_FLOATS.get(text.lstrip("-").lower())
        if special is not None:
            return -special if text.startswith("-") else special
        try:
            d = float(text)
        except ValueError:
            raise self.error(f"{_clip(text)!r} is not a valid number", pos) from None
        if abs(d) >= limit:
            raise self.error(f"{_clip(text)} is too large for a {kind}", pos)
        return d

    def float32(self, text: str, pos: int) -> float:
        return _round_to_float32(text, self._float(text, pos, _FLT_OVERFLOW, "float"))

    def float64(self, text: str, pos: int) -> float:
        return self._float(text, pos, float("inf"), "double")

    # types ----------------------------------------------------------------
    def type_(self) -> Type:
        self.skip()
        pos = self.pos
        word = self.ident("a type")
        if word in _PRIM:
            return self.tensor_type_rest(word)
        if word in ("seq", "optional"):
            self.expect("(")
            elem = self.type_()
            self.expect(")")
            return SequenceType(elem) if word == "seq" else OptionalType(elem)
        if word == "map":
            self.expect("(")
            self.skip()
            kpos = self.pos
            key = self.ident("a key type")
            if key not in _PRIM:
                raise self.error(f"{_clip(key)!r} is not an element type", kpos)
            self.expect(",")
            value = self.type_()
            self.expect(")")
            return MapType(_PRIM[key], value)
        if word == "sparse_tensor":
            self.expect("(")
            self.skip()
            epos = self.pos
            elem = self.ident("an element type")
            if elem not in _PRIM:
                raise self.error(f"a sparse tensor holds an element type, not {_clip(elem)!r}",
                                 epos)
            t = self.tensor_type_rest(elem)
            self.expect(")")
            return SparseTensorType(t.elem_type, t.shape)
        if word == "opaque":
            self.expect("(")
            domain = name = None
            if self.peek() != ")":
                first = self.qualified()
                if self.match(","):
                    domain = first
                    name = self.opt_ident()
                    if not name:
                        name = None
                else:
                    name = first
            self.expect(")")
            return OpaqueType(domain, name)
        raise self.error(f"{_clip(word)!r} is not a type", pos)

    def tensor_type_rest(self, word: str) -> TensorType:
        dt = _PRIM[word]
        if not self.match("["):
            return TensorType(dt, Shape(()))
        if self.match("]"):
            return TensorType(dt, None)
        dims: list[Any] = []
        while True:
            c = self.peek()
            if c == "?":
                self.pos += 1
                dims.append(None)
            elif c == '"' or c in _ID_START:
                dims.append(self.quotable())
            else:
                dims.append(self.integer("a dimension"))
            if not self.match(","):
                break
        self.expect("]")
        return TensorType(dt, Shape(dims))

    # tensors --------------------------------------------------------------
    def tensor_data(self, t: Type | None, name: str, typepos: int) -> ProtoTensor:
        """The data of a tensor constant (``{...}``, ``[...]`` or nothing) of type ``t``."""
        if not isinstance(t, TensorType) or isinstance(t, SparseTensorType):
            raise self.error("a tensor constant needs a tensor type", typepos)
        if t.shape is None:
            raise self.error("a tensor constant needs a shape (write float[2] or float)",
                             typepos)
        if not all(isinstance(d, int) for d in t.shape.dims):
            raise self.error("the dimensions of a tensor constant must be numbers", typepos)
        dt = t.elem_type
        tp = P.TensorProto(dims=list(t.shape.dims), data_type=int(dt), name=name)
        c = self.peek()
        if c == "{":
            self.pos += 1
            values = self.fast_elements(dt)
            if values is not None:
                pass
            elif not self.match("}"):
                values = []
                while True:
                    values.append(self.element(dt))
                    if not self.match(","):
                        break
                self.expect("}")
            setattr(tp, _DATA_FIELD.get(dt, "int32_data"), values or [])
        elif c == "[":
            self.pos += 1
            entries = []
            while True:
                key = self.expect_string()
                self.expect(":")
                entries.append(P.StringStringEntryProto(key=key, value=self.expect_string()))
                if not self.match(","):
                    break
            self.expect("]")
            tp.external_data = entries
            tp.data_location = P.DataLocation.EXTERNAL
        return ProtoTensor(tp)

    def fast_elements(self, dt: DataType) -> list | None:
        """The numbers up to the closing ``}``, read in bulk; None when the block
        holds anything but plain numbers (then :meth:`element` reads it one by
        one, and reports any error where it is)."""
        end = self.s.find("}", self.pos)
        if end < 0 or dt == DataType.STRING:
            return None
        block = self.s[self.pos:end]
        if '"' in block or "#" in block or not block.strip(_SPACE):
            return None
        tokens = [t.strip(_SPACE) for t in block.split(",")]
        try:
            if dt in (DataType.FLOAT, DataType.COMPLEX64, DataType.DOUBLE, DataType.COMPLEX128):
                if not all(_FLOAT_TOKEN.match(t) and (t[-1] in _DIGITS or t[-1] == "."
                                                      or t.lstrip("-").lower() in _SPECIAL_FLOATS)
                           for t in tokens):
                    return None
                values = [float(t) for t in tokens]
                if dt in (DataType.DOUBLE, DataType.COMPLEX128):
                    if any(abs(v) == float("inf") and "inf" not in t.lower()
                           for v, t in zip(values, tokens)):
                        return None
                else:
                    values = _to_float32(values, tokens)
                    if values is None:
                        return None
            else:
                if not all(_INT_TOKEN.match(t) for t in tokens):
                    return None
                ints = [_int(t) for t in tokens]
                if dt in (DataType.UINT32, DataType.UINT64):
                    if any(v is None or abs(v) >= 1 << 64 for v in ints):
                        return None
                    values = [v % (1 << 64) for v in ints]
                else:
                    lo, hi = _INT64 if dt == DataType.INT64 else _INT32
                    if any(v is None or not lo <= v <= hi for v in ints):
                        return None
                    values = ints
        except ValueError:
            return None
        self.pos = end + 1
        return values

    def element(self, dt: DataType) -> Any:
        self.skip()
        kind, text, pos = self.literal()
        if dt == DataType.STRING:
            if kind != _STR:
                raise self.error("expected a string literal", pos)
            return text.encode("utf-8", "surrogateescape")
        if kind == _STR:
            raise self.error("expected a number, found a string literal", pos)
        if dt in (DataType.FLOAT, DataType.COMPLEX64):
            return self.float32(text, pos)
        if dt in (DataType.DOUBLE, DataType.COMPLEX128):
            return self.float64(text, pos)
        if kind != _INT:
            raise self.error(f"expected an integer, found {_clip(text)!r}", pos)
        if dt == DataType.INT64:
            return self.int_value(text, pos)
        if dt in (DataType.UINT32, DataType.UINT64):
            # as strtoull reads it: a minus sign wraps around
            v = _int(text)
            if v is None or abs(v) >= 1 << 64:
                raise self.error(f"integer {_clip(text)} is out of range", pos)
            return v % (1 << 64)
        return self.int_value(text, pos, _INT32)

    # attributes -----------------------------------------------------------
    def attr_value(self, declared: int | None) -> tuple[int | None, Any, str | None]:
        """(type, value, ref) of an attribute value; ``declared`` is the type
        written before it, if any."""
        self.skip()
        start = self.pos
        c = self.peek()
        if c == "@":
            self.pos += 1
            return declared, None, self.ident("an attribute name")
        if c == "[":
            self.pos += 1
            elem_type = _SINGULAR.get(declared, declared) if declared is not None else None
            items: list = []
            if self.match("]"):
                if declared is None:
                    raise self.error("an empty list needs a type: write 'name: ints = []'",
                                     start)
                return _PLURAL.get(declared, declared), [], None
            while True:
                self.skip()
                ipos = self.pos
                if self.peek() == "@":
                    raise self.error("an attribute reference cannot be a list element", ipos)
                kind, value = self.single_value(elem_type)
                if elem_type is None:
                    elem_type = kind
                items.append(self.convert(elem_type, kind, value, ipos))
                if not self.match(","):
                    break
            self.expect("]")
            return _PLURAL[elem_type], items, None
        if declared is not None and declared in _SINGULAR:
            kind, value = self.single_value(_SINGULAR[declared])
            raise self.error(f"{_a(ATTR_TYPE_NAMES[declared])} attribute needs a list "
                             f"[...], not one {ATTR_TYPE_NAMES[kind]}", start)
        kind, value = self.single_value(declared)
        return (declared if declared is not None else kind), \
            self.convert(declared if declared is not None else kind, kind, value, start), None

    def convert(self, want: int, kind: int, value: Any, pos: int) -> Any:
        if want == kind:
            return value
        if want == A.FLOAT and kind == A.INT:
            return value  # already read as a float (see single_value)
        raise self.error(f"expected {_a(ATTR_TYPE_NAMES.get(want, str(want)))} value, found "
                         f"{_a(ATTR_TYPE_NAMES.get(kind, str(kind)))}", pos)

    def single_value(self, want: int | None) -> tuple[int, Any]:
        """(kind, value) of one attribute value (not a list, not a reference)."""
        c = self.peek()
        start = self.pos
        if c == '"':
            return A.STRING, self.string()
        if c == "-" or c in _DIGITS:
            kind, text, pos = self.literal()
            if kind == _INT and want != A.FLOAT:
                return A.INT, self.int_value(text, pos)
            v = self.float32(text, pos)
            return (A.INT if kind == _INT else A.FLOAT), v
        word = self.peek_ident()
        if not word:
            raise self.error(f"expected an attribute value, found {self.found()}")
        if word.lower() in _SPECIAL_FLOATS:
            kind, text, pos = self.literal()
            return A.FLOAT, self.float32(text, pos)
        if word in _TYPE_WORDS:
            t = self.type_()
            c = self.peek()
            if c and (c in _ID_START or c in "={["):
                name = ""
                if c in _ID_START:
                    name = self.ident()
                self.match("=")
                return A.TENSOR, self.tensor_data(t, name, start)
            return A.TYPE_PROTO, t
        return A.GRAPH, self.graph(quoted_name=False)

    def attr_name_and_type(self) -> tuple[str, int | None, str | None, int]:
        """``name`` or ``name: type``: the name, the declared type (None when
        absent or not a type), the type word as written (None when absent) and
        where it starts."""
        name = self.ident("an attribute name")
        if not self.match(":"):
            return name, None, None, self.pos
        self.skip()
        tpos = self.pos
        word = self.ident("an attribute type")
        return name, _ATTR_TYPES.get(word), word, tpos

    def attribute(self) -> _AttrSpec:
        name, declared, word, tpos = self.attr_name_and_type()
        if word is not None and declared is None:
            # onnx prints a reference without a type as ``name: undefined = @ref``;
            # read that back (onnx's parser does not)
            if word == "undefined" and self.match("=") and self.peek() == "@":
                self.pos += 1
                return _AttrSpec(name, None, None, self.ident("an attribute name"))
            raise self.error(f"{_clip(word)!r} is not an attribute type", tpos)
        self.expect("=")
        typ, value, ref = self.attr_value(declared)
        return _AttrSpec(name, typ, value, ref)

    def attributes(self) -> list[_AttrSpec]:
        """``<a = 1, b = 2>`` (the ``<`` already read)."""
        out = [self.attribute()]
        while self.match(","):
            out.append(self.attribute())
        self.expect(">")
        return out

    # nodes ----------------------------------------------------------------
    def id_list(self) -> list[str]:
        """Names separated by commas, empty ones allowed (an optional input left
        out); a trailing comma adds nothing."""
        out: list[str] = []
        while True:
            c = self.peek()
            if c == '"':
                out.append(self.string())
            else:
                word = self.opt_ident()
                if not word and self.peek() != ",":
                    break
                out.append(word)
            if not self.match(","):
                break
        return out

    def node(self) -> _NodeSpec:
        n = _NodeSpec()
        if self.match("["):
            n.label = "" if self.peek() == "]" else self.quotable("a node name")
            self.expect("]")
        n.outputs = self.id_list()
        self.expect("=")
        # domain.Op; like onnx, the first part may be missing (an empty op type)
        parts = [self.opt_ident()]
        while self.match("."):
            parts.append(self.ident("an operator name"))
        domain, _, op_type = ".".join(parts).rpartition(".")
        n.domain, n.op_type = domain, op_type
        if self.match(":"):
            n.overload = self.ident("an overload name")
        before = False
        if self.match("<"):
            n.attrs = self.attributes()
            before = True
        self.expect("(")
        n.inputs = self.id_list()
        self.expect(")")
        if not before and self.match("<"):
            n.attrs = self.attributes()
        return n

    def node_list(self) -> list[_NodeSpec]:
        self.expect("{")
        nodes = []
        while not self.match("}"):
            if self.at_end():
                raise self.error("expected '}' to close the node list, found the end of the text")
            nodes.append(self.node())
        return nodes

    # graphs ---------------------------------------------------------------
    def value_info(self, allow_data: bool) -> tuple[str, Type | None, ProtoTensor | None]:
        """``type name``, ``name`` or (``allow_data``) ``type name = data``."""
        self.skip()
        start = self.pos
        t = None
        if self.peek_ident() in _TYPE_WORDS:
            t = self.type_()
        name = self.quotable("a value name")
        data = None
        if allow_data and self.match("="):
            data = self.tensor_data(t, name, start)
        return name, t, data

    def value_infos(self, close: str, allow_data: bool) -> list:
        if self.match(close):
            return []
        out = [self.value_info(allow_data)]
        while self.match(","):
            out.append(self.value_info(allow_data))
        self.expect(close)
        return out

    def graph(self, quoted_name: bool = True) -> _GraphSpec:
        name = self.quotable("a graph name") if quoted_name else self.ident("a graph name")
        g = _GraphSpec(name)
        if self.match("("):  # onnx lets a graph leave out its input list
            g.inputs = self.value_infos(")", True)
        if not self.match_arrow():
            raise self.error(f"expected '=>', found {self.found()}")
        self.expect("(")
        g.outputs = [(nm, t) for nm, t, _ in self.value_infos(")", False)]
        if self.match("<"):
            g.extras = self.value_infos(">", True)
        g.nodes = self.node_list()
        return g

    # headers --------------------------------------------------------------
    def header(self, keys: dict[str, str]) -> list[tuple[str, Any, int]]:
        """``<key: value, ...>`` (the ``<`` already read): (key, value, position)."""
        out = []
        while True:
            self.skip()
            kpos = self.pos
            key = self.ident("a key")
            kind = keys.get(key)
            if kind is None:
                raise self.error(f"{_clip(key)!r} is not a key here; expected one of "
                                 f"{', '.join(keys)}", kpos)
            self.expect(":")
            if kind == "int":
                value: Any = self.integer()
            elif kind == "str":
                value = self.expect_string()
            elif kind == "opsets":
                value = self.pairs(int_values=True)
            else:
                value = self.pairs(int_values=False)
            out.append((key, value, kpos))
            if not self.match(","):
                break
        self.expect(">")
        return out

    def pairs(self, int_values: bool) -> list[tuple[str, Any]]:
        self.expect("[")
        out: list[tuple[str, Any]] = []
        if self.match("]"):
            return out
        while True:
            key = self.expect_string()
            self.expect(":")
            out.append((key, self.integer("a version") if int_values else self.expect_string()))
            if not self.match(","):
                break
        self.expect("]")
        return out

    # functions ------------------------------------------------------------
    def function_spec(self) -> dict:
        spec: dict[str, Any] = {"header": []}
        if self.match("<"):
            spec["header"] = self.header(_FUNCTION_KEYS)
        spec["name"] = self.quotable("a function name")
        names: list[str] = []
        defaults: list[_AttrSpec] = []
        if self.match("<"):
            while True:
                name, declared, word, tpos = self.attr_name_and_type()
                unknown = word is not None and declared is None
                if unknown and self.peek() == "=":
                    raise self.error(f"{_clip(word)!r} is not an attribute type", tpos)
                # (an unknown type with no default: onnx keeps the name and drops the type)
                if unknown:
                    defaults.append(_AttrSpec(name, None, None, None))
                elif self.match("="):
                    typ, value, ref = self.attr_value(declared)
                    defaults.append(_AttrSpec(name, typ, value, ref))
                elif declared is not None:
                    defaults.append(_AttrSpec(name, declared, None, None))
                else:
                    names.append(name)
                if not self.match(","):
                    break
            self.expect(">")
        spec["attributes"], spec["defaults"] = names, defaults
        self.expect("(")
        spec["inputs"] = [(nm, t) for nm, t, _ in self.value_infos(")", False)]
        if not self.match_arrow():
            raise self.error(f"expected '=>', found {self.found()}")
        self.expect("(")
        spec["outputs"] = [(nm, t) for nm, t, _ in self.value_infos(")", False)]
        spec["value_info"] = []
        if self.match("<"):
            spec["value_info"] = self.value_infos(">", False)
        spec["nodes"] = self.node_list()
        return spec


_MODEL_KEYS = {"ir_version": "int", "opset_import": "opsets", "producer_name": "str",
               "producer_version": "str", "domain": "str", "model_version": "int",
               "doc_string": "str", "metadata_props": "props"}
_FUNCTION_KEYS = {"domain": "str", "overload": "str", "doc_string": "str",
                  "opset_import": "opsets"}


_INT_TOKEN = re.compile(r"-?[0-9]+\Z")
_FLOAT_TOKEN = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|[A-Za-z_][A-Za-z0-9_]*)\Z")


def _to_float32(values: list[float], tokens: list[str]) -> list[float] | None:
    """float32 roundings of float64 values (None if one overflows), each rounded
    once from its decimal, as strtof does."""
    arr = np.array(values, dtype=np.float64)
    finite = np.isfinite(arr)
    if (np.abs(arr[finite]) >= _FLT_OVERFLOW).any():
        return None
    with np.errstate(over="ignore"):
        f32 = arr.astype(np.float32)
        back = f32.astype(np.float64)
        off = np.flatnonzero(finite & (back != arr))
        out = back.tolist()
        if not off.size:
            return out
        toward = np.where(arr[off] > back[off], np.float32(np.inf), np.float32(-np.inf))
        nxt = np.nextafter(f32[off], toward).astype(np.float64)
        mid = (back[off] + nxt) / 2
    for k in np.flatnonzero(mid == arr[off]).tolist():  # a float64 on a midpoint
        i = int(off[k])
        out[i] = _round_to_float32(tokens[i], values[i])
    return out


def _clip(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def _int(text: str) -> int | None:
    """The value of an integer literal; None when it has more digits than any
    64-bit integer (so that huge literals cost nothing)."""
    digits = text.lstrip("-").lstrip("0")
    if len(digits) > 20:
        return None
    return -int(digits or "0") if text.startswith("-") else int(digits or "0")


def _round_to_float32(text: str, d: float) -> float:
    """The float32 nearest the decimal ``text`` (``d`` is the float64 nearest it),
    rounding once, as strtof does."""
    f = struct.unpack("<f", struct.pack("<f", d))[0]
    if f == d or d != d:
        return f
    # was d exactly halfway between two float32 values?  then round the decimal itself
    other = _next_float32(f, d)
    big = Fraction(2) ** 128  # past the largest float32, where "inf" stands
    mid = (Fraction(f) + (Fraction(other) if abs(other) != float("inf")
                          else (big if other > 0 else -big))) / 2
    if Fraction(d) != mid:
        return f
    try:
        exact = Fraction(text)
    except ValueError:  # too many digits to convert: keep the float64 rounding
        return f
    if exact == mid:
        return f  # a true tie: struct rounded it to even already
    return other if (exact > mid) == (other > f) else f


def _next_float32(f: float, toward: float) -> float:
    bits = struct.unpack("<I", struct.pack("<f", f))[0]
    up = (toward > f) == (f >= 0) if f != 0 else True
    bits = bits + 1 if up else bits - 1
    return struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFFFF))[0]


# ---------------------------------------------------------------- building the IR


class _Builder:
    def graph(self, spec: _GraphSpec, scopes: list[dict[str, Value]]) -> Graph:
        g = Graph(name=spec.name)
        if spec.name == "":
            _mark(g, "name")
        local: dict[str, Value] = {}
        for name, t, data in spec.inputs:
            v = Value(name, t)
            g.inputs.append(v)
            local.setdefault(name, v)
            if data is not None:
                v.const_value = data
                add_listed_initializer(g, name, v)
        for name, t, data in spec.extras:
            if data is None:
                continue
            v = local.get(name)
            if v is None or v.const_value is not None:
                v = Value(name, TensorType(data.dtype, data.shape))
                local.setdefault(name, v)
            v.const_value = data
            add_listed_initializer(g, name, v)
        resolve = self.body(g, local, spec.nodes, scopes)
        described: set[int] = set()
        output_info = {}
        for i, (name, t) in enumerate(spec.outputs):
            inside = name in local
            v = resolve(name)
            if _own(g, v, described):
                v.type = t
                described.add(id(v))
            elif not inside or v.type != t:
                # described apart from the value itself (an outer value may get its
                # own description later)
                output_info[i] = Value(name, t)
            g.outputs.append(v)
        if output_info:
            set_details(g, output_info=output_info)
        for name, t, data in spec.extras:
            if data is None:
                g.value_info.append(_describe(g, local.get(name), name, t, described))
        return g

    def body(self, g: Graph, local: dict[str, Value], specs: list[_NodeSpec],
             scopes: list[dict[str, Value]]):
        """Add the nodes of ``specs`` to ``g``; returns the name resolver of its scope."""
        nodes = []
        for ns in specs:
            outs = []
            for name in ns.outputs:
                v = Value(name)
                outs.append(v)
                if name and name not in local:
                    local[name] = v
            node = Node(ns.op_type, (), outs, domain=ns.domain, name=ns.label or "",
                        overload=ns.overload or "")
            if ns.domain == "":
                _mark(node, "domain")
            if ns.op_type == "":
                _mark(node, "op_type")
            if ns.label == "":
                _mark(node, "name")
            nodes.append(node)
            g.append(node)
        return link_nodes([(node, ns.inputs, ns.attrs) for node, ns in zip(nodes, specs)],
                          local, scopes, self.attribute)

    def attribute(self, a: _AttrSpec, scopes: list[dict[str, Value]]) -> Attribute:
        value = a.value
        if a.type == A.GRAPH and value is not None:
            value = self.graph(value, scopes)
        elif a.type == A.GRAPHS and value is not None:
            value = [self.graph(x, scopes) for x in value]
        elif a.type in _SINGULAR and value is None and a.ref is None:
            value = []
        attr = Attribute(a.name, a.type if a.type is not None else A.UNDEFINED, value,
                         ref_attr_name=a.ref)
        if a.type is None:
            set_details(attr, absent=frozenset({"type"}))
        elif a.ref is None and value is None:
            # a declared type and no value (a function attribute without a default)
            field = _VALUE_FIELD.get(a.type)
            if field is not None:
                set_details(attr, absent=frozenset({field}))
        return attr

    def node(self, spec: _NodeSpec) -> Node:
        """A node on its own: its subgraphs see its inputs and outputs by name."""
        g = Graph()
        scope = {}
        for name in spec.inputs:
            if name and name not in scope:
                scope[name] = Value(name)
        self.body(g, {}, [spec], [scope])
        node = g.nodes[0]
        inputs = node.inputs
        g.remove(node, safe=False)
        node.set_inputs(inputs)
        return node

    def function(self, spec: dict) -> Function:
        head = {k: v for k, v, _ in spec["header"]}
        g = Graph()
        local: dict[str, Value] = {}
        for name, _t in spec["inputs"]:
            v = Value(name)
            g.inputs.append(v)
            local.setdefault(name, v)
        resolve = self.body(g, local, spec["nodes"], [])
        for name, _t in spec["outputs"]:
            g.outputs.append(resolve(name))
        # typed inputs and outputs, then the <...> list, become value_info entries
        described: set[int] = set()
        for name, t in spec["inputs"] + spec["outputs"]:
            if t is not None:
                g.value_info.append(_describe(g, local.get(name), name, t, described, True))
        for name, t, _ in spec["value_info"]:
            g.value_info.append(_describe(g, local.get(name), name, t, described, True))
        f = Function(head.get("domain", ""), spec["name"], g, overload=head.get("overload", ""),
                     attributes=spec["attributes"],
                     attribute_defaults=[self.attribute(a, []) for a in spec["defaults"]],
                     doc_string=head.get("doc_string", ""))
        for key in ("domain", "overload", "doc_string"):
            if head.get(key) == "":
                _mark(f, key)
        if spec["name"] == "":
            _mark(f, "name")
        f.opset_imports = _opsets(f, [e for k, v, _ in spec["header"] if k == "opset_import"
                                      for e in v])
        return f


def _own(g: Graph, v: Value | None, described: set[int], inputs_too: bool = False) -> bool:
    """Whether ``v`` is a value of ``g`` (a node output, or with ``inputs_too`` an
    input) that no description has claimed yet."""
    if v is None or v.type is not None or id(v) in described:
        return False
    p = v.producer()
    if p is not None:
        return p.graph is g
    return inputs_too and any(x is v for x in g.inputs)


def _describe(g: Graph, v: Value | None, name: str, t: Type | None, described: set[int],
              inputs_too: bool = False) -> Value:
    """The Value a ``value_info`` entry describes: ``v`` itself when it is still
    untyped, else a detached Value that carries the description."""
    if _own(g, v, described, inputs_too):
        v.type = t
        described.add(id(v))
        return v
    return Value(name, t)


_VALUE_FIELD = {A.FLOAT: "f", A.INT: "i", A.STRING: "s", A.TENSOR: "t", A.GRAPH: "g",
                A.SPARSE_TENSOR: "sparse_tensor", A.TYPE_PROTO: "tp"}


def _opsets(obj: Any, entries: list[tuple[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d, v in entries:
        # a repeated domain: serde writes the raw entries back only when the
        # dict agrees with their last version
        out[d] = v
    if len(out) != len(entries):
        set_details(obj, opsets=list(entries))
    return out


# ---------------------------------------------------------------- entry points


def _run(text: Any, what: str) -> Any:
    p = _Parser(text)
    try:
        if what == "model":
            result = _model(p)
        elif what == "graph":
            result = _Builder().graph(p.graph(), [])
        elif what == "function":
            result = _Builder().function(p.function_spec())
        else:
            result = _Builder().node(p.node())
        if not p.at_end():
            raise p.error(f"unexpected text after the {what}: {p.found()}")
        return result
    except RecursionError:
        raise p.error("the text nests too deeply") from None


def _model(p: _Parser) -> Model:
    header: list = []
    if p.match("<"):
        header = p.header(_MODEL_KEYS)
    b = _Builder()
    graph = b.graph(p.graph(), [])
    functions = []
    while not p.at_end():
        functions.append(b.function(p.function_spec()))
    m = Model(graph, ir_version=0, opset_imports={}, producer_name="", functions=functions)
    opsets: list[tuple[str, int]] = []
    for key, value, _ in header:
        if key == "opset_import":
            opsets += value
        elif key == "metadata_props":
            m.metadata_props.update(value)  # a dict: a repeated key keeps its last value
        else:
            setattr(m, key, value)
            if value in ("", 0):
                _mark(m, key)
    m.opset_imports = _opsets(m, opsets)
    return m


def parse(text: str) -> Model:
    """Parse the text of a model: an optional ``<key: value, ...>`` header, the
    main graph, then any functions (each with an optional header).

    Raises :class:`~onnxkit.errors.ParseError` (with ``line`` and ``column``)
    for malformed text.
    """
    return _run(text, "model")


def parse_graph(text: str) -> Graph:
    """Parse the text of one graph: ``name (inputs) => (outputs) <...> {nodes}``.
    Names its nodes read but it does not define stay dangling values."""
    return _run(text, "graph")


def parse_function(text: str) -> Function:
    """Parse the text of one function (with its optional header)."""
    return _run(text, "function")


def parse_node(text: str) -> Node:
    """Parse the text of one node: ``outputs = domain.Op <attributes> (inputs)``.
    Its inputs are fresh values of no graph."""
    return _run(text, "node")
