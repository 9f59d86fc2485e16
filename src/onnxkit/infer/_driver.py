"""The inference driver: walks the nodes in order, gives each op's shape rule an
:class:`~onnxkit.ops._shape.InferenceContext`, and records what it learns.

What the driver keeps per value (:class:`_Info`): its type (an IR type whose
symbolic dims are text), the same shape as rule dims (parsed once), and for
data propagation its value (numpy, when known) and its elements as rule dims
(for small integer tensors: shapes being computed).

Where types go.  Node outputs of the main graph and of its subgraphs get their
final type on ``Value.type`` (so saving writes them into ``value_info``).  A
function body (model-local, or the spec's body of an op without a rule) is
inferred once per calling node in a private scope: nothing is written into it.
Graph inputs and initializers are never changed.
"""

from __future__ import annotations

import functools
from typing import Any, Iterable, Sequence

import numpy as np

from ..defs import get_schema
from ..errors import DataSizeError, ExternalDataError, InferenceError
from ..ir import AttributeType, DataType, Graph, Node, OptionalType, SequenceType, TensorType, Type, Value
from ..ir._domain import normalize_domain, normalize_opsets
from ..ir._tensor import ExternalTensor, TensorBase
from ..ops._evaluate import evaluate_node, kernel_attribute
from ..ops._registry import find_kernel, find_shape
from ..ops._shape import Dim, InferenceContext, Sym, dim_text, sym, tensor_type
from ..defs import parse_type_string
from ._types import Conflict, merge_types

__all__ = ["Driver", "MAX_FOLD_ELEMENTS"]

#: values with at most this many elements are computed during inference (data propagation)
MAX_FOLD_ELEMENTS = 1000
_MAX_DEPTH = 32
#: ops whose result is not a function of their inputs: never folded
_NONDETERMINISTIC = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                               "Multinomial", "Bernoulli", "Dropout"})

_sym = functools.lru_cache(maxsize=8192)(sym)


class _Info:
    """What inference knows of one value."""

    __slots__ = ("type", "shape", "value", "dims")

    def __init__(self, type: Type | None = None, shape: tuple[Dim, ...] | None = None,
                 value: Any = None, dims: list[Dim] | None = None) -> None:
        self.type = type
        self.shape = shape      # rule dims of a tensor type's shape, or None
        self.value = value      # np.ndarray, a lazy TensorBase, or None
        self.dims = dims        # elements of a 0-d / 1-d integer tensor as rule dims


_EMPTY = _Info()


def _rule_shape(t: Type | None, hint: Sequence[Dim] | None = None) -> tuple[Dim, ...] | None:
    """The shape of a tensor type as rule dims (``hint``: the same dims already
    parsed, reused where their text matches)."""
    if not isinstance(t, TensorType) or t.shape is None:
        return None
    dims = t.shape.dims
    if hint is not None and len(hint) == len(dims):
        return tuple(h if dim_text(h) == d else _sym(d) for h, d in zip(hint, dims))
    return tuple(_sym(d) if isinstance(d, str) else d for d in dims)


def _info_of(t: Type | None, value: Any = None) -> _Info:
    return _Info(t, _rule_shape(t), value)


def _rule_dim(d: Any) -> Dim:
    if d is None or isinstance(d, Sym):
        return d
    if isinstance(d, (int, np.integer)):
        return int(d) if d >= 0 else None
    if isinstance(d, str):
        return _sym(d)
    raise TypeError(f"not a dim: {d!r}")


def _size(x: Any) -> int:
    return int(np.prod(x.shape, dtype=np.int64)) if isinstance(x, TensorBase) else x.size


def _strip_shapes(t: Type | None) -> Type | None:
    """The same kind of type with every shape unknown."""
    if isinstance(t, TensorType):
        return t if t.shape is None else type(t)(t.elem_type)
    if isinstance(t, (SequenceType, OptionalType)):
        return type(t)(_strip_shapes(t.elem_type))
    return t


class _Scope:
    """A namespace of inferred values: the main graph with its subgraphs, or one
    call of a function body (``write`` False, attribute references bound)."""

    __slots__ = ("info", "write", "binding", "opsets", "depth")

    def __init__(self, opsets: dict[str, int], *, write: bool, binding: dict | None = None,
                 depth: int = 0) -> None:
        self.info: dict[Value, _Info] = {}
        self.write = write
        self.binding = binding
        self.opsets = opsets
        self.depth = depth


