"""Copies of models and graphs that share the tensors.

A clone has its own nodes, values and attributes (so passes may rewrite it
freely) but the same tensor objects: a clone of a 2 GiB model costs the
graph's size, not the weights'.  Tensors are never written in place by
onnxkit, so sharing them is safe.  The round-trip details
(:mod:`onnxkit.ir._details`) are copied too, so a clone saves as its original.
"""

from __future__ import annotations

import copy

from ._core import Attribute, AttributeType, Function, Graph, Model, Node, TrainingInfo, Value
from ._details import attributes_as_listed, copy_details, details, set_details

__all__ = ["clone_graph", "clone_model"]


def _clone_value(v: Value, vmap: dict[int, Value]) -> Value:
    c = Value(v.name, v.type, const_value=v.const_value, doc_string=v.doc_string)
    c.metadata_props = copy.copy(v.metadata_props)
    copy_details(v, c)
    vmap[id(v)] = c
    return c


def _clone_attr(a: Attribute, vmap: dict[int, Value]) -> Attribute:
    value = a.value
    if a.type == AttributeType.GRAPH and value is not None:
        value = clone_graph(value, vmap)
    elif a.type == AttributeType.GRAPHS and value is not None:
        value = [clone_graph(g, vmap) for g in value]
    elif isinstance(value, list):
        value = list(value)
    c = Attribute(a.name, a.type, value, doc_string=a.doc_string, ref_attr_name=a.ref_attr_name)
    copy_details(a, c)
    return c


def clone_graph(g: Graph, vmap: dict[int, Value] | None = None) -> Graph:
    """A copy of ``g``; ``vmap`` maps ids of the enclosing scopes' values to
    their copies (a subgraph's outer reads are re-pointed through it)."""
    vmap = {} if vmap is None else vmap

    def get(v: Value | None) -> Value | None:
        if v is None:
            return None
        return vmap.get(id(v), v)        # an outer value not cloned stays shared

    inputs = [_clone_value(v, vmap) for v in g.inputs]
    inits = [vmap[id(v)] if id(v) in vmap else _clone_value(v, vmap) for v in g.initializers.values()]
    nodes = []
    for n in g:
        outs = [_clone_value(v, vmap) for v in n.outputs]
        attrs = [_clone_attr(a, vmap) for a in attributes_as_listed(n)]  # repeated names too
        c = Node(n.op_type, [get(v) for v in n.inputs], outs, domain=n.domain, name=n.name,
                 attributes=attrs, overload=n.overload, doc_string=n.doc_string)
        c.metadata_props = copy.copy(n.metadata_props)
        c.device_configurations = list(n.device_configurations)
        copy_details(n, c)
        if details(n).attribute_list is not None:
            set_details(c, attribute_list=attrs)
        nodes.append(c)
    out = Graph(inputs, [get(v) for v in g.outputs], nodes, initializers=inits, name=g.name,
                doc_string=g.doc_string)
    copy_details(g, out)
    d = details(g)
    if d.output_info is not None:   # detached descriptions
        set_details(out, output_info={i: _clone_value(v, {}) for i, v in d.output_info.items()})
    if d.repeated_initializers:
        set_details(out, repeated_initializers=tuple(
            (pos, _clone_value(v, {})) for pos, v in d.repeated_initializers))
    out.sparse_initializers = list(g.sparse_initializers)
    out.value_info = [vmap.get(id(v)) or _clone_value(v, {}) for v in g.value_info]
    out.quantization_annotation = list(g.quantization_annotation)
    out.metadata_props = copy.copy(g.metadata_props)
    return out


def clone_model(m: Model) -> Model:
    """A copy of ``m`` sharing its tensors (see the module's doc)."""
    functions = []
    for f in m.functions:
        fc = Function(f.domain, f.name, clone_graph(f.graph), overload=f.overload,
                      attributes=f.attributes, attribute_defaults=f.attribute_defaults,
                      opset_imports=f.opset_imports, doc_string=f.doc_string)
        fc.metadata_props = copy.copy(f.metadata_props)
        copy_details(f, fc)
        functions.append(fc)
    c = Model(clone_graph(m.graph), ir_version=m.ir_version, opset_imports=m.opset_imports,
              producer_name=m.producer_name, producer_version=m.producer_version, domain=m.domain,
              model_version=m.model_version, doc_string=m.doc_string, functions=functions)
    c.metadata_props = copy.copy(m.metadata_props)
    c.configuration = list(m.configuration)
    copy_details(m, c)
    for t in m.training_info:
        tc = TrainingInfo(
            clone_graph(t.initialization) if t.initialization is not None else None,
            clone_graph(t.algorithm) if t.algorithm is not None else None,
            t.initialization_binding, t.update_binding)
        copy_details(t, tc)
        c.training_info.append(tc)
    c._keepalive = m._keepalive
    return c
