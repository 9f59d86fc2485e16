"""The one bridge between wire messages (:mod:`onnxkit.proto`) and the IR.

Paired functions: ``deserialize_model`` / ``serialize_model`` and the helpers
for graphs, nodes, attributes, tensors and types.

Losslessness.  A file read and written back must give the same protobuf
message, field for field, presence included (proto2 tells an empty string
that was written from one that was not).  The IR holds plain values (``""``,
``0``); an IR object carries :class:`~onnxkit.ir._details.WireDetails` only
when the file did something the plain values cannot say (a field present
with its default value, a field absent where the IR needs a value, unknown
fields, repeated names; the class documents each).

Tensors decoded from a file stay :class:`ProtoTensor` objects around the
original message, so writing them back reuses the very same bytes.
"""

from __future__ import annotations

from typing import Any, Callable

from .. import proto as P
from ..errors import OnnxkitError
from ._core import Attribute, AttributeType, Function, Graph, Model, Node, TrainingInfo, Value
from ._details import (add_listed_initializer, attributes_as_listed, details, initializers_as_listed,
                       output_description, set_details)
from ._dtypes import DataType
from ._tensor import ExternalFiles, ExternalTensor, ProtoTensor, SparseTensor, Tensor, TensorBase
from ._types import (MapType, OpaqueType, OptionalType, SequenceType, Shape, SparseTensorType,
                     TensorType, Type, UnknownType)

# ---------------------------------------------------------------- presence helpers


def _note(obj: Any, msg: Any, defaults: dict[str, Any]) -> None:
    """Remember which optional fields of ``msg`` were written with their default
    value, and its unknown fields, in the details of ``obj``."""
    explicit = [f for f, default in defaults.items() if getattr(msg, f) == default]  # absent: None
    if explicit:
        set_details(obj, explicit=frozenset(explicit))
    if msg._unknown:
        set_details(obj, unknown=tuple(msg._unknown))


def _opt(obj: Any, field: str, value: Any, default: Any) -> Any:
    """The value to write for an optional field: None (omit) when it is the
    default and the file did not write it explicitly."""
    if value is None:
        return None
    d = details(obj)
    if field in d.absent:
        return None
    if value != default or field in d.explicit:
        return value
    return None


def _finish(obj: Any, msg: Any) -> Any:
    unknown = details(obj).unknown
    if unknown:
        msg._unknown = list(unknown)
    return msg


class _Props(dict):
    """metadata_props read from a file whose keys repeat: a plain dict (last
    entry wins) that remembers the entries, so an unchanged one saves as read."""

    _raw: list


def _props_in(entries: list) -> dict:
    props = {e.key: e.value for e in entries}
    if len(props) < len(entries):
        props = _Props(props)
        props._raw = [(e.key, e.value) for e in entries]
    return props


def _props_out(props: dict) -> list:
    raw = getattr(props, "_raw", None)
    items = raw if raw is not None and dict(raw) == props else props.items()
    return [P.StringStringEntryProto(key=k, value=v) for k, v in items]


# ---------------------------------------------------------------- types


def deserialize_type(tp) -> Type:
    den = tp.denotation
    if tp.tensor_type is not None:
        t = tp.tensor_type
        return TensorType(t.elem_type, _shape_in(t.shape), den)
    if tp.sparse_tensor_type is not None:
        t = tp.sparse_tensor_type
        return SparseTensorType(t.elem_type, _shape_in(t.shape), den)
    if tp.sequence_type is not None:
        e = tp.sequence_type.elem_type
        return SequenceType(None if e is None else deserialize_type(e), den)
    if tp.optional_type is not None:
        e = tp.optional_type.elem_type
        return OptionalType(None if e is None else deserialize_type(e), den)
    if tp.map_type is not None:
        m = tp.map_type
        return MapType(m.key_type, None if m.value_type is None else deserialize_type(m.value_type), den)
    if tp.opaque_type is not None:
        o = tp.opaque_type
        t = OpaqueType(o.domain, o.name, den)
        return t
    return UnknownType(den)