class _Ctx(InferenceContext):
    """The :class:`InferenceContext` of one node."""

    __slots__ = ("_drv", "_scope", "node", "opset", "n_inputs", "n_outputs", "index", "where",
                 "_ins", "outs", "visited")

    def __init__(self, drv: Driver, scope: _Scope, node: Node, index: int, where: str,
                 opset: int | None) -> None:
        self._drv = drv
        self._scope = scope
        self.node = node
        self.opset = opset
        self.index = index
        self.where = where
        ins = node.inputs
        self.n_inputs = len(ins)
        self.n_outputs = len(node.outputs)
        self._ins = [None if v is None else drv.get(scope, v) for v in ins]
        self.outs = [_Info() for _ in range(self.n_outputs)]
        self.visited: list[Graph] = []

    # reading ------------------------------------------------------------
    def _in(self, i: int) -> _Info:
        if 0 <= i < self.n_inputs:
            return self._ins[i] or _EMPTY
        return _EMPTY

    def has_input(self, i: int) -> bool:
        return 0 <= i < self.n_inputs and self._ins[i] is not None

    def attr(self, name: str, default: Any = None) -> Any:
        a = self.node.attributes.get(name)
        if a is None:
            return default
        if a.ref_attr_name is not None:
            binding = self._scope.binding or {}
            return binding.get(a.ref_attr_name, default)
        return kernel_attribute(a)

    def input_type(self, i: int) -> Type | None:
        return self._in(i).type

    def input_dtype(self, i: int) -> DataType | None:
        t = self._in(i).type
        return t.elem_type if isinstance(t, TensorType) else None

    def input_shape(self, i: int) -> tuple[Dim, ...] | None:
        return self._in(i).shape

    def input_rank(self, i: int) -> int | None:
        s = self._in(i).shape
        return None if s is None else len(s)

    def input_value(self, i: int) -> np.ndarray | None:
        return self._drv.value(self._in(i), None)

    def input_dims(self, i: int) -> list[Dim] | None:
        return self._drv.dims(self._in(i))

    # writing ------------------------------------------------------------
    def set_output(self, i: int, dtype: Any, shape: Iterable[Dim] | None) -> None:
        if not 0 <= i < self.n_outputs:
            return
        dims = None if shape is None else tuple(_rule_dim(d) for d in shape)
        o = self.outs[i]
        o.type = tensor_type(dtype, dims)
        o.shape = dims

    def set_output_type(self, i: int, type: Type | None) -> None:
        if 0 <= i < self.n_outputs:
            o = self.outs[i]
            o.type = type
            o.shape = _rule_shape(type)

    def set_output_value(self, i: int, value: Any) -> None:
        if 0 <= i < self.n_outputs and value is not None:
            self._drv.set_value(self, i, value if isinstance(value, TensorBase) else np.asarray(value))

    def set_output_dims(self, i: int, dims: Sequence[Dim]) -> None:
        if 0 <= i < self.n_outputs and self._drv.data_prop and dims is not None:
            # elements are data, not sizes: negative ints (-1 of a Reshape target) stay
            self.outs[i].dims = [int(d) if isinstance(d, (int, np.integer)) else _rule_dim(d) for d in dims]

    def fail(self, message: str) -> None:
        raise self._drv.error(self, message)

    def infer_subgraph(self, graph: Graph, input_types: Sequence[Any]) -> list[Any]:
        self.visited.append(graph)
        return self._drv.graph(graph, self._scope, f"{self.describe()} > ", input_types)

    # ------------------------------------------------------------------
    def describe(self) -> str:
        n = self.node
        dom = f"{n.domain}::" if n.domain else ""
        return f"{self.where}node {self.index} {n.name!r} ({dom}{n.op_type})"


