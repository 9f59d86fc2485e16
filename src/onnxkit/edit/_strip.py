"""Remove what a model carries besides the computation: doc strings,
metadata, the types of intermediate values."""

from __future__ import annotations

from ..ir import Model
from ._common import finish, start

__all__ = ["strip"]


def strip(model: Model, *, doc: bool = True, metadata: bool = False, value_info: bool = False,
          inplace: bool = False, check: bool = True) -> Model:
    """``model`` without doc strings (``doc``), metadata_props (``metadata``:
    of the model, graphs, nodes, values and functions) and the types of
    intermediate values (``value_info``: graph inputs and outputs keep theirs).
    Tensors keep their doc strings and metadata (they are shared with
    ``model``, never changed)."""
    m = start(model, inplace)
    if doc:
        m.doc_string = ""
    if metadata:
        m.metadata_props = {}
    for f in m.functions:
        if doc:
            f.doc_string = ""
        if metadata:
            f.metadata_props = {}
    for g in m.all_graphs():
        if doc:
            g.doc_string = ""
        if metadata:
            g.metadata_props = {}
        listed = [*g.inputs, *g.outputs, *g.initializers.values(), *g.value_info]
        for n in g:
            listed.extend(n.outputs)
            if doc:
                n.doc_string = ""
                for a in n.attributes.values():
                    a.doc_string = ""
            if metadata:
                n.metadata_props = {}
        for v in listed:
            if doc:
                v.doc_string = ""
            if metadata:
                v.metadata_props = {}
        if value_info:
            g.value_info = []
            interface = {id(v) for v in (*g.inputs, *g.outputs)}
            for n in g:
                for v in n.outputs:
                    if id(v) not in interface:
                        v.type = None
    return finish(m, check)
