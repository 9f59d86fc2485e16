"""IR -> ONNX text syntax, written the way ``onnx.printer.to_text`` writes it.

The layout (indentation, separators, which fields appear) follows onnx's
printer exactly, quirks included, so that the text of a model loaded from a
file is the text onnx prints for that file.  What the syntax cannot say is
left out, as onnx leaves it out: doc strings other than the model's, value and
type denotations, sparse tensors, training info, function attribute defaults
and value infos.
"""

from __future__ import annotations

import re
import struct
from typing import Any, Iterable

import numpy as np

from ..ir._core import Attribute, AttributeType, Function, Graph, Model, Node, Value
from ..ir._details import attributes_as_listed, details, initializers_as_listed, output_description
from ..ir._dtypes import DataType
from ..ir._tensor import ExternalTensor, ProtoTensor, TensorBase
from ..ir._types import (MapType, OpaqueType, OptionalType, SequenceType, SparseTensorType,
                         TensorType, Type)
from ..ir.serde import _graph_values, _value_info_values

_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# spelling of the attribute types in ``name: type = value``
ATTR_TYPE_NAMES = {
    AttributeType.UNDEFINED: "undefined", AttributeType.FLOAT: "float", AttributeType.INT: "int",
    AttributeType.STRING: "string", AttributeType.TENSOR: "tensor", AttributeType.GRAPH: "graph",
    AttributeType.SPARSE_TENSOR: "sparse_tensor", AttributeType.TYPE_PROTO: "type_proto",
    AttributeType.FLOATS: "floats", AttributeType.INTS: "ints", AttributeType.STRINGS: "strings",
    AttributeType.TENSORS: "tensors", AttributeType.GRAPHS: "graphs",
    AttributeType.SPARSE_TENSORS: "sparse_tensors", AttributeType.TYPE_PROTOS: "type_protos",
}

# element types whose values the syntax can write, and how a raw_data buffer holds them
_RAW_VIEW = {
    DataType.FLOAT: "<f4", DataType.DOUBLE: "<f8", DataType.INT8: "i1", DataType.UINT8: "u1",
    DataType.INT16: "<i2", DataType.UINT16: "<u2", DataType.INT32: "<i4", DataType.INT64: "<i8",
    DataType.UINT32: "<u4", DataType.UINT64: "<u8", DataType.BOOL: "u1",
    DataType.FLOAT16: "<u2", DataType.BFLOAT16: "<u2", DataType.FLOAT8E4M3FN: "u1",
    DataType.FLOAT8E4M3FNUZ: "u1", DataType.FLOAT8E5M2: "u1", DataType.FLOAT8E5M2FNUZ: "u1",
    DataType.FLOAT8E8M0: "u1",
}
# the TensorProto field each printable element type is stored in
_FIELD = {DataType.FLOAT: "float_data", DataType.DOUBLE: "double_data",
          DataType.INT64: "int64_data", DataType.UINT32: "uint64_data",
          DataType.UINT64: "uint64_data", DataType.STRING: "string_data"}
for _dt in _RAW_VIEW:
    _FIELD.setdefault(_dt, "int32_data")


# ---------------------------------------------------------------- small pieces