class Driver:
    """One inference run over a model (see :func:`onnxkit.infer.infer_shapes`)."""

    def __init__(self, model, *, strict: bool = False, data_prop: bool = True) -> None:
        self.model = model
        self.strict = strict
        self.data_prop = data_prop
        self.problems: list[InferenceError] = []
        #: {op: number of nodes} inferred without a rule (the schema's types only)
        self.no_rule: dict[str, int] = {}
        self.functions = {f.identifier: f for f in model.functions}
        self.declared: dict[Value, Type | None] = {}
        self._bodies: dict[tuple, Any] = {}

    def run(self) -> None:
        model = self.model
        for g in model.graph.all_graphs():
            for n in g:
                for v in n.outputs:
                    self.declared[v] = v.type
        opsets = normalize_opsets(model.opset_imports)
        self.graph(model.graph, _Scope(opsets, write=True), "", None)

    # ------------------------------------------------------------ values
    def get(self, scope: _Scope, v: Value) -> _Info:
        info = scope.info.get(v)
        if info is None:
            t = v.type
            if v.const_value is not None and v.producer() is None:
                c = v.const_value
                try:
                    t = merge_types(t, TensorType(c.dtype, c.shape))
                except Conflict:
                    pass
                info = _info_of(t, c)
            else:
                info = _info_of(t)
            scope.info[v] = info
        return info

    def value(self, info: _Info, limit: int | None = MAX_FOLD_ELEMENTS) -> np.ndarray | None:
        """The value as numpy (None when unknown or larger than ``limit``)."""
        x = info.value
        if x is None:
            dims = info.dims
            t = info.type
            if dims is None or not all(isinstance(d, int) for d in dims) or not isinstance(t, TensorType) \
                    or t.shape is None or t.shape.rank > 1 or t.elem_type is None:
                return None
            try:
                x = np.array(dims, dtype=t.elem_type.numpy_dtype)
            except Exception:
                return None
            if t.shape.rank == 0:
                if len(dims) != 1:
                    return None
                x = x.reshape(())
            info.value = x
            return x
        if limit is not None and _size(x) > limit:
            return None
        if isinstance(x, TensorBase):
            x = info.value = x.numpy()
        return x

    def dims(self, info: _Info) -> list[Dim] | None:
        if info.dims is not None:
            return list(info.dims)
        x = info.value
        if x is None or _size(x) > MAX_FOLD_ELEMENTS or len(x.shape) > 1:
            return None
        if isinstance(x, TensorBase) and not x.dtype.is_integer:
            return None         # dims are integers: a float weight is not read for them
        x = self.value(info)
        if x is None or x.dtype.kind not in "iu":
            return None
        info.dims = [int(e) for e in x.reshape(-1)]
        return list(info.dims)

    def set_value(self, ctx: _Ctx, i: int, x: Any) -> None:
        """Record output ``i``'s value, if it fits the type inferred so far (its
        type comes from the value where the rule gave none)."""
        o = ctx.outs[i]
        try:
            vt = TensorType(DataType.from_numpy(x.dtype) if isinstance(x, np.ndarray) else x.dtype, x.shape)
        except Exception:
            return
        try:
            o.type = merge_types(o.type, vt)
        except Conflict:
            return
        o.shape = _rule_shape(o.type, o.shape)
        o.value = x
        if isinstance(x, np.ndarray) and x.ndim <= 1 and x.dtype.kind in "iu" and x.size <= MAX_FOLD_ELEMENTS:
            o.dims = [int(e) for e in x.reshape(-1)]

    # ------------------------------------------------------------ problems
    def error(self, ctx: _Ctx, message: str, *, value: Value | None = None, declared: Type | None = None,
              inferred: Type | None = None) -> InferenceError:
        e = InferenceError(f"{ctx.describe()}: {message}")
        e.node_index, e.node_name, e.op_type = ctx.index, ctx.node.name, ctx.node.op_type
        e.where = ctx.where
        e.value_name = None if value is None else value.name
        e.declared, e.inferred = declared, inferred
        e.rule_crashed = False
        return e

    def problem(self, e: InferenceError) -> None:
        if self.strict:
            raise e
        self.problems.append(e)

    # ------------------------------------------------------------ graphs
    def graph(self, g: Graph, scope: _Scope, where: str, input_types: Sequence[Any] | None) -> list[Any]:
        """Infer ``g`` (its inputs typed by ``input_types`` merged with their
        declared types); returns the types of its outputs."""
        for i, v in enumerate(g.inputs):
            t = v.type
            given = input_types[i] if input_types is not None and i < len(input_types) else None
            if given is not None:
                try:
                    t = merge_types(t, given)
                except Conflict:
                    pass      # the declared input type stands; the op's rule may complain
            scope.info[v] = _info_of(t, v.const_value)
        for v in g.initializers.values():
            if v not in scope.info:
                self.get(scope, v)
        for index, node in enumerate(g):
            self.node(node, index, scope, where)
        return [self.get(scope, v).type for v in g.outputs]

    def node(self, node: Node, index: int, scope: _Scope, where: str) -> None:
        domain = normalize_domain(node.domain)
        opset = scope.opsets.get(domain)
        ctx = _Ctx(self, scope, node, index, where, opset)
        schema = None
        try:
            fn = self.functions.get((domain, node.op_type, node.overload or ""))
            if fn is not None:
                self.call_function(ctx, fn, None)
            else:
                reg = find_shape(node.op_type, opset, domain) if opset is not None else None
                schema = get_schema(node.op_type, opset, domain) if opset is not None else None
                if reg is not None:
                    reg.fn(ctx)
                else:
                    body = self._body(schema, opset)
                    if body is not None:
                        self.call_function(ctx, body, schema)
                    else:
                        key = f"{domain}::{node.op_type}" if domain else node.op_type
                        self.no_rule[key] = self.no_rule.get(key, 0) + 1
        except InferenceError as e:
            if not str(e).startswith(ctx.describe()):
                e = self.error(ctx, str(e))
            self.problem(e)
        except Exception as e:  # a rule's own failure: say where, go on with what is known
            err = self.error(ctx, f"the shape rule failed: {type(e).__name__}: {e}")
            # onnxkit's bug, not evidence against the model; unless the rule could not read the
            # model's own data (a missing or short external-data file), which is the model's problem
            err.rule_crashed = not isinstance(e, (ExternalDataError, DataSizeError))
            if self.strict:
                raise err from e
            self.problems.append(err)
        if schema is not None:
            self._schema_types(ctx, schema)
        for sub in node.subgraphs():   # bodies the rule did not look at: infer them as declared
            if not any(sub is g for g in ctx.visited):
                self.graph(sub, scope, f"{ctx.describe()} > ", None)
        if self.data_prop:
            self._fold(ctx, scope, domain)
        self._commit(ctx, scope)

    def _commit(self, ctx: _Ctx, scope: _Scope) -> None:
        for v, o in zip(ctx.node.outputs, ctx.outs):
            if not v.name:
                continue
            declared = self.declared.get(v, v.type) if scope.write else v.type
            t = o.type
            try:
                final = merge_types(declared, t)
            except Conflict as c:
                self.problem(self.error(
                    ctx, f"output {v.name!r}: inferred {t} but declared {declared} ({c}); "
                         "keeping the declared type", value=v, declared=declared, inferred=t))
                scope.info[v] = _info_of(declared)
                continue
            if final is t:
                info = o
            else:
                info = _Info(final, _rule_shape(final, o.shape), o.value, o.dims)
            scope.info[v] = info
            if scope.write and final is not None:
                v.type = final

    # ------------------------------------------------------------ fallbacks
    def _schema_types(self, ctx: _Ctx, schema) -> None:
        """Outputs left untyped (or without element type) get the type the
        schema's constraints imply: an input's sharing the type parameter, or
        the one type a constraint allows.  Shapes stay as the rule left them."""
        for i, o in enumerate(ctx.outs):
            t = o.type
            if t is not None and not (isinstance(t, TensorType) and t.elem_type is None):
                continue
            st = _output_type(ctx, schema, i)
            if st is None:
                continue
            if isinstance(t, TensorType) and isinstance(st, TensorType):
                o.type = type(t)(st.elem_type, t.shape, t.denotation)
            elif t is None:
                o.type = st
                o.shape = _rule_shape(st)

    def _body(self, schema, opset: int | None):
        if schema is None or not schema.function_texts:
            return None
        key = (schema.domain, schema.name, schema.since_version, opset)
        if key not in self._bodies:
            try:
                self._bodies[key] = schema.function(opset)
            except Exception:
                self._bodies[key] = None
        return self._bodies[key]

    def call_function(self, ctx: _Ctx, fn, schema) -> None:
        """Infer a function body for this node (attributes bound, the node's
        input types and values given); its outputs become the node's."""
        scope = ctx._scope
        if scope.depth >= _MAX_DEPTH:
            ctx.fail(f"functions nested more than {_MAX_DEPTH} deep: is a function calling itself?")
        binding: dict[str, Any] = {}
        if schema is not None:
            for name, ad in schema.attributes.items():
                if ad.default is not None:
                    binding[name] = list(ad.default) if isinstance(ad.default, tuple) else ad.default
        for a in getattr(fn, "attribute_defaults", ()):
            binding[a.name] = kernel_attribute(a)
        for name in ctx.node.attributes:
            value = ctx.attr(name, _UNBOUND)
            if value is not _UNBOUND:
                binding[name] = value
        opsets = dict(scope.opsets)
        opsets.update(normalize_opsets(fn.opset_imports))
        sub = _Scope(opsets, write=False, binding=binding, depth=scope.depth + 1)
        body = fn.graph
        for v, info in zip(body.inputs, ctx._ins):
            sub.info[v] = info if info is not None else _Info()
        where = f"{ctx.describe()} > function {fn.domain + '.' if fn.domain else ''}{fn.name}: "
        for index, node in enumerate(body):
            self.node(node, index, sub, where)
        for i, v in enumerate(body.outputs[:ctx.n_outputs]):
            info = self.get(sub, v)
            ctx.outs[i] = _Info(info.type, info.shape, info.value, info.dims)

    # ------------------------------------------------------------ data propagation
    def _fold(self, ctx: _Ctx, scope: _Scope, domain: str) -> None:
        """Compute the outputs with the op's kernel when every input is known and small."""
        node = ctx.node
        outs = ctx.outs
        if all(o.value is not None or (o.dims is not None and all(isinstance(d, int) for d in o.dims))
               for o in outs):
            return
        if node.op_type in _NONDETERMINISTIC or ctx.opset is None:
            return
        args = []
        for info in ctx._ins:
            if info is None:
                args.append(None)
                continue
            if isinstance(info.value, ExternalTensor) and not info.value.dtype.is_integer:
                return      # a weight in external data: not read to fold (shapes are integers)
            x = self.value(info)
            if x is None:
                return
            args.append(x)
        while args and args[-1] is None:
            args.pop()
        for o in outs:   # an output known to be large is not worth computing
            if o.shape is not None and all(isinstance(d, int) for d in o.shape) \
                    and int(np.prod(o.shape, dtype=np.int64)) > MAX_FOLD_ELEMENTS:
                return
        if (domain, node.op_type, node.overload or "") in self.functions:
            return
        reg = find_kernel(node.op_type, ctx.opset, domain)
        if reg is None:
            return
        if any(a.type in (AttributeType.GRAPH, AttributeType.GRAPHS) for a in node.attributes.values()):
            return
        try:
            with np.errstate(all="ignore"):
                r = evaluate_node(node, args, scope.opsets, binding=scope.binding)
        except Exception:
            return
        for i, x in enumerate(r[:ctx.n_outputs]):
            if isinstance(x, np.ndarray) and x.size <= MAX_FOLD_ELEMENTS and outs[i].value is None:
                self.set_value(ctx, i, x)


_UNBOUND = object()


def _output_type(ctx: _Ctx, schema, i: int) -> Type | None:
    formals = schema.outputs
    if not formals:
        return None
    out = formals[min(i, len(formals) - 1)]
    ts = out.type_str
    tc = schema.type_constraints.get(ts)
    if tc is None:
        return parse_type_string(ts)
    if not (out.variadic and not out.homogeneous):     # (each position of its own type)
        for j, f in enumerate(schema.inputs):
            if f.type_str != ts or (f.variadic and not f.homogeneous):
                continue
            for k in (range(j, ctx.n_inputs) if f.variadic else (j,)):
                t = ctx.input_type(k)
                if t is not None:
                    return _strip_shapes(t)
    if len(tc.allowed) == 1:
        return parse_type_string(tc.allowed[0])
    return None