def serialize_type(t: Type):
    tp = P.TypeProto(denotation=t.denotation)
    if isinstance(t, TensorType):
        sub = (P.TypeProto.SparseTensor if isinstance(t, SparseTensorType) else P.TypeProto.Tensor)(
            elem_type=None if t.elem_type is None else int(t.elem_type), shape=_shape_out(t.shape))
        if isinstance(t, SparseTensorType):
            tp.sparse_tensor_type = sub
        else:
            tp.tensor_type = sub
    elif isinstance(t, SequenceType):
        tp.sequence_type = P.TypeProto.Sequence(
            elem_type=None if t.elem_type is None else serialize_type(t.elem_type))
    elif isinstance(t, OptionalType):
        tp.optional_type = P.TypeProto.Optional(
            elem_type=None if t.elem_type is None else serialize_type(t.elem_type))
    elif isinstance(t, MapType):
        tp.map_type = P.TypeProto.Map(
            key_type=None if t.key_type is None else int(t.key_type),
            value_type=None if t.value_type is None else serialize_type(t.value_type))
    elif isinstance(t, OpaqueType):
        tp.opaque_type = P.TypeProto.Opaque(domain=t.domain, name=t.name)
    elif not isinstance(t, UnknownType):
        raise OnnxkitError(f"cannot serialize type {t!r}")
    return tp


def _shape_in(sp) -> Shape | None:
    if sp is None:
        return None
    dims = []
    dens = None
    for i, d in enumerate(sp.dim):
        dims.append(d.dim_value if d.dim_value is not None else d.dim_param)
        if d.denotation is not None:
            if dens is None:
                dens = [None] * len(sp.dim)
            dens[i] = d.denotation
    return Shape(dims, dens)


def _shape_out(shape: Shape | None):
    if shape is None:
        return None
    dens = shape.denotations or (None,) * len(shape.dims)
    out = []
    for d, den in zip(shape.dims, dens):
        dim = P.TensorShapeProto.Dimension(denotation=den)
        if isinstance(d, int):
            dim.dim_value = d
        elif isinstance(d, str):
            dim.dim_param = d
        out.append(dim)
    return P.TensorShapeProto(dim=out)


# ---------------------------------------------------------------- tensors

_TENSOR_DEFAULTS = {"name": "", "doc_string": ""}


def deserialize_tensor(tp, base_dir: str | None = None, files: ExternalFiles | None = None) -> TensorBase:
    if tp.data_location == P.DataLocation.EXTERNAL:
        info = {e.key: e.value for e in tp.external_data}

        def num(key: str) -> int | None:
            v = info.get(key)
            if v is None:
                return None
            try:
                return int(v)
            except ValueError:
                raise OnnxkitError(f"tensor {tp.name!r}: external_data {key}={v!r} is not an integer") from None

        t: TensorBase = ExternalTensor(info.get("location") or "", num("offset"), num("length"),
                                       tp.data_type or 0, tp.dims, base_dir, name=tp.name,
                                       proto=tp, files=files, doc_string=tp.doc_string or "",
                                       metadata_props=_props_in(tp.metadata_props))
        return t
    return ProtoTensor(tp)


ExternalPlacer = Callable[[TensorBase, str], "tuple[str, int, int] | None"]