def quote(s: str) -> str:
    """A string literal: ``"`` and ``\\`` escaped with a backslash, nothing else."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_id(s: str | None) -> str:
    """A name: bare when it is an identifier, else a string literal."""
    s = s or ""
    return s if _ID.match(s) else quote(s)


def _shortest(text: str, value: float) -> str:
    """``value`` as C++ ``std::to_chars`` writes it: the shortest digits that read
    back as the same number (``text``, numpy's shortest spelling of it), in fixed
    or scientific notation, whichever is shorter (fixed on a tie)."""
    neg = text.startswith("-")
    if neg:
        text = text[1:]
    mant, _, e = text.partition("e")
    ip, _, fp = mant.partition(".")
    digits = ip + fp
    exp = (int(e) if e else 0) + len(ip) - 1
    stripped = digits.lstrip("0")
    exp -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    if not digits:
        return "-0" if neg else "0"
    n = len(digits)
    sci = digits[0] + ("." + digits[1:] if n > 1 else "") + ("e-" if exp < 0 else "e+") \
        + ("%02d" % abs(exp))
    if exp >= n - 1:
        fixed = str(int(abs(value)))  # an integer: all of its digits, exactly
    elif exp >= 0:
        fixed = digits[:exp + 1] + "." + digits[exp + 1:]
    else:
        fixed = "0." + "0" * (-exp - 1) + digits
    out = fixed if len(fixed) <= len(sci) else sci
    return "-" + out if neg else out


def _special(x: float) -> str | None:
    if x != x:
        return "-nan" if struct.pack("<d", x)[7] & 0x80 else "nan"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    return None


def format_float(x: float) -> str:
    """A float32 value the way onnx prints it."""
    s = _special(x)
    if s is not None:
        return s
    f = np.float32(x)
    return _shortest(str(f), float(f))


def _format_floats(values: Any, double: bool) -> list[str]:
    """Many float32 (or float64) values the way onnx prints them."""
    arr = np.asarray(values, dtype=np.float64 if double else np.float32).reshape(-1)
    if not arr.size:
        return []
    out = []
    cache: dict[str, str] = {}
    sign = None
    for i, (t, v) in enumerate(zip(arr.astype(str).tolist(), arr.tolist())):
        s = cache.get(t)
        if s is None:
            if t == "nan":  # numpy's text drops the sign of a NaN: look at the bits
                if sign is None:
                    sign = np.signbit(arr)
                out.append("-nan" if sign[i] else "nan")
                continue
            s = cache[t] = t if t in ("inf", "-inf") else _shortest(t, v)
        out.append(s)
    return out


# ---------------------------------------------------------------- presence


def _present(obj: Any, field: str, value: Any, default: Any) -> bool:
    """Whether serialization writes this optional field (see serde._opt)."""
    if value is None:
        return False
    d = details(obj)
    if field in d.absent:
        return False
    return value != default or field in d.explicit


def _opsets(obj: Any, opsets: dict[str, int]) -> list[tuple[str, int]]:
    raw = details(obj).opsets
    if raw is not None and {(d or ""): (v or 0) for d, v in raw} == opsets and \
            len({d or "" for d, _ in raw}) == len(opsets):
        return [(d or "", v or 0) for d, v in raw]
    return list(opsets.items())


# ---------------------------------------------------------------- types


def _elem_name(dt: Any) -> str:
    try:
        dt = DataType(dt)
    except (ValueError, TypeError):
        return "undefined"
    return "undefined" if dt == DataType.UNDEFINED else dt.short_name


def _dim(d: Any) -> str:
    if d is None:
        return "?"
    if isinstance(d, int):
        return str(d)
    return quote_id(d)


def format_type(t: Type | None) -> str:
    if t is None:
        return ""
    if isinstance(t, TensorType):
        s = _elem_name(t.elem_type)
        if t.shape is None:
            s += "[]"
        elif t.shape.rank:
            s += "[" + ",".join(_dim(d) for d in t.shape.dims) + "]"
        return f"sparse_tensor({s})" if isinstance(t, SparseTensorType) else s
    if isinstance(t, SequenceType):
        return f"seq({format_type(t.elem_type)})"
    if isinstance(t, OptionalType):
        return f"optional({format_type(t.elem_type)})"
    if isinstance(t, MapType):
        return f"map({_elem_name(t.key_type)}, {format_type(t.value_type)})"
    if isinstance(t, OpaqueType):
        return "opaque(" + (t.domain + "," if t.domain else "") + (t.name or "") + ")"
    return ""


# ---------------------------------------------------------------- tensors


def _tensor_data(t: TensorBase) -> str:
    """The data part of a tensor: `` {1,2}``, ``{"a", "b"}``, ``[...]`` or ``...``."""
    if isinstance(t, ExternalTensor):
        if t.proto is not None:
            entries = [(e.key or "", e.value or "") for e in t.proto.external_data]
        else:
            entries = [("location", t.location)]
            if t.offset is not None:
                entries.append(("offset", str(t.offset)))
            if t.length is not None:
                entries.append(("length", str(t.length)))
        return _str_str_list(entries)
    try:
        dt = DataType(t.dtype)
    except (ValueError, TypeError):
        return "..."
    if isinstance(t, ProtoTensor):
        p = t.proto
        if p.data_location == 1:
            return _str_str_list([(e.key or "", e.value or "") for e in p.external_data])
        if dt == DataType.STRING:
            return _string_data(bytes(s).decode("utf-8", "surrogateescape") for s in p.string_data)
        if dt not in _RAW_VIEW:
            return "..."
        if p.raw_data is not None:
            arr = np.frombuffer(p.raw_data, dtype=_RAW_VIEW[dt],
                                count=len(p.raw_data) // np.dtype(_RAW_VIEW[dt]).itemsize)
            return " {" + ",".join(_values_text(dt, arr)) + "}"
        values = getattr(p, _FIELD[dt])
        if dt == DataType.FLOAT:
            return " {" + ",".join(_format_floats(values, False)) + "}"
        if dt == DataType.DOUBLE:
            return " {" + ",".join(_format_floats(values, True)) + "}"
        return " {" + ",".join(str(int(v)) for v in values) + "}"
    # an in-memory tensor: print what its serialized form (raw_data) holds
    arr = t.numpy()
    if dt == DataType.STRING:
        return _string_data(s.decode("utf-8", "surrogateescape") if isinstance(s, bytes) else str(s)
                            for s in arr.reshape(-1))
    if dt not in _RAW_VIEW:
        return "..."
    raw = np.ascontiguousarray(arr, dtype=dt.numpy_dtype).reshape(-1)
    if dt in (DataType.FLOAT, DataType.DOUBLE):
        return " {" + ",".join(_format_floats(raw, dt == DataType.DOUBLE)) + "}"
    view = np.dtype(_RAW_VIEW[dt]).newbyteorder("=")
    return " {" + ",".join(_values_text(dt, raw.view(view) if raw.dtype.itemsize == view.itemsize
                                        else raw.astype(view))) + "}"


def _string_data(items: Iterable[str]) -> str:
    # onnx writes the opening brace only before a first element
    texts = [quote(x) for x in items]
    return ("{" + ", ".join(texts) if texts else "") + "}"


def _values_text(dt: DataType, arr: np.ndarray) -> list[str]:
    if dt == DataType.FLOAT:
        return _format_floats(arr, False)
    if dt == DataType.DOUBLE:
        return _format_floats(arr, True)
    return [str(v) for v in arr.tolist()]


def _str_str_list(entries: Iterable[tuple[str, str]]) -> str:
    return "[" + ", ".join(f"{quote(k)}: {quote(v)}" for k, v in entries) + "]"


def _tensor_type_text(t: TensorBase) -> str:
    s = _elem_name(t.dtype)
    if t.shape:
        s += "[" + ",".join(str(d) for d in t.shape) + "]"
    return s


def format_tensor(t: TensorBase | None, name: str | None = None, weights: bool = True) -> str:
    """A tensor constant: ``float[2] name {1,2}`` (the name left out when empty);
    without ``weights``, a big tensor's values are ``{...}``."""
    if t is None:
        return "undefined..."
    name = t.name if name is None else name
    s = _tensor_type_text(t)
    if name:
        s += " " + quote_id(name)
    return s + (" {...}" if not weights and _is_big(t) else _tensor_data(t))


#: tensors of at most this many values are printed in full even without ``weights``
#: (shapes, axes, scalars: the constants a reader needs to follow the graph)
SMALL_TENSOR = 16


def _is_big(t: TensorBase) -> bool:
    return int(np.prod(t.shape, dtype=np.int64)) > SMALL_TENSOR if t.shape is not None else True


def tensor_summary(t: TensorBase) -> str:
    """``9,408 values: min -0.51, max 0.49, mean 0.0012, 0.1% zeros`` (reads the data)."""
    n = int(np.prod(t.shape, dtype=np.int64)) if t.shape is not None else 0
    text = f"{n:,} values"
    try:
        a = t.numpy()
    except Exception as e:  # a summary is for reading: say why there is none, go on
        return f"{text}, data not readable ({' '.join(str(e).split())[:120]})"
    if isinstance(t, ExternalTensor) or (isinstance(t, ProtoTensor) and t.proto.data_location == 1):
        text += " (external data)"
    if a.size == 0 or a.dtype.kind not in "biufV" and a.dtype.kind != "c":
        return text
    x = a.reshape(-1)
    try:
        if x.dtype.kind == "c":
            x = np.abs(x)
        elif x.dtype.kind not in "fiub" or x.dtype == np.float16:
            x = x.astype(np.float32)        # bfloat16, float8, int4 ...: through float32
    except (TypeError, ValueError):
        return text
    with np.errstate(all="ignore"):
        zeros = 100.0 * (x.size - np.count_nonzero(x)) / x.size
        return (f"{text}: min {float(x.min()):.4g}, max {float(x.max()):.4g}, "
                f"mean {float(x.mean(dtype=np.float64)):.4g}, {zeros:.3g}% zeros")


# ---------------------------------------------------------------- printer


class _Printer:
    def __init__(self, graphs: list[Graph], extra: Iterable[Value] = (), weights: bool = True) -> None:
        self.out: list[str] = []
        self.names = _auto_names(graphs, extra)
        self.weights = weights

    def name(self, v: Value) -> str:
        """A value's name; an unnamed one gets the name serialization would give it."""
        return v.name if v.name is not None else self.names.get(id(v), "")

    def w(self, s: str) -> None:
        self.out.append(s)

    def text(self) -> str:
        return "".join(self.out)

    # values
    def value_info(self, v: Value, described: Value | None = None) -> str:
        d = v if described is None else described
        name = "" if "name" in details(d).absent else self.name(v)
        return format_type(d.type) + " " + quote_id(name)

    # attributes
    def attribute(self, a: Attribute, indent: int) -> None:
        typ = AttributeType.UNDEFINED if "type" in details(a).absent else a.type
        self.w(f"{a.name}: {ATTR_TYPE_NAMES.get(typ, 'undefined')} = ")
        if a.ref_attr_name is not None:
            self.w("@" + a.ref_attr_name)
            return
        v = a.value
        if typ == AttributeType.FLOAT:
            self.w(format_float(v if v is not None else 0.0))
        elif typ == AttributeType.INT:
            self.w(str(int(v if v is not None else 0)))
        elif typ == AttributeType.STRING:
            self.w(quote(_as_str(v)))
        elif typ == AttributeType.TENSOR:
            self.w(format_tensor(v, weights=self.weights))
        elif typ == AttributeType.GRAPH:
            self.graph(v if v is not None else Graph(), indent)
        elif typ == AttributeType.TYPE_PROTO:
            self.w(format_type(v))
        elif typ == AttributeType.FLOATS:
            self.w("[" + ", ".join(_format_floats(list(v or ()), False)) + "]")
        elif typ == AttributeType.INTS:
            self.w("[" + ", ".join(str(int(x)) for x in v or ()) + "]")
        elif typ == AttributeType.STRINGS:
            # onnx writes the opening bracket only before a first element
            items = [quote(_as_str(x)) for x in v or ()]
            self.w(("[" + ", ".join(items) if items else "") + "]")
        elif typ == AttributeType.TENSORS:
            self.w("[" + ", ".join(format_tensor(x, weights=self.weights) for x in v or ()) + "]")
        elif typ == AttributeType.GRAPHS:
            self.w("[")
            for i, g in enumerate(v or ()):
                if i:
                    self.w(", ")
                self.graph(g, indent)
            self.w("]")
        elif typ == AttributeType.TYPE_PROTOS:
            self.w("[" + ", ".join(format_type(x) for x in v or ()) + "]")
        # sparse tensors and undefined attributes: onnx writes no value

    def attributes(self, attrs: list[Attribute], indent: int) -> None:
        self.w("<")
        for i, a in enumerate(attrs):
            if i:
                self.w(", ")
            self.attribute(a, indent)
        self.w(">")

    # nodes
    def node(self, n: Node, indent: int) -> None:
        pad = " " * indent
        self.w(pad)
        if _present(n, "name", n.name, ""):
            self.w(f"[{quote_id(n.name)}] ")
        self.w(", ".join(quote_id(self.name(v)) for v in n.outputs))
        self.w(" = ")
        if n.domain:
            self.w(n.domain + ".")
        self.w(n.op_type)
        if n.overload:
            self.w(":" + n.overload)
        attrs = attributes_as_listed(n)
        has_graph = any(_holds_graph(a) for a in attrs)
        if attrs and not has_graph:
            self.w(" ")
            self.attributes(attrs, indent)
        ins = (quote_id(None if v is None else self.name(v)) for v in n.inputs)
        self.w(" (" + ", ".join(ins) + ")")
        if attrs and has_graph:
            self.w(" ")
            self.attributes(attrs, indent)
        self.w("\n")

    def nodes(self, nodes: Iterable[Node], indent: int) -> None:
        for n in nodes:
            self.node(n, indent)

    # graphs
    def graph(self, g: Graph, indent: int = 0) -> None:
        initializers = initializers_as_listed(g)
        self.w(quote_id(g.name) + " (")
        self.w(", ".join(self.value_info(v) for v in g.inputs))
        self.w(") => (")
        self.w(", ".join(self.value_info(v, output_description(g, i)) for i, v in enumerate(g.outputs)))
        self.w(") ")
        big = [] if self.weights else [v for v in initializers if _is_big(v.const_value)]
        if big:     # one entry a line, each big weight as its type and a summary in a comment
            pad = "\n" + " " * (indent + 6)
            entries = [(_initializer_text(v), "") if not _is_big(v.const_value) else
                       (_tensor_type_text(v.const_value) + " " + quote_id(self.name(v)),
                        "   # " + tensor_summary(v.const_value)) for v in initializers]
            entries += [(self.value_info(v), "") for v in _value_info_values(g)]
            body = "".join(pad + text + ("," if i < len(entries) - 1 else "") + note
                           for i, (text, note) in enumerate(entries))
            self.w("\n" + " " * (indent + 3) + "<" + body + "\n" + " " * (indent + 3) + ">\n")
            extra = None
        else:
            extra = [_initializer_text(v) for v in initializers]
            extra += [self.value_info(v) for v in _value_info_values(g)]
        if extra:
            self.w("\n" + " " * (indent + 3) + "<" + ", ".join(extra) + ">\n")
        self.w("{\n")
        self.nodes(g, indent + 3)
        self.w(" " * indent + "}")

    # functions and models
    def function(self, f: Function) -> None:
        self.w("<\n")
        lines = [f"  domain: {quote(f.domain or '')}"]
        if f.overload:
            lines.append(f"  overload: {quote(f.overload)}")
        lines.append("  opset_import: [" + ",".join(
            f"{quote(d)} : {v}" for d, v in _opsets(f, f.opset_imports)) + "]")
        self.w(",\n".join(lines))
        self.w("\n>\n")
        self.w(quote_id(f.name) + " ")
        if f.attributes:
            self.w("<" + ",".join(f.attributes) + ">")
        self.w("(" + ", ".join(quote_id(self.name(v)) for v in f.graph.inputs) + ") => (")
        self.w(", ".join(quote_id(self.name(v)) for v in f.graph.outputs) + ")\n{\n")
        self.nodes(f.graph, 3)
        self.w("}")

    def model(self, m: Model) -> None:
        lines = [f"   ir_version: {int(m.ir_version or 0)}",
                 "   opset_import: [" + ", ".join(
                     f"{quote(d)} : {v}" for d, v in _opsets(m, m.opset_imports)) + "]"]
        for field, default in (("producer_name", ""), ("producer_version", ""), ("domain", ""),
                               ("model_version", 0), ("doc_string", "")):
            value = getattr(m, field)
            if _present(m, field, value, default):
                lines.append(f"   {field}: " + (str(value) if field == "model_version"
                                                   else quote(value)))
        if m.metadata_props:
            lines.append("   metadata_props: " + _str_str_list(m.metadata_props.items()))
        self.w("<\n" + ",\n".join(lines) + "\n>\n")
        self.graph(m.graph, 0)
        for f in m.functions:
            self.w("\n")
            self.function(f)


def _as_str(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).decode("utf-8", "surrogateescape")
    return str(v)




def _holds_graph(a: Attribute) -> bool:
    """Whether the serialized attribute has a ``g`` or a ``graphs`` entry (onnx then
    writes the node's attributes after its inputs)."""
    d = details(a)
    stray = d.stray or {}
    if stray.get("g") is not None or stray.get("graphs"):
        return True
    if a.ref_attr_name is not None:
        return False
    if a.type == AttributeType.GRAPH:
        return a.value is not None and "g" not in d.absent
    return a.type == AttributeType.GRAPHS and bool(a.value)


def _initializer_text(v: Value) -> str:
    t = v.const_value
    s = _tensor_type_text(t)
    if v.name:
        s += " " + quote_id(v.name)
    return s + " = " + _tensor_data(t)


def _auto_names(graphs: list[Graph], extra: Iterable[Value] = ()) -> dict[int, str]:
    """Names for unnamed values, as :func:`onnxkit.ir.serde.assign_names` would
    give them, without changing the model."""
    values = [v for v in extra if v is not None]
    values += [v for g in graphs for v in _graph_values(g)]
    found = [v for v in values if v.name is None]
    if not found:
        return {}
    used = {v.name for v in values if v.name}
    names: dict[int, str] = {}
    counter = 0
    for v in found:
        if id(v) in names:
            continue
        while f"_v{counter}" in used:
            counter += 1
        names[id(v)] = f"_v{counter}"
        used.add(names[id(v)])
    return names


def _graphs_of(obj: Any) -> list[Graph]:
    if isinstance(obj, (Model, Graph)):
        return obj.all_graphs()
    if isinstance(obj, Function):
        return obj.graph.all_graphs()
    if isinstance(obj, Node):
        return [g for sub in obj.subgraphs() for g in sub.all_graphs()]
    return []  # to_text refuses it


def to_text(obj: Model | Graph | Function | Node, *, weights: bool = True) -> str:
    """The ONNX text syntax of a model, graph, function or node, exactly as
    ``onnx.printer.to_text`` writes the serialized object.

    Unnamed values are printed under the names serialization would give them.
    ``weights=False`` leaves out the values of tensors of more than
    :data:`SMALL_TENSOR` values: an initializer is then written as its type and
    name (as a value_info would be) with a summary of its values in a comment,
    a tensor attribute's values as ``{...}``; such text is for reading, and
    parses back without those values.
    """
    p = _Printer(_graphs_of(obj), (*obj.inputs, *obj.outputs) if isinstance(obj, Node) else (),
                 weights=weights)
    if isinstance(obj, Model):
        p.model(obj)
    elif isinstance(obj, Graph):
        p.graph(obj, 0)
    elif isinstance(obj, Function):
        p.function(obj)
    elif isinstance(obj, Node):
        p.node(obj, 3)
    else:
        raise TypeError(f"to_text takes a Model, Graph, Function or Node, not {type(obj).__name__}")
    return p.text()
