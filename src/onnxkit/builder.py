"""Build graphs, functions and models in Python.

The builder makes the IR objects themselves (:class:`~onnxkit.ir.Graph`,
:class:`~onnxkit.ir.Node`, :class:`~onnxkit.ir.Value`, ...): there is no
separate data model, and everything it makes can be edited with the IR's
methods afterwards.

>>> import numpy as np
>>> from onnxkit.builder import GraphBuilder
>>> b = GraphBuilder("main")
>>> x = b.input("x", "float", ["batch", 4])
>>> w = b.initializer(np.ones((4, 2), np.float32), "w")
>>> y = b.op.Relu(b.node("MatMul", x, w))
>>> _ = b.output(y, "y", dtype="float", shape=["batch", 2])
>>> model = b.model(opset=21)

Ops.  ``b.node(op_type, *inputs, domain="", outputs=1, name=None, **attrs)``
adds any node; attributes are keyword arguments whose types are inferred
(:meth:`Attribute.infer`), or :class:`Attribute` objects, and ``None`` leaves
an attribute out.  ``b.op`` is the namespace of typed op constructors
(:mod:`onnxkit._generated_ops`, generated from the operator schemas and
installed as ``GraphBuilder.ops_class``): ``b.op.Conv(x, w, kernel_shape=[3, 3])``
has a real signature, checks arity, attribute names and types at build time
(IRError) and ends in ``self._builder.node(...)``; ``b.op("ai.onnx.ml")`` is the
namespace of another domain.  Ops without a method (other domains, deprecated
ops) go through ``__getattr__`` to :meth:`GraphBuilder.node` unchecked, e.g.
``b.op("com.microsoft").Foo(x)``.  Inputs that are arrays or Python numbers
become Constant nodes.

Names.  Names given by the user are kept; a second value (or node) with a
name already given raises :class:`~onnxkit.errors.IRError`.  Values and nodes
left unnamed get unique names at once (``conv_0``, node ``Conv_0``); when a
later user-given name collides with an automatic one, the automatic one
moves aside.  A subgraph builder shares its names with the enclosing builders,
since ONNX forbids a subgraph to reuse a name of an outer scope.

Subgraphs.  ``b.subgraph("then")`` returns a nested builder whose nodes may
read the enclosing builders' values directly (the IR keeps outer-scope
references as plain :class:`Value` objects).  Pass the nested builder (or its
``.graph``) as a graph attribute: ``b.node("If", c, then_branch=t, else_branch=e)``.

Functions.  :class:`FunctionBuilder` makes a model-local :class:`Function`;
inside it ``fb.attr_ref("alpha", "float")`` refers to one of the function's
attributes.  ``b.call(fb, x, alpha=0.5)`` adds a node calling it and
remembers it, so :meth:`GraphBuilder.model` includes it.

Types of node outputs are not inferred here (shape inference is its own
layer): give ``dtype``/``shape`` to :meth:`GraphBuilder.output` for the main
graph's outputs, which the ONNX checker requires to be typed.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np

from .errors import IRError, UnsupportedDataTypeError
from .ir import (Attribute, AttributeType, DataType, Function, Graph, Model, Node, Tensor,
                 TensorBase, TensorType, Type, Value)

if TYPE_CHECKING:
    from ._generated_ops import AiOnnxOps

__all__ = ["AttrRef", "FunctionBuilder", "GraphBuilder", "Ops", "as_dtype"]

_DTYPE_ALIASES = {"float32": DataType.FLOAT, "float64": DataType.DOUBLE, "half": DataType.FLOAT16,
                  "bool_": DataType.BOOL, "str": DataType.STRING}


def as_dtype(dtype: Any) -> DataType | None:
    """A :class:`DataType` from a DataType, its number, an ONNX short name
    (``"float"``, ``"int64"``), a numpy-style name (``"float32"``) or a numpy
    dtype.  None stays None (unknown element type)."""
    if dtype is None or isinstance(dtype, DataType):
        return dtype
    if isinstance(dtype, (int, np.integer)) and not isinstance(dtype, bool):
        try:
            return DataType(int(dtype))
        except ValueError:
            raise UnsupportedDataTypeError(f"unknown element type number {dtype}") from None
    if isinstance(dtype, str):
        if dtype.lower() in _DTYPE_ALIASES:
            return _DTYPE_ALIASES[dtype.lower()]
        try:
            return DataType.from_short_name(dtype)
        except UnsupportedDataTypeError:
            pass
    try:
        return DataType.from_numpy(np.dtype(dtype))
    except TypeError:
        raise UnsupportedDataTypeError(
            f"unknown element type {dtype!r}; use a DataType, a name such as 'float' or "
            "'int64', or a numpy dtype") from None


def _attr_type(t: int | str) -> int:
    if isinstance(t, str):
        for num, name in AttributeType.NAMES.items():
            if name == t.upper():
                return num
        raise IRError(f"unknown attribute type {t!r}; use a name such as 'float', 'ints' or 'graph'")
    return int(t)


class AttrRef:
    """A reference to an attribute of the enclosing function, given as an
    attribute value: ``fb.node("LeakyRelu", x, alpha=AttrRef("alpha", "float"))``
    makes ``alpha = @alpha``."""

    __slots__ = ("ref_attr_name", "type")

    def __init__(self, ref_attr_name: str, type: int | str) -> None:
        self.ref_attr_name = ref_attr_name
        self.type = _attr_type(type)

    def __repr__(self) -> str:
        return f"AttrRef(@{self.ref_attr_name}, {AttributeType.NAMES.get(self.type, self.type)})"


class Ops:
    """The op namespace of a builder: ``b.op.Relu(x)`` adds a Relu node.

    ``b.op("domain")`` is the namespace of another domain.  Generated typed
    methods will be defined on (a subclass of) this class; ``__getattr__``
    forwards every other name to :meth:`GraphBuilder.node`.
    """

    __slots__ = ("_builder", "_domain")

    def __init__(self, builder: GraphBuilder, domain: str = "") -> None:
        self._builder = builder
        self._domain = domain

    def __call__(self, domain: str) -> Ops:
        return type(self)(self._builder, domain)

    def __getattr__(self, op_type: str) -> Callable[..., Any]:
        if op_type.startswith("_"):
            raise AttributeError(op_type)
        return functools.partial(self._builder.node, op_type, domain=self._domain)

    def __repr__(self) -> str:
        return f"Ops(domain={self._domain!r})"


class _Names:
    """A scope of unique names.  Remembers which were chosen automatically, and
    how to rename their owner, so that those can move aside for a name the user
    gives later."""

    def __init__(self, what: str) -> None:
        self.what = what
        # name -> [owner, automatic, rename(new_name)]
        self.owners: dict[str, list] = {}
        self.counters: dict[str, int] = {}

    def check(self, name: Any) -> None:
        """Raise IRError unless ``name`` may be given by the user."""
        if not isinstance(name, str) or not name:
            raise IRError(f"a {self.what} name must be a non-empty string, not {name!r}")
        held = self.owners.get(name)
        if held is not None and not held[1]:
            raise IRError(f"{self.what} name {name!r} is already used by {held[0]!r}; "
                          "names must be unique in a graph and its subgraphs: choose another")

    def claim(self, name: str, obj: Any, rename: Callable[[str], None]) -> None:
        """Give ``obj`` the user-chosen ``name`` (an automatic holder moves aside)."""
        held = self.owners.get(name)
        if held is not None and held[0] is obj:
            held[1] = False
            return
        self.check(name)
        if held is not None:
            del self.owners[name]
            self.fresh(name, held[0], held[2])
        self.owners[name] = [obj, False, rename]
        rename(name)

    def take(self, name: str, obj: Any, rename: Callable[[str], None]) -> bool:
        """Give ``obj`` the automatic ``name`` if it is free."""
        if name in self.owners:
            return False
        self.owners[name] = [obj, True, rename]
        rename(name)
        return True

    def fresh(self, base: str, obj: Any, rename: Callable[[str], None]) -> str:
        """Give ``obj`` a new automatic name ``{base}_{k}``; returns it."""
        k = self.counters.get(base, 0)
        while f"{base}_{k}" in self.owners:
            k += 1
        self.counters[base] = k + 1
        name = f"{base}_{k}"
        self.owners[name] = [obj, True, rename]
        rename(name)
        return name

    def is_auto(self, name: str | None, obj: Any) -> bool:
        held = self.owners.get(name or "")
        return held is not None and held[0] is obj and held[1]

    def move(self, old: str, new: str, obj: Any) -> None:
        """Rename ``obj`` (holding ``old``) to the user-chosen ``new``."""
        self.check(new)
        rename = self.owners.pop(old)[2]
        self.claim(new, obj, rename)


class GraphBuilder:
    """Builds one :class:`Graph` (``.graph``); see the module documentation.

    ``node_names``: give unnamed nodes automatic names (``Conv_0``).
    """

    #: the class of ``self.op``; generated typed op constructors subclass :class:`Ops`
    #: (None: the generated :class:`AiOnnxOps`, imported when the first builder is made)
    ops_class: type | None = None

    def __init__(self, name: str = "main", *, node_names: bool = True, doc_string: str = "",
                 _parent: GraphBuilder | None = None) -> None:
        self.graph = Graph(name=name, doc_string=doc_string)
        self.parent = _parent
        self.node_names = node_names
        if _parent is None:
            self._values = _Names("value")
            self._nodes = _Names("node")
            self._functions: list[Function | FunctionBuilder] = []  # called through call()
        else:
            self._values, self._nodes = _parent._values, _parent._nodes
            self._functions = _parent._functions
        self._defined: set[int] = set()  # ids of the Values this graph defines
        if GraphBuilder.ops_class is None:
            _install_typed_ops()
        self.op: AiOnnxOps = self.ops_class(self)  # type: ignore[assignment,misc]

    # ------------------------------------------------------------ values
    def _value_renamer(self, v: Value) -> Callable[[str], None]:
        def rename(new: str) -> None:
            old, v.name = v.name, new
            inits = self.graph.initializers
            if old is not None and inits.get(old) is v:  # keep the dict keyed by name
                self.graph.initializers = {(new if k == old else k): x for k, x in inits.items()}
        return rename

    def _name_value(self, v: Value, name: str | None, base: str, preferred: str | None = None) -> Value:
        rename = self._value_renamer(v)
        if name is not None:
            self._values.claim(name, v, rename)
        elif preferred is None or not self._values.take(preferred, v, rename):
            self._values.fresh(base, v, rename)
        self._defined.add(id(v))
        return v

    def input(self, name: str | None, dtype: Any = None, shape: Iterable[int | str | None] | None = None,
              *, type: Type | None = None, doc_string: str = "") -> Value:
        """Add a graph input of element type ``dtype`` and ``shape`` (dims are
        ints, symbols such as ``"batch"``, or None), or of a full IR ``type``."""
        if name is not None:
            self._values.check(name)
        if type is None and (dtype is not None or shape is not None):
            type = TensorType(as_dtype(dtype), shape)
        v = Value(None, type, doc_string=doc_string)
        self._name_value(v, name, "input")
        self.graph.inputs.append(v)
        return v

    def initializer(self, array: Any, name: str | None = None, *, dtype: Any = None) -> Value:
        """Add an initializer holding ``array`` (numpy array, Tensor, or Python
        numbers or lists of them); returns its Value."""
        if name is not None:
            self._values.check(name)
        t = _to_tensor(array, as_dtype(dtype))
        v = Value(None, TensorType(t.dtype, t.shape), const_value=t)
        self._name_value(v, name, "init")
        self.graph.add_initializer(v)
        return v

    def constant(self, value: Any, name: str | None = None, *, dtype: Any = None) -> Value:
        """Add a Constant node holding ``value``: an array, a Tensor, or Python
        numbers or lists of them (floats become float32, ints int64)."""
        t = _to_tensor(value, as_dtype(dtype))
        out = self.node("Constant", value=t, outputs=[name])
        out.type = TensorType(t.dtype, t.shape)
        return out

    def _check_visible(self, v: Value, what: str) -> None:
        b: GraphBuilder | None = self
        while b is not None:
            if id(v) in b._defined:
                return
            p = v.producer()
            if (p is not None and p.graph is b.graph) or any(v is x for x in b.graph.inputs) \
                    or b.graph.initializers.get(v.name or "") is v:
                return
            b = b.parent
        raise IRError(f"{what}: {v!r} is not defined in graph {self.graph.name!r} or a graph "
                      "enclosing it; use values made by this builder or its enclosing builders")

    # ------------------------------------------------------------ nodes
    def node(self, op_type: str, *inputs: Any, domain: str = "", outputs: int | Sequence[str | None] = 1,
             name: str | None = None, attributes: dict[str, Any] | None = None,
             doc_string: str = "", **attrs: Any) -> Any:
        """Add a node; returns its output Value, or a tuple of them when it has
        not exactly one output.

        ``inputs``: Values, None for a missing optional input, or arrays and
        Python numbers (added as Constant nodes).  ``outputs``: how many, or
        their names (None: automatic).  Attributes are keyword arguments
        (``None`` leaves one out); ``attributes={...}`` is the same, for
        attribute names that clash with this method's own parameters.
        """
        desc = f"node {name + ' ' if name else ''}({domain + '.' if domain else ''}{op_type})"
        all_attrs = {**(attributes or {}), **attrs}
        attr_list = [_make_attr(k, a, desc) for k, a in all_attrs.items() if a is not None]
        out_names = [None] * outputs if isinstance(outputs, int) else list(outputs)
        if name is not None:
            self._nodes.check(name)
        given = [o for o in out_names if o is not None]
        for o in given:
            self._values.check(o)
        if len(set(given)) < len(given):
            raise IRError(f"{desc}: output names repeat: {out_names}")
        ins: list[Value | None] = []
        for i, v in enumerate(inputs):
            if isinstance(v, Value):
                self._check_visible(v, f"{desc} input {i}")
            elif v is not None:
                if not isinstance(v, (np.ndarray, np.generic, TensorBase, int, float, list, tuple)):
                    raise IRError(f"{desc}: input {i} is a {type(v).__name__}; expected a Value, "
                                  "None, an array or a number")
                v = self.constant(v)
            ins.append(v)
        node = Node(op_type, ins, len(out_names), domain=domain, attributes=attr_list,
                    doc_string=doc_string)
        if name is not None:
            self._nodes.claim(name, node, functools.partial(setattr, node, "name"))
        elif self.node_names:
            self._nodes.fresh(op_type, node, functools.partial(setattr, node, "name"))
        stem = node.name.lower() if node.name else None
        multi = len(out_names) != 1
        for i, (v, oname) in enumerate(zip(node.outputs, out_names)):
            if multi:
                self._name_value(v, oname, f"{op_type.lower()}_out{i}",
                                 f"{stem}_out{i}" if stem else None)
            else:
                self._name_value(v, oname, op_type.lower(), stem)
        self.graph.append(node)
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs

    def call(self, function: Function | FunctionBuilder, *inputs: Any, name: str | None = None,
             **attrs: Any) -> Any:
        """Add a node calling a model-local function; :meth:`model` includes it
        (and, for a FunctionBuilder, the functions it calls in turn)."""
        if not any(x is function for x in self._functions):
            self._functions.append(function)
        f = function.function if isinstance(function, FunctionBuilder) else function
        return self.node(f.name, *inputs, domain=f.domain, outputs=len(f.outputs), name=name,
                         **attrs)

    def subgraph(self, name: str = "subgraph") -> GraphBuilder:
        """A nested builder for an If/Loop/Scan body, whose nodes may read this
        builder's values.  Pass it (or its ``.graph``) as the graph attribute.
        Also a context manager (``with b.subgraph("body") as body: ...``)."""
        return GraphBuilder(name, node_names=self.node_names, _parent=self)

    def __enter__(self) -> GraphBuilder:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def output(self, value: Value, name: str | None = None, *, dtype: Any = None,
               shape: Iterable[int | str | None] | None = None) -> Value:
        """Make ``value`` a graph output, optionally renamed and typed; returns
        the output Value.

        A value that already has another name given by the user, that is
        already an output, or that belongs to an enclosing graph, is passed
        through an Identity node to become this output.
        """
        if not isinstance(value, Value):
            raise IRError(f"an output of graph {self.graph.name!r} must be a Value, "
                          f"not {type(value).__name__}")
        self._check_visible(value, f"output {name or value.name!r}")
        outer = id(value) not in self._defined
        already = any(v is value for v in self.graph.outputs)
        if outer or already or (name is not None and name != value.name
                                and not self._values.is_auto(value.name, value)):
            value = self.node("Identity", value, outputs=[name])
        elif name is not None and name != value.name:
            self._values.move(value.name, name, value)
        if dtype is not None or shape is not None:
            old = value.type if isinstance(value.type, TensorType) else None
            value.type = TensorType(
                as_dtype(dtype) if dtype is not None else (old.elem_type if old else None),
                shape if shape is not None else (old.shape if old else None))
        self.graph.outputs.append(value)
        return value

    # ------------------------------------------------------------ models
    def model(self, opset: int = 21, ir_version: int = 10, opset_imports: dict[str, int] | None = None,
              functions: Iterable[Function | FunctionBuilder] = (), *, producer_name: str = "onnxkit",
              producer_version: str | None = None, doc_string: str = "") -> Model:
        """The :class:`Model` of this top-level graph.

        ``opset_imports`` adds to ``{"": opset}``.  Functions called through
        :meth:`call` are included, and those in ``functions``.  A domain that
        a node or function uses without being imported is imported at version
        1; a function's own imports are completed from the model's.
        """
        if self.parent is not None:
            raise IRError(f"graph {self.graph.name!r} is a subgraph; call model() on the "
                          "top-level builder")
        if producer_version is None:
            from . import __version__ as producer_version
        imports = {"": opset, **(opset_imports or {})}
        funcs: list[Function] = []
        seen: set[int] = set()

        def include(f: Function | FunctionBuilder) -> None:  # callees first
            if id(f) in seen:
                return
            seen.add(id(f))
            if isinstance(f, FunctionBuilder):
                for callee in f._functions:
                    include(callee)
                f = f.function
            if not any(x is f for x in funcs):
                funcs.append(f)

        for f in [*self._functions, *functions]:
            include(f)

        def need(domain: str) -> int:
            if domain == "ai.onnx" and "ai.onnx" not in imports:
                domain = ""
            return imports.setdefault(domain, 1)

        for f in funcs:
            need(f.domain)
        for n in self.graph.all_nodes():
            need(n.domain)
        for f in funcs:
            for n in f.graph.all_nodes():
                if n.domain not in f.opset_imports:
                    f.opset_imports[n.domain] = need(n.domain)
        return Model(self.graph, ir_version=ir_version, opset_imports=imports,
                     producer_name=producer_name, producer_version=producer_version,
                     doc_string=doc_string, functions=funcs)


class FunctionBuilder(GraphBuilder):
    """Builds a model-local :class:`Function` (``.function``).

    ``inputs`` and ``outputs`` of a function are names only (no types).
    ``attributes``: names of attributes without default, or :class:`Attribute`
    objects giving a default.  ``fb.inputs`` are the input Values.
    """

    def __init__(self, domain: str, name: str, inputs: Sequence[str] = (),
                 attributes: Sequence[str | Attribute] = (), *,
                 opset_imports: dict[str, int] | None = None, doc_string: str = "",
                 node_names: bool = True) -> None:
        super().__init__(name, node_names=node_names)
        self._attr_types: dict[str, int | None] = {}
        names, defaults = [], []
        for a in attributes:
            if isinstance(a, Attribute):
                defaults.append(a)
                self._attr_types[a.name] = a.type
            else:
                names.append(a)
                self._attr_types[a] = None
        self.function = Function(domain, name, self.graph, attributes=names,
                                 attribute_defaults=defaults, opset_imports=opset_imports,
                                 doc_string=doc_string)
        self.inputs = tuple(self.input(n) for n in inputs)

    def attr_ref(self, name: str, type: int | str | None = None) -> AttrRef:
        """A reference to this function's attribute ``name`` (the type is needed
        unless the attribute was declared with a default)."""
        if name not in self._attr_types:
            raise IRError(f"function {self.function.name!r} has no attribute {name!r}; "
                          f"declare it in attributes= (has: {', '.join(self._attr_types) or 'none'})")
        t = type if type is not None else self._attr_types[name]
        if t is None:
            raise IRError(f"attribute {name!r} of function {self.function.name!r}: give its type, "
                          "e.g. attr_ref(name, 'float')")
        return AttrRef(name, t)

    def initializer(self, array: Any, name: str | None = None, *, dtype: Any = None) -> Value:
        # FunctionProto has no initializers: a Constant node does the job
        return self.constant(array, name, dtype=dtype)

    def model(self, *args: Any, **kwargs: Any) -> Model:
        raise IRError("a FunctionBuilder makes a Function (.function), not a model; "
                      "call it from a GraphBuilder with call()")


# ------------------------------------------------------------ helpers


def _to_tensor(value: Any, dtype: DataType | None) -> TensorBase:
    if isinstance(value, TensorBase) and dtype is None:
        return value
    if dtype is None and not isinstance(value, (np.ndarray, np.generic, TensorBase)):
        arr = np.asarray(value)  # Python numbers and lists: float -> float32, int -> int64
        return Tensor(arr.astype(np.float32) if arr.dtype == np.float64 else arr)
    return Tensor(value, dtype=dtype)


def _make_attr(key: str, a: Any, desc: str) -> Attribute:
    if isinstance(a, Attribute):
        if a.name != key:
            raise IRError(f"{desc}: attribute given as {key}= is named {a.name!r}")
        return a
    if isinstance(a, AttrRef):
        return Attribute(key, a.type, None, ref_attr_name=a.ref_attr_name)
    if isinstance(a, GraphBuilder):
        a = a.graph
    elif isinstance(a, (list, tuple)) and a and all(isinstance(x, GraphBuilder) for x in a):
        a = [x.graph for x in a]
    try:
        return Attribute.infer(key, a)
    except IRError as e:
        raise IRError(f"{desc}: {e}") from None


def _install_typed_ops() -> None:
    """Make ``b.op`` the typed op namespace generated from the schemas
    (:mod:`onnxkit._generated_ops`, written by ``tools/gen_builder.py``; it
    imports this module, so it is imported when the first builder is made)."""
    try:
        from ._generated_ops import AiOnnxOps
    except ModuleNotFoundError as e:
        if e.name != f"{__package__}._generated_ops":
            raise
        GraphBuilder.ops_class = Ops  # not generated yet (the generator imports this module): untyped
        return
    GraphBuilder.ops_class = AiOnnxOps