def serialize_tensor(t: TensorBase, name: str | None = None, place: ExternalPlacer | None = None):
    """TensorProto for ``t`` under ``name``.  ``place(tensor, name)`` may put its
    bytes in an external file and return ``(location, offset, length)``."""
    name = t.name if name is None else name
    if place is not None and t.dtype != DataType.STRING:
        where = place(t, name)
        if where is not None:
            return _external_proto(t, name, *where)
    if isinstance(t, ProtoTensor):
        p = t.proto
        if p.name == name and (p.doc_string or "") == t.doc_string \
                and _props_in(p.metadata_props) == t.metadata_props:
            return p
        q = _copy_msg(p)
        q.name = name if (name or p.name is not None) else None
        q.doc_string = t.doc_string or (p.doc_string if p.doc_string == "" else None)
        q.metadata_props = _props_out(t.metadata_props)
        return q
    if isinstance(t, ExternalTensor):
        # inline the bytes (as onnx.load does when it reads external data)
        q = _copy_msg(t.proto) if t.proto is not None else P.TensorProto(
            dims=list(t.shape), data_type=int(t.dtype))
        q.name = name
        q.raw_data = t.raw_view()
        q.external_data = []
        q.data_location = P.DataLocation.DEFAULT
        q.doc_string = t.doc_string or None
        q.metadata_props = _props_out(t.metadata_props)
        return q
    q = P.TensorProto(dims=list(t.shape), data_type=int(t.dtype), name=name or None,
                      doc_string=t.doc_string or None, metadata_props=_props_out(t.metadata_props))
    if t.dtype == DataType.STRING:
        q.string_data = [s if isinstance(s, bytes) else str(s).encode("utf-8", "surrogateescape")
                         for s in t.numpy().reshape(-1)]
    else:
        q.raw_data = t.raw_view()
    return q


def _external_proto(t: TensorBase, name: str | None, location: str, offset: int, length: int):
    return P.TensorProto(
        dims=list(t.shape), data_type=int(t.dtype), name=name or None,
        doc_string=t.doc_string or None, metadata_props=_props_out(t.metadata_props),
        data_location=P.DataLocation.EXTERNAL,
        external_data=[P.StringStringEntryProto(key="location", value=location),
                       P.StringStringEntryProto(key="offset", value=str(offset)),
                       P.StringStringEntryProto(key="length", value=str(length))])


def _copy_msg(m):
    q = type(m)()
    for f in m._fields:
        setattr(q, f, getattr(m, f))
    for f in m._repeated:
        setattr(q, f, list(getattr(m, f)))
    q._unknown = m._unknown
    return q


def deserialize_sparse(sp, base_dir=None, files=None) -> SparseTensor:
    s = SparseTensor(None if sp.values is None else deserialize_tensor(sp.values, base_dir, files),
                     None if sp.indices is None else deserialize_tensor(sp.indices, base_dir, files),
                     sp.dims)
    _note(s, sp, {})
    return s


def serialize_sparse(s: SparseTensor, place: ExternalPlacer | None = None):
    return _finish(s, P.SparseTensorProto(
        values=None if s.values is None else serialize_tensor(s.values, None, place),
        indices=None if s.indices is None else serialize_tensor(s.indices, None, place),
        dims=list(s.dims)))


# ---------------------------------------------------------------- reader

_VI_DEFAULTS = {"name": "", "doc_string": ""}
_NODE_DEFAULTS = {"name": "", "op_type": "", "domain": "", "overload": "", "doc_string": ""}
_GRAPH_DEFAULTS = {"name": "", "doc_string": ""}
_ATTR_DEFAULTS = {"name": "", "doc_string": "", "ref_attr_name": ""}
_MODEL_DEFAULTS = {"ir_version": 0, "producer_name": "", "producer_version": "", "domain": "",
                   "model_version": 0, "doc_string": ""}
_FUNC_DEFAULTS = {"name": "", "domain": "", "overload": "", "doc_string": ""}

# AttributeType -> (field on AttributeProto, is plural)
_ATTR_FIELD = {
    AttributeType.FLOAT: "f", AttributeType.INT: "i", AttributeType.STRING: "s",
    AttributeType.TENSOR: "t", AttributeType.GRAPH: "g", AttributeType.SPARSE_TENSOR: "sparse_tensor",
    AttributeType.TYPE_PROTO: "tp", AttributeType.FLOATS: "floats", AttributeType.INTS: "ints",
    AttributeType.STRINGS: "strings", AttributeType.TENSORS: "tensors", AttributeType.GRAPHS: "graphs",
    AttributeType.SPARSE_TENSORS: "sparse_tensors", AttributeType.TYPE_PROTOS: "type_protos",
}
_SINGLE_VALUE_FIELDS = ("f", "i", "s", "t", "g", "sparse_tensor", "tp")
_PLURAL_VALUE_FIELDS = ("floats", "ints", "strings", "tensors", "graphs", "sparse_tensors", "type_protos")
_FIELD_TYPE = {v: k for k, v in _ATTR_FIELD.items()}
_ATTR_SCALAR_DEFAULT = {"f": 0.0, "i": 0, "s": b""}


