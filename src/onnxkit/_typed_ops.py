"""The shared part of the builder's typed op constructors.

:mod:`onnxkit._generated_ops` (written by ``tools/gen_builder.py``) holds one
class per standard domain (:class:`AiOnnxOps` is ``GraphBuilder.ops_class``;
``b.op("ai.onnx.ml")`` gives :class:`AiOnnxMlOps`) with one method per
operator, following its latest version: inputs positional (optional ones
default to None, trailing ones may be left out; a variadic one is ``*args``),
attributes keyword-only with their types and the spec's defaults (None where
the default changed between versions: "the default of the opset in force"),
``name=`` for the node and ``outputs=`` for the number of outputs or their
names (by default the required ones, or what a graph attribute or
``num_outputs`` implies for variadic ones).

Each method is a signature and one call of :func:`build_node` with its
``locals()``; this module does the work for all of them: it reads the
operator's schema from :mod:`onnxkit.defs`, checks the inputs (required ones
present, variadic ones long enough), converts and checks each attribute
against its declared type (an int for INT, a sequence of floats for FLOATS, a
Graph or GraphBuilder for GRAPH, ...), leaves out attributes given at their
default, works out how many outputs the node gets, and calls
:meth:`GraphBuilder.node`.  :func:`checked` turns Python's own argument errors
(too many inputs, an unknown keyword) into :class:`~onnxkit.errors.IRError`
naming the op.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from typing import Any, Callable, Sequence, Union

import numpy as np

from .builder import AttrRef, GraphBuilder, Ops
from .defs import SINGLE, OpSchema, get_schema, schema_versions
from .errors import IRError
from .ir import Attribute, AttributeType, Graph, SparseTensor, Tensor, TensorBase, Type, Value

__all__ = ["BY_DOMAIN", "GraphLike", "OutputsLike", "TensorLike", "TypedOps", "ValueLike",
           "build_node", "checked"]

ValueLike = Union[Value, TensorBase, np.ndarray, np.generic, int, float, Sequence[Any]]
TensorLike = Union[TensorBase, np.ndarray]
GraphLike = Union[Graph, GraphBuilder]
OutputsLike = Union[int, Sequence[Union[str, None]], None]

#: domain -> the generated namespace class of that domain (filled by _generated_ops)
BY_DOMAIN: dict[str, type[Ops]] = {}

_A = AttributeType
_WHAT = {_A.INT: "an int", _A.FLOAT: "a float", _A.STRING: "a str", _A.TENSOR: "a tensor (numpy array)",
         _A.GRAPH: "a graph (Graph or GraphBuilder)", _A.SPARSE_TENSOR: "a SparseTensor",
         _A.TYPE_PROTO: "a Type", _A.INTS: "a sequence of ints", _A.FLOATS: "a sequence of floats",
         _A.STRINGS: "a sequence of strs", _A.TENSORS: "a sequence of tensors",
         _A.GRAPHS: "a sequence of graphs", _A.SPARSE_TENSORS: "a sequence of SparseTensors",
         _A.TYPE_PROTOS: "a sequence of Types"}
_PLURAL = {_A.INTS: _A.INT, _A.FLOATS: _A.FLOAT, _A.STRINGS: _A.STRING, _A.TENSORS: _A.TENSOR,
           _A.GRAPHS: _A.GRAPH, _A.SPARSE_TENSORS: _A.SPARSE_TENSOR, _A.TYPE_PROTOS: _A.TYPE_PROTO}
_NOT_GIVEN = object()


def _one(kind: int, x: Any) -> Any:
    """``x`` as the value of a single attribute of ``kind``, or _NOT_GIVEN."""
    if kind == _A.INT:
        ok = isinstance(x, (int, np.integer)) and not isinstance(x, float)
        return int(x) if ok else _NOT_GIVEN
    if kind == _A.FLOAT:
        ok = isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)
        return float(x) if ok else _NOT_GIVEN
    if kind == _A.STRING:
        return x.decode() if isinstance(x, bytes) else x if isinstance(x, str) else _NOT_GIVEN
    if kind == _A.TENSOR:
        if isinstance(x, TensorBase):
            return x
        return Tensor(np.asarray(x)) if isinstance(x, (np.ndarray, np.generic)) else _NOT_GIVEN
    if kind == _A.GRAPH:
        return x.graph if isinstance(x, GraphBuilder) else x if isinstance(x, Graph) else _NOT_GIVEN
    cls = {_A.SPARSE_TENSOR: SparseTensor, _A.TYPE_PROTO: Type}[kind]
    return x if isinstance(x, cls) else _NOT_GIVEN


def _attribute(op: str, name: str, kind: int, x: Any) -> Attribute:
    """The node attribute ``name`` of ``kind`` made from ``x``; IRError when ``x``
    does not fit."""
    if isinstance(x, AttrRef) or isinstance(x, Attribute):
        if x.type != kind:
            raise IRError(f"{op}: attribute {name!r} is {_A.NAMES[kind]}, but the reference "
                          f"given has type {_A.NAMES.get(x.type, x.type)}")
        if isinstance(x, Attribute):
            return x
        return Attribute(name, kind, None, ref_attr_name=x.ref_attr_name)
    single = _PLURAL.get(kind)
    if single is None:
        value = _one(kind, x)
    elif isinstance(x, (str, bytes, dict)) or not hasattr(x, "__iter__"):
        value = _NOT_GIVEN
    else:
        value = [_one(single, e) for e in x]
        if any(e is _NOT_GIVEN for e in value):
            value = _NOT_GIVEN
    if value is _NOT_GIVEN:
        shown = repr(x)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise IRError(f"{op}: attribute {name!r} must be {_WHAT[kind]} ({_A.NAMES[kind]}), "
                      f"not {type(x).__name__} {shown}")
    return Attribute(name, kind, value)


def _same(kind: int, a: Any, default: Any) -> bool:
    """Whether attribute value ``a`` equals the spec's ``default``."""
    if kind in (_A.FLOAT, _A.FLOATS):
        a, default = np.float32(a), np.float32(default)
        return a.shape == default.shape and bool(np.all(a == default))
    if kind in (_A.INTS, _A.STRINGS):
        return list(a) == list(default)
    return a == default


