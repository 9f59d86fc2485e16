"""Conversion rules: how one aten op (or one symbolic-size operation) becomes ONNX nodes.

A rule is a plain function ``rule(ctx, *args, **kwargs)`` registered with
:func:`conversion_rule` for one or more targets.  ``args``/``kwargs`` are the
traced call's arguments with every traced value replaced by its ONNX value: a
tensor by a :class:`~onnxkit.ir.Value`, a symbolic size by an int64 scalar
``Value`` (a static size stays a Python ``int``), lists as lists.  The rule adds
nodes through ``ctx`` (:class:`Ctx`) and returns the output ``Value`` (a tuple
of them for ops with several outputs; a Python number for a size that is known).

>>> import torch
>>> from onnxkit.export import conversion_rule
>>> @conversion_rule(torch.ops.aten.hardswish.default)      # doctest: +SKIP
... def hardswish(ctx, x):
...     return ctx.o.HardSwish(x)
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np
import torch

from .._generated_ops import AiOnnxOps
from ..ir import DataType, TensorType, Value
from ._errors import ExportError

Rule = Callable[..., Any]

#: target -> rule; a target is an OpOverload (aten.add.Tensor), an
#: OpOverloadPacket (aten.add: every overload) or a Python callable (operator.mul)
RULES: dict[Any, Rule] = {}


def conversion_rule(*targets: Any, replace: bool = True) -> Callable[[Rule], Rule]:
    """Register the decorated function as the conversion of each target.

    A target is an aten overload (``torch.ops.aten.add.Tensor``), a whole aten
    op (``torch.ops.aten.add``: every overload without a rule of its own), a
    string ``"aten::add.Tensor"``, or a Python function seen in symbolic size
    arithmetic (``operator.mul``).  A later registration replaces an earlier
    one (``replace=False`` refuses that).
    """
    if not targets:
        raise ExportError("conversion_rule() needs at least one target, e.g. "
                          "@conversion_rule(torch.ops.aten.relu.default)")

    def register(fn: Rule) -> Rule:
        for t in targets:
            if type(t).__name__ == "_Missing":
                continue
            t = _resolve(t)
            if not replace and t in RULES:
                raise ExportError(f"{t} already has a conversion rule ({RULES[t].__module__}."
                                  f"{RULES[t].__name__}); pass replace=True to override it")
            RULES[t] = fn
        return fn

    return register


def _resolve(target: Any) -> Any:
    if isinstance(target, str):
        import torch

        ns, _, rest = target.partition("::")
        name, _, overload = rest.partition(".")
        try:
            packet = getattr(getattr(torch.ops, ns), name)
            return getattr(packet, overload or "default") if overload else packet
        except AttributeError:
            raise ExportError(f"no torch op named {target!r}; write it as 'aten::add.Tensor'") from None
    return target


def find_rule(target: Any) -> Rule | None:
    rule = RULES.get(target)
    if rule is None:
        packet = getattr(target, "overloadpacket", None)
        if packet is not None:
            rule = RULES.get(packet)
    if rule is None and isinstance(target, torch._ops.OpOverload) and target._opname.endswith("_"):
        # an in-place op (``neg_``) computes what its out-of-place op does; its traced
        # value (hence the rule's output dtype) is the written tensor's
        outer = getattr(getattr(torch.ops, target.namespace), target._opname[:-1], None)
        overload = getattr(outer, target._overloadname, None) if outer is not None else None
        if overload is not None:
            rule = find_rule(overload)
    return rule


class Ctx:
    """What a rule sees: the builder of the graph being written, the traced node
    being converted, and helpers to add nodes and constants."""

    def __init__(self, converter: Any) -> None:
        self._conv = converter
        self.node: Any = None  # the torch.fx.Node being converted
        #: the typed op constructors (``ctx.o.Gemm(a, b, transB=1)``): the builder's
        #: generated :class:`~onnxkit._generated_ops.AiOnnxOps` methods (unknown
        #: attributes, missing or extra inputs raise at the call), whose nodes are
        #: checked once more against the schema in force at the export opset, get
        #: Python numbers as constants and are tagged with the user's source line
        #: (as :meth:`op`'s)
        self.o: AiOnnxOps = AiOnnxOps(_RuleNodes(self), "")  # type: ignore[arg-type]

    # ------------------------------------------------------------ context
    @property
    def b(self):
        """The :class:`~onnxkit.builder.GraphBuilder` nodes go to (a subgraph's inside a branch)."""
        return self._conv.builder

    @property
    def opset(self) -> int:
        return self._conv.opset

    def meta(self, i: int | None = None) -> Any:
        """The fake value of the node's output (``i``: of its i-th output)."""
        v = self.node.meta.get("val")
        if i is not None and isinstance(v, (list, tuple)):
            return v[i]
        return v

    def arg_meta(self, i: int) -> Any:
        """The fake value of the node's i-th positional argument (a traced value) or the argument."""
        a = self.node.args[i]
        if isinstance(a, (list, tuple)):
            return [x.meta.get("val") if hasattr(x, "meta") else x for x in a]
        return a.meta.get("val") if hasattr(a, "meta") else a

    def out_dtype(self, i: int | None = None) -> DataType:
        from ._dtypes import to_onnx

        return to_onnx(self.meta(i).dtype)

    def out_rank(self, i: int | None = None) -> int:
        return self.meta(i).dim()

    def error(self, message: str) -> ExportError:
        return self._conv.node_error(self.node, message)

    # ------------------------------------------------------------ nodes
    def op(self, op_type: str, *inputs: Any, outputs: int = 1, domain: str = "", **attrs: Any) -> Any:
        """Add a node (``GraphBuilder.node``), tagged with the user's source line.

        Untyped: the rules use :attr:`o` (``ctx.o.Gemm(...)``) for the standard
        domain and keep this for other domains (custom ops)."""
        return self._node(op_type, inputs, outputs, domain, None, attrs)

    def _node(self, op_type: str, inputs: Any, outputs: Any, domain: str, name: str | None,
              attrs: dict[str, Any]) -> Any:
        ins = [self.const(x) if isinstance(x, (bool, int, float)) and not isinstance(x, Value) else x
               for x in inputs]
        out = self.b.node(op_type, *ins, outputs=outputs, domain=domain, name=name, attributes=attrs)
        n = (out if isinstance(out, Value) else out[0]).producer()
        src = self.node.meta.get("onnxkit_src") if self.node is not None else None
        if src:
            n.metadata_props["source"] = src
        return out

    def const(self, value: Any, dtype: Any = None) -> Value:
        """A constant: a Python number or list (ints -> int64, floats -> float32 unless
        ``dtype`` says otherwise; ``dtype`` is a DataType or torch dtype) or an array."""
        return self._conv.constant(value, dtype)

    # ------------------------------------------------------------ types
    def dtype(self, v: Value) -> DataType:
        t = v.type
        if isinstance(t, TensorType) and t.elem_type is not None:
            return DataType(t.elem_type)
        raise self.error(f"internal: the element type of {v!r} is unknown")

    def rank(self, v: Value) -> int:
        s = v.shape
        if s is None:
            raise self.error(f"internal: the rank of {v!r} is unknown")
        return len(s)

    def static_shape(self, v: Value) -> list[int | None]:
        """The dims of ``v``: ints where static, None where symbolic."""
        return [d if isinstance(d, int) else None for d in (v.shape or ())]

    def cast(self, v: Any, dtype: Any) -> Value:
        """``v`` as element type ``dtype`` (DataType or torch dtype); numbers become constants."""
        dt = _as_datatype(dtype)
        if not isinstance(v, Value):
            return self.const(v, dt)
        if isinstance(v.type, TensorType) and v.type.elem_type == dt:
            return v
        out = self.op("Cast", v, to=int(dt))
        out.type = TensorType(dt, v.shape)
        return out

    def typed(self, v: Value, dtype: Any, shape: Any = None) -> Value:
        """Set the type of an intermediate value (so later rules can ask for it)."""
        v.type = TensorType(_as_datatype(dtype), shape)
        return v

    # ------------------------------------------------------------ sizes
    def int_scalar(self, x: Any) -> Value:
        """An int64 scalar Value from an int or a symbolic size."""
        if isinstance(x, Value):
            return x if self.dtype(x) == DataType.INT64 else self.cast(x, DataType.INT64)
        return self.const(np.array(int(x), np.int64))

    def ints(self, items: Any) -> Value:
        """A 1-D int64 tensor from a list of ints and symbolic sizes (a Shape-like value)."""
        if isinstance(items, Value):
            if len(items.shape or ()) == 1:
                return self.cast(items, DataType.INT64)
            items = [items]
        items = list(items)
        if all(not isinstance(x, Value) for x in items):
            return self.const(np.array([int(x) for x in items], np.int64))
        parts: list[Value] = []
        run: list[int] = []
        for x in items:
            if isinstance(x, Value):
                if run:
                    parts.append(self.const(np.array(run, np.int64)))
                    run = []
                parts.append(self._conv.unsqueezed(self.int_scalar(x)))
            else:
                run.append(int(x))
        if run:
            parts.append(self.const(np.array(run, np.int64)))
        out = parts[0] if len(parts) == 1 else self.op("Concat", *parts, axis=0)
        return self.typed(out, DataType.INT64, [len(items)])

    def shape(self, v: Value) -> Value:
        """The Shape of ``v`` (one node per value)."""
        return self._conv.shape_of(v)

    def dim(self, v: Value, i: int) -> Any:
        """Dim ``i`` of ``v``: an int when static, else an int64 scalar Value."""
        shape = v.shape
        if shape is not None:
            i = i % len(shape)
            d = shape[i]
            if isinstance(d, int):
                return d
        return self._conv.dim_of(v, i)

    def axes(self, dims: Any) -> Value:
        return self.const(np.array(list(dims), np.int64))


class _RuleNodes:
    """What :attr:`Ctx.o` sees as its builder: its ``node`` checks the node
    against the schema of the op in force at the export opset (the generated
    methods follow each op's latest version), then adds it through
    :meth:`Ctx._node` (constants, source line) to the ctx's current builder."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: Ctx) -> None:
        self._ctx = ctx

    def node(self, op_type: str, *inputs: Any, domain: str = "", outputs: Any = 1,
             name: str | None = None, attributes: dict[str, Any] | None = None, **more: Any) -> Any:
        # ``more``: a name AiOnnxOps has no method for (``getattr(ctx.o, "Typo")``)
        # comes here untyped, with its attributes as keywords; the check refuses it
        ctx = self._ctx
        attrs = {**(attributes or {}), **more}
        problem = _pinned_problem(op_type, domain, ctx.opset, len(inputs), tuple(attrs))
        if problem:
            raise ctx.error(f"internal: a conversion rule built {problem}")
        return ctx._node(op_type, inputs, outputs, domain, name, attrs)


@functools.lru_cache(maxsize=None)
def _pinned_problem(op_type: str, domain: str, opset: int, n_inputs: int,
                    attrs: tuple[str, ...]) -> str | None:
    """What is wrong with a node of ``op_type`` with ``n_inputs`` inputs and
    attributes ``attrs`` at ``opset`` (None: nothing)."""
    from ..defs import get_schema

    s = get_schema(op_type, opset, domain)
    if s is None:
        return f"{op_type}, which opset {opset} does not have"
    unknown = [a for a in attrs if a not in s.attributes]
    if unknown:
        return (f"{op_type} with attribute {unknown[0]!r}, which its version {s.since_version} "
                f"(opset {opset}) does not have")
    if not s.min_input <= n_inputs <= s.max_input:
        return (f"{op_type} with {n_inputs} inputs; its version {s.since_version} (opset {opset}) "
                f"takes {s.min_input} to {s.max_input}")
    return None


def _as_datatype(dtype: Any) -> DataType:
    if isinstance(dtype, DataType):
        return dtype
    if isinstance(dtype, int):
        return DataType(dtype)
    from ._dtypes import to_onnx

    return to_onnx(dtype)