class _Reader:
    def __init__(self, base_dir: str | None, files: ExternalFiles | None) -> None:
        self.base_dir = base_dir
        self.files = files if files is not None else ExternalFiles()

    # values
    def value_info(self, vi, v: Value | None = None) -> Value:
        if v is None:
            v = Value(vi.name)
        v.type = None if vi.type is None else deserialize_type(vi.type)
        v.doc_string = vi.doc_string or ""
        v.metadata_props = _props_in(vi.metadata_props)
        _note(v, vi, _VI_DEFAULTS)
        if vi.name is None:
            set_details(v, absent=frozenset({"name"}))
        return v

    def graph(self, gp, scopes: list[dict[str, Value]]) -> Graph:
        g = Graph(name=gp.name or "", doc_string=gp.doc_string or "")
        _note(g, gp, _GRAPH_DEFAULTS)
        local: dict[str, Value] = {}
        described: set[int] = set()  # values whose ValueInfo has been applied

        def describe(vi, v: Value | None) -> Value:
            """Apply ``vi`` to ``v``; a second, different description gets a
            detached Value of its own so that nothing is lost."""
            if v is None:
                return self.value_info(vi)
            if id(v) in described:
                probe = self.value_info(vi)
                if (probe.type, probe.doc_string, probe.metadata_props) == \
                        (v.type, v.doc_string, v.metadata_props):
                    return v
                return probe
            described.add(id(v))
            return self.value_info(vi, v)

        for vi in gp.input:
            v = describe(vi, None)
            g.inputs.append(v)
            if vi.name is not None:
                local.setdefault(vi.name, v)
                described.add(id(v))
        for tp in gp.initializer:
            t = deserialize_tensor(tp, self.base_dir, self.files)
            name = tp.name or ""
            v = local.get(name)
            if v is None or v.const_value is not None or v._producer is not None:
                v = Value(name, TensorType(tp.data_type, tp.dims) if tp.data_type is not None else None)
                local.setdefault(name, v)
            v.const_value = t
            add_listed_initializer(g, name, v)
        sparse_values = []
        for sp in gp.sparse_initializer:
            s = deserialize_sparse(sp, self.base_dir, self.files)
            g.sparse_initializers.append(s)
            name = s.name or ""
            if name not in local:
                v = Value(name, const_value=None)
                v.type = TensorType(sp.values.data_type if sp.values is not None else None, sp.dims)
                local[name] = v
                sparse_values.append(v)

        # pass 1: nodes and their outputs, so that uses before definition resolve
        nodes = []
        for np_ in gp.node:
            outs = []
            for name in np_.output:
                v = Value(name)
                outs.append(v)
                if name and name not in local:
                    local[name] = v
            node = Node(np_.op_type or "", (), outs, domain=np_.domain or "",
                        name=np_.name or "", overload=np_.overload or "",
                        doc_string=np_.doc_string or "")
            node.metadata_props = _props_in(np_.metadata_props)
            node.device_configurations = list(np_.device_configurations)
            _note(node, np_, _NODE_DEFAULTS)
            nodes.append(node)
            g.append(node)
        # pass 2: inputs and attributes (subgraphs see every name of this graph)
        resolve = link_nodes([(node, np_.input, np_.attribute) for node, np_ in zip(nodes, gp.node)],
                             local, scopes, self.attribute)

        output_info = {}
        for i, vi in enumerate(gp.output):
            name = vi.name or ""
            v = local.get(name)
            if v is None:
                # an outer-scope value passed straight through: the graph outputs
                # that very value; its description here is kept on the side
                v = resolve(name)
                if v is not local.get(name):
                    output_info[i] = self.value_info(vi)
                    g.outputs.append(v)
                    continue
            g.outputs.append(describe(vi, v))
        if output_info:
            set_details(g, output_info=output_info)
        for vi in gp.value_info:
            name = vi.name or ""
            v = local.get(name)
            g.value_info.append(describe(vi, v))
        g.quantization_annotation = [
            (qa.tensor_name, [(e.key, e.value) for e in qa.quant_parameter_tensor_names])
            for qa in gp.quantization_annotation]
        g.metadata_props = _props_in(gp.metadata_props)
        return g

    def attribute(self, ap, scopes: list[dict[str, Value]]) -> Attribute:
        typ = ap.type
        absent: set[str] = set()
        if typ is None:
            absent.add("type")
            typ = AttributeType.UNDEFINED
            for f in _SINGLE_VALUE_FIELDS:
                if getattr(ap, f) is not None:
                    typ = _FIELD_TYPE[f]
                    break
            else:
                for f in _PLURAL_VALUE_FIELDS:
                    if getattr(ap, f):
                        typ = _FIELD_TYPE[f]
                        break
        field = _ATTR_FIELD.get(typ)
        value: Any = None
        if ap.ref_attr_name is None and field is not None:
            raw = getattr(ap, field)
            if raw is None:
                absent.add(field)
                raw = _ATTR_SCALAR_DEFAULT.get(field)
            value = self._attr_value(field, raw, scopes)
        a = Attribute(ap.name or "", typ, value, doc_string=ap.doc_string or "",
                      ref_attr_name=ap.ref_attr_name)
        _note(a, ap, _ATTR_DEFAULTS)
        stray = {}
        for f in _SINGLE_VALUE_FIELDS:
            if f != field and getattr(ap, f) is not None:
                stray[f] = getattr(ap, f)
        for f in _PLURAL_VALUE_FIELDS:
            if f != field and getattr(ap, f):
                stray[f] = getattr(ap, f)
        if field is not None and ap.ref_attr_name is not None and getattr(ap, field) not in (None, []):
            stray[field] = getattr(ap, field)
        if absent:
            set_details(a, absent=frozenset(absent))
        if stray:
            set_details(a, stray=stray)
        return a

    def _attr_value(self, field: str, raw: Any, scopes) -> Any:
        if field in ("f", "i", "floats", "ints"):
            return list(raw) if isinstance(raw, list) else raw
        if field == "s":
            return raw.decode("utf-8", "surrogateescape") if raw is not None else None
        if field == "strings":
            return [s.decode("utf-8", "surrogateescape") for s in raw]
        if field == "t":
            return None if raw is None else deserialize_tensor(raw, self.base_dir, self.files)
        if field == "tensors":
            return [deserialize_tensor(t, self.base_dir, self.files) for t in raw]
        if field == "g":
            return None if raw is None else self.graph(raw, scopes)
        if field == "graphs":
            return [self.graph(x, scopes) for x in raw]
        if field == "sparse_tensor":
            return None if raw is None else deserialize_sparse(raw, self.base_dir, self.files)
        if field == "sparse_tensors":
            return [deserialize_sparse(x, self.base_dir, self.files) for x in raw]
        if field == "tp":
            return None if raw is None else deserialize_type(raw)
        if field == "type_protos":
            return [deserialize_type(x) for x in raw]
        raise AssertionError(field)

    def function(self, fp) -> Function:
        # the body is read as a graph whose inputs and outputs are bare names
        body = P.GraphProto(node=fp.node, value_info=fp.value_info,
                            input=[P.ValueInfoProto(name=n) for n in fp.input],
                            output=[P.ValueInfoProto(name=n) for n in fp.output])
        g = self.graph(body, [])
        f = Function(fp.domain or "", fp.name or "", g, overload=fp.overload or "",
                     attributes=list(fp.attribute),
                     attribute_defaults=[self.attribute(a, []) for a in fp.attribute_proto],
                     opset_imports={}, doc_string=fp.doc_string or "")
        f.opset_imports, opx = _opsets_in(fp.opset_import)
        f.metadata_props = _props_in(fp.metadata_props)
        _note(f, fp, _FUNC_DEFAULTS)
        if opx:
            set_details(f, opsets=opx)
        return f