@functools.cache
def _schema(domain: str, op: str, since: int) -> tuple[OpSchema, frozenset[str]]:
    """The schema a method was generated from, and its attributes whose
    default may be left out (see :func:`stable_defaults`)."""
    s = get_schema(op, since, domain)
    assert s is not None and s.since_version == since, (domain, op, since)
    return s, stable_defaults(s)


def stable_defaults(s: OpSchema) -> frozenset[str]:
    """The attributes of ``s`` with a default that every version of the op
    having the attribute shares: a value equal to it can be left out whatever
    opset the model ends up importing (Softmax's ``axis``, 1 then -1, cannot)."""
    versions = schema_versions(s.name, s.domain)
    return frozenset(name for name, ad in s.attributes.items() if ad.default is not None and
                     len({repr(v.attributes[name].default) for v in versions
                          if name in v.attributes}) == 1)


def _default_outputs(s: OpSchema, inputs: list, attrs: dict) -> int:
    """How many outputs a node gets when ``outputs=`` is not given."""
    formal = s.outputs
    if not formal or not formal[-1].variadic:
        singles = [i for i, p in enumerate(formal) if p.option == SINGLE]
        return singles[-1] + 1 if singles else len(formal)
    graph = next((a.value for a in attrs.values() if a.type == _A.GRAPH and a.value is not None), None)
    if s.name in ("If", "Scan", "SequenceMap") and graph is not None:
        return len(graph.outputs)
    if s.name == "Loop" and graph is not None:
        return len(graph.outputs) - 1
    if s.name == "Split":
        if "num_outputs" in attrs:
            return int(attrs["num_outputs"].value)
        if len(inputs) > 1 and isinstance(inputs[1], (np.ndarray, list, tuple)):
            return len(inputs[1])
    if s.name == "Gradient" and "xs" in attrs:
        return len(attrs["xs"].value)
    per = {"Adagrad": (3, 2), "Momentum": (3, 2), "Adam": (4, 3)}.get(s.name)
    if per is not None and len(inputs) > 2:
        return (len(inputs) - 2) // per[0] * per[1]
    raise IRError(f"{s.name} has a variadic output: say how many with outputs=N (or their names)")