def _opsets_in(entries) -> tuple[dict[str, int], list | None]:
    """Opset imports as {domain: version}; the raw entries too when presence or
    order details would otherwise be lost."""
    out: dict[str, int] = {}
    raw_needed = False
    for e in entries:
        d = e.domain if e.domain is not None else ""
        if d in out or e.domain is None or e.version is None:
            raw_needed = True
        out.setdefault(d, e.version or 0)
    return out, ([(e.domain, e.version) for e in entries] if raw_needed else None)


def _opsets_out(obj: Any, opsets: dict[str, int]) -> list:
    raw = details(obj).opsets
    if raw is not None and _opsets_in([P.OperatorSetIdProto(domain=d, version=v)
                                       for d, v in raw])[0] == opsets:
        return [P.OperatorSetIdProto(domain=d, version=v) for d, v in raw]
    return [P.OperatorSetIdProto(domain=d, version=v) for d, v in opsets.items()]


def deserialize_model(mp, base_dir: str | None = None, files: ExternalFiles | None = None) -> Model:
    """Build the IR of a decoded ModelProto.  ``base_dir`` is the model's folder,
    where external data is looked up."""
    r = _Reader(base_dir, files)
    graph = r.graph(mp.graph, []) if mp.graph is not None else Graph()
    m = Model(graph, ir_version=mp.ir_version or 0, opset_imports={},
              producer_name=mp.producer_name or "", producer_version=mp.producer_version or "",
              domain=mp.domain or "", model_version=mp.model_version or 0,
              doc_string=mp.doc_string or "")
    m.opset_imports, opx = _opsets_in(mp.opset_import)
    m.metadata_props = _props_in(mp.metadata_props)
    m.functions = [r.function(f) for f in mp.functions]
    for ti in mp.training_info:
        t = TrainingInfo(
            None if ti.initialization is None else r.graph(ti.initialization, []),
            None if ti.algorithm is None else r.graph(ti.algorithm, []),
            [(e.key, e.value) for e in ti.initialization_binding],
            [(e.key, e.value) for e in ti.update_binding])
        _note(t, ti, {})
        m.training_info.append(t)
    m.configuration = list(mp.configuration)
    _note(m, mp, _MODEL_DEFAULTS)
    if mp.graph is None:
        set_details(m, no_graph=True)
    if opx:
        set_details(m, opsets=opx)
    return m


# ---------------------------------------------------------------- writer


class _Writer:
    def __init__(self, place: ExternalPlacer | None) -> None:
        self.place = place

    def value_info(self, v: Value, described: Value | None = None):
        d = v if described is None else described
        vi = P.ValueInfoProto(
            name=None if "name" in details(d).absent else (v.name or ""),
            type=None if d.type is None else serialize_type(d.type),
            doc_string=_opt(d, "doc_string", d.doc_string, ""),
            metadata_props=_props_out(d.metadata_props))
        return _finish(d, vi)

    def graph(self, g: Graph):
        nodes = [self.node(n) for n in g]
        gp = P.GraphProto(
            node=nodes,
            name=_opt(g, "name", g.name, ""),
            initializer=[serialize_tensor(v.const_value, v.name, self.place)
                         for v in initializers_as_listed(g)],
            sparse_initializer=[serialize_sparse(s) for s in g.sparse_initializers],
            doc_string=_opt(g, "doc_string", g.doc_string, ""),
            input=[self.value_info(v) for v in g.inputs],
            output=[self.value_info(v, output_description(g, i)) for i, v in enumerate(g.outputs)],
            value_info=[self.value_info(v) for v in _value_info_values(g)],
            quantization_annotation=[
                P.TensorAnnotation(tensor_name=name, quant_parameter_tensor_names=[
                    P.StringStringEntryProto(key=k, value=v) for k, v in entries])
                for name, entries in g.quantization_annotation],
            metadata_props=_props_out(g.metadata_props))
        return _finish(g, gp)

    def node(self, n: Node):
        attrs = attributes_as_listed(n)
        np_ = P.NodeProto(
            input=["" if v is None else (v.name or "") for v in n.inputs],
            output=[v.name or "" for v in n.outputs],
            name=_opt(n, "name", n.name, ""),
            op_type=_opt(n, "op_type", n.op_type, ""),
            domain=_opt(n, "domain", n.domain, ""),
            overload=_opt(n, "overload", n.overload, ""),
            attribute=[self.attribute(a) for a in attrs],
            doc_string=_opt(n, "doc_string", n.doc_string, ""),
            metadata_props=_props_out(n.metadata_props),
            device_configurations=list(n.device_configurations))
        return _finish(n, np_)

    def attribute(self, a: Attribute):
        ap = P.AttributeProto(name=_opt(a, "name", a.name, ""),
                              ref_attr_name=_opt(a, "ref_attr_name", a.ref_attr_name, ""),
                              doc_string=_opt(a, "doc_string", a.doc_string, ""),
                              type=_opt(a, "type", a.type, -1))
        field = _ATTR_FIELD.get(a.type)
        d = details(a)
        if field is not None and a.ref_attr_name is None and field not in d.absent:
            setattr(ap, field, self._attr_value(field, a.value))
        for f, v in (d.stray or {}).items():
            setattr(ap, f, v)
        return _finish(a, ap)

    def _attr_value(self, field: str, v: Any) -> Any:
        if field == "f":
            return float(v)
        if field == "i":
            return int(v)
        if field in ("floats", "ints"):
            return [float(x) for x in v] if field == "floats" else [int(x) for x in v]
        if field == "s":
            return v.encode("utf-8", "surrogateescape") if isinstance(v, str) else bytes(v)
        if field == "strings":
            return [x.encode("utf-8", "surrogateescape") if isinstance(x, str) else bytes(x) for x in v]
        if field == "t":
            return serialize_tensor(_as_tensor(v))
        if field == "tensors":
            return [serialize_tensor(_as_tensor(x)) for x in v]
        if field == "g":
            return self.graph(v)
        if field == "graphs":
            return [self.graph(x) for x in v]
        if field == "sparse_tensor":
            return serialize_sparse(v)
        if field == "sparse_tensors":
            return [serialize_sparse(x) for x in v]
        if field == "tp":
            return serialize_type(v)
        if field == "type_protos":
            return [serialize_type(x) for x in v]
        raise AssertionError(field)

    def function(self, f: Function):
        g = f.graph
        fp = P.FunctionProto(
            name=_opt(f, "name", f.name, ""),
            input=[v.name or "" for v in g.inputs],
            output=[v.name or "" for v in g.outputs],
            attribute=list(f.attributes),
            attribute_proto=[self.attribute(a) for a in f.attribute_defaults],
            node=[self.node(n) for n in g],
            doc_string=_opt(f, "doc_string", f.doc_string, ""),
            opset_import=_opsets_out(f, f.opset_imports),
            domain=_opt(f, "domain", f.domain, ""),
            overload=_opt(f, "overload", f.overload, ""),
            value_info=[self.value_info(v) for v in g.value_info],
            metadata_props=_props_out(f.metadata_props))
        return _finish(f, fp)