def build_node(ops: Ops, op: str, since: int, args: dict[str, Any]) -> Any:
    """Add the node of ``op`` (version ``since`` of ``ops``' domain) from a
    generated method's ``locals()``."""
    s, omissible = _schema(type(ops)._schema_domain, op, since)
    inputs: list[Any] = []
    for p in s.inputs:
        x = args[p.name]
        if p.variadic:
            if len(x) < p.min_arity:
                raise IRError(f"{op}: {p.name} needs at least {p.min_arity} value(s), got {len(x)}")
            inputs.extend(x)
        else:
            if x is None and p.option == SINGLE:
                raise IRError(f"{op}: input {p.name!r} is required; give a Value (None leaves out "
                              "only optional inputs)")
            inputs.append(x)
    while inputs and inputs[-1] is None:
        inputs.pop()
    attrs: dict[str, Attribute] = {}
    for name, ad in s.attributes.items():
        x = args[name]
        if x is None:
            if ad.required:
                raise IRError(f"{op}: attribute {name!r} is required")
            continue
        if name in omissible and not isinstance(x, (AttrRef, Attribute)):
            a = _attribute(op, name, ad.type, x)
            if not _same(ad.type, a.value, ad.default):
                attrs[name] = a
            continue
        attrs[name] = _attribute(op, name, ad.type, x)
    outputs = args["outputs"]
    if outputs is None:
        outputs = _default_outputs(s, inputs, attrs)
    n = outputs if isinstance(outputs, int) else len(outputs)
    if not s.min_output <= n <= s.max_output:
        most = "any number" if s.max_output >= 2 ** 31 - 1 else s.max_output
        raise IRError(f"{op}: {n} outputs asked for; it gives {s.min_output} to {most}")
    return ops._builder.node(op, *inputs, domain=ops._domain, outputs=outputs, name=args["name"],
                             attributes=attrs)


def checked(cls: type) -> type:
    """Turn Python's argument errors of the generated methods into IRError
    naming the op (too many inputs, a missing one, an unknown attribute)."""
    for op, fn in list(vars(cls).items()):
        if op[:1].isupper() and callable(fn):
            setattr(cls, op, _guard(op, fn))
    return cls


def _guard(op: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def method(self: Ops, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except TypeError:
            sig = inspect.signature(fn)
            try:
                sig.bind(self, *args, **kwargs)
            except TypeError as e:
                raise IRError(_argument_error(op, sig, kwargs, e)) from None
            raise
    return method


def _argument_error(op: str, sig: inspect.Signature, kwargs: dict, e: TypeError) -> str:
    params = sig.parameters
    keywords = [p for p, x in params.items() if x.kind == x.KEYWORD_ONLY and p not in ("name", "outputs")]
    unknown = [k for k in kwargs if k not in params]
    if unknown:
        k = unknown[0]
        close = difflib.get_close_matches(k, keywords, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{op} has no attribute {k!r}{hint}; its attributes: {', '.join(keywords) or 'none'}"
    inputs = [p for p, x in params.items() if x.kind in (x.POSITIONAL_OR_KEYWORD, x.VAR_POSITIONAL)][1:]
    return f"{op}: {e} (inputs: {', '.join(inputs) or 'none'})"


class TypedOps(Ops):
    """The base of the generated namespaces: ``b.op("ai.onnx.ml")`` picks the
    class of that domain (a domain without one gets the untyped :class:`Ops`)."""

    __slots__ = ()
    #: the schema domain of the class's methods ("" for ai.onnx)
    _schema_domain = ""

    def __call__(self, domain: str) -> Ops:
        return BY_DOMAIN.get(domain, Ops)(self._builder, domain)