def _as_tensor(v: Any) -> TensorBase:
    return v if isinstance(v, TensorBase) else Tensor(v)


def _value_info_values(g: Graph) -> list[Value]:
    """The values to describe in ``value_info``: those the file listed (in its
    order), then any other typed node output that is not a graph output."""
    out = []
    seen = set()
    for v in g.value_info:
        p = v._producer
        if p is not None and p._graph is None:
            continue  # its node was removed
        out.append(v)
        seen.add(id(v))
    skip = set(map(id, g.outputs)) | seen
    for n in g:
        for v in n.outputs:
            if v.type is not None and id(v) not in skip and v.name:
                out.append(v)
                skip.add(id(v))
    return out


def assign_names(model: Model) -> None:
    """Give every unnamed value a unique name (builder-made values may have none)."""
    graphs = model.all_graphs()
    used: set[str] = set()
    for g in graphs:
        for v in _graph_values(g):
            if v.name:
                used.add(v.name)
    counter = 0
    for g in graphs:
        for v in _graph_values(g):
            if v.name is None:
                while f"_v{counter}" in used:
                    counter += 1
                v.name = f"_v{counter}"
                used.add(v.name)


def _graph_values(g: Graph):
    yield from g.inputs
    yield from initializers_as_listed(g)
    for n in g:
        yield from n.outputs
        for v in n.inputs:
            if v is not None:
                yield v
    yield from g.outputs


def serialize_model(m: Model, place: ExternalPlacer | None = None):
    """The ModelProto of ``m``.  ``place`` (see :func:`serialize_tensor`) decides
    which initializers go to external data (tensors in attributes stay inline,
    as onnx does by default)."""
    assign_names(m)
    w = _Writer(place)
    mp = P.ModelProto(
        ir_version=_opt(m, "ir_version", m.ir_version, 0),
        opset_import=_opsets_out(m, m.opset_imports),
        producer_name=_opt(m, "producer_name", m.producer_name, ""),
        producer_version=_opt(m, "producer_version", m.producer_version, ""),
        domain=_opt(m, "domain", m.domain, ""),
        model_version=_opt(m, "model_version", m.model_version, 0),
        doc_string=_opt(m, "doc_string", m.doc_string, ""),
        graph=None if (details(m).no_graph and not len(m.graph)
                       and not m.graph.inputs and not m.graph.outputs) else w.graph(m.graph),
        metadata_props=_props_out(m.metadata_props),
        training_info=[_finish(t, P.TrainingInfoProto(
            initialization=None if t.initialization is None else w.graph(t.initialization),
            algorithm=None if t.algorithm is None else w.graph(t.algorithm),
            initialization_binding=[P.StringStringEntryProto(key=k, value=v)
                                    for k, v in t.initialization_binding],
            update_binding=[P.StringStringEntryProto(key=k, value=v) for k, v in t.update_binding]))
            for t in m.training_info],
        functions=[w.function(f) for f in m.functions],
        configuration=list(m.configuration))
    return _finish(m, mp)


def link_nodes(nodes: list, local: dict[str, Value], scopes: list[dict[str, Value]],
               read_attribute: Callable[[Any, list[dict[str, Value]]], Attribute]) -> Callable[[str], Value]:
    """Second pass of reading a graph (from protobuf or from text): give each
    node its inputs, looked up by name in this graph (``local``) and then the
    enclosing ``scopes``, and its attributes (``read_attribute(raw, scopes)``,
    which reads subgraphs in these scopes).  ``nodes`` holds ``(node, input
    names, raw attributes)``.  A name defined nowhere becomes a dangling Value,
    kept by name.  Returns the name resolver, for the graph's outputs."""
    inner = [local, *scopes]

    def resolve(name: str) -> Value:
        for scope in inner:
            v = scope.get(name)
            if v is not None:
                return v
        v = Value(name)
        local[name] = v
        return v

    for node, input_names, raw_attrs in nodes:
        for name in input_names:
            node.append_input(resolve(name) if name else None)
        attrs = [read_attribute(a, inner) for a in raw_attrs]
        node.attributes = {a.name: a for a in attrs}
        if len(node.attributes) != len(attrs):  # repeated names: written back as read
            set_details(node, attribute_list=attrs)
    return resolve


def deserialize_function(fp) -> Function:
    """A :class:`Function` from a FunctionProto message (no external data)."""
    return _Reader(None, None).function(fp)


def serialize_function(f: Function):
    """The FunctionProto message of a :class:`Function`."""
    return _Writer(None).function(f)
