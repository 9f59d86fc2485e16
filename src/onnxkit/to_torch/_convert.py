"""An ONNX model -> a torch.fx GraphModule, node by node.

:func:`to_torch` reads the model (onnxkit IR), infers the types it can (to
know which values torch can hold), then builds a ``torch.fx.Graph``:

* a placeholder per non-initializer graph input, in graph order;
* initializers as ``get_attr`` of parameters (floating point: trainable) or
  buffers; Constant nodes as buffers; both also known here, so inputs that a
  rule wants as Python values (shapes, axes) are baked in;
* one ``call_function`` per node whose op has a rule (see ``_registry``), the
  body of a model-local function inlined node by node, a ``call_module`` of a
  :class:`NumpyOp` for anything else (onnxkit's numpy kernel), and a
  ``call_module`` of an If/Loop/Scan module whose subgraphs are imported
  recursively (outer-scope values become extra inputs);
* then ``_fuse`` puts back the single calls exporters decompose (F.linear,
  F.gelu, scaled_dot_product_attention).

Read from a path, the file is mapped copy-on-write and aligned weights are
tensors over it (``_weights``): no copy, and training never writes the file.
"""

from __future__ import annotations

import keyword
import operator
import os
import re
import warnings
from typing import Any

import numpy as np
import torch
import torch.fx as fx

from .._gc import gc_paused
from ..errors import OnnxkitError
from ..ir import AttributeType, Graph, Model, Node, TensorType, Value
from ..ir._domain import normalize_domain, normalize_opsets
from ..ops._evaluate import function_binding, kernel_attribute, model_functions
from ..ops._registry import KernelContext, find_kernel
from . import _control
from ._dtypes import from_numpy, is_native_type, torch_dtype
from ._fallback import GraphOp, NumpyOp
from ._fuse import fuse
from ._registry import find_rule
from ._weights import MappedFile, map_copy_on_write, weight
from ._sizes import BOOL_OPS, OF_SIZES, SIZE_OPS, SIZE_SINCE, as_tensor

__all__ = ["ToTorchError", "to_torch"]

_BAKE_LIMIT = 64        # constants up to this many elements are baked into rule calls
_MAX_DEPTH = 64


class _Sizes:
    """An ONNX integer value computed as Python ints (see ``_sizes``): the fx
    node of the int / tuple, its rank (0 or 1), its dtype, and its tensor once
    one is needed."""

    __slots__ = ("node", "rank", "dtype", "tensor", "static")

    def __init__(self, node: fx.Node, rank: int, dtype: torch.dtype = torch.int64, static: bool = False) -> None:
        self.node, self.rank, self.dtype, self.tensor = node, rank, dtype, None
        #: plain ints even when traced (the length of a sizes tuple and what is computed from it)
        self.static = static


class ToTorchError(OnnxkitError):
    """The model cannot be imported into PyTorch (says which node and why)."""


def _pick(r: Any, i: int) -> Any:
    """Output ``i`` of a rule's result (a tuple, or one tensor for output 0)."""
    if isinstance(r, (tuple, list)) and not isinstance(r, torch.Size):
        return r[i] if i < len(r) else None
    return r if i == 0 else None

_IDENT = re.compile(r"[^0-9a-zA-Z_]")


def sanitize(name: str, taken: set[str]) -> str:
    """A valid, unused Python attribute name for an ONNX name."""
    s = _IDENT.sub("_", name or "v").strip("_") or "v"
    if s[0].isdigit():
        s = "_" + s
    if keyword.iskeyword(s) or hasattr(torch.nn.Module, s) or s in ("self", "torch", "inf", "nan"):
        s += "_"
    base, k = s, 1
    while s in taken:
        s = f"{base}_{k}"
        k += 1
    taken.add(s)
    return s


def _attr_values(node: Node, binding: dict | None) -> tuple[dict, dict]:
    """(attributes as rules take them, GRAPH/GRAPHS attributes)."""
    attrs, graphs = {}, {}
    for name, a in node.attributes.items():
        if a.ref_attr_name is not None:
            if binding is not None and a.ref_attr_name in binding:
                attrs[name] = binding[a.ref_attr_name]
            continue
        if a.type in (AttributeType.GRAPH, AttributeType.GRAPHS):
            graphs[name] = a.value
        else:
            attrs[name] = kernel_attribute(a)
    return attrs, graphs


def free_values(graph: Graph) -> list[Value]:
    """The values ``graph`` (and its subgraphs) read from enclosing scopes, in order."""
    produced = {id(v) for v in graph.inputs} | {id(v) for v in graph.initializers.values()}
    for node in graph:
        produced.update(id(v) for v in node.outputs)
    out, seen = [], set()

    def see(v):
        if v is not None and v.name and id(v) not in produced and id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    for node in graph:
        for v in node.inputs:
            see(v)
        for a in node.attributes.values():
            if a.type == AttributeType.GRAPH:
                for v in free_values(a.value):
                    see(v)
            elif a.type == AttributeType.GRAPHS:
                for g in a.value:
                    for v in free_values(g):
                        see(v)
    for v in graph.outputs:
        see(v)
    return out


class _Model:
    """What every graph of one import shares."""

    def __init__(self, model: Model, seed: int | None) -> None:
        self.opsets = normalize_opsets(model.opset_imports)
        self.functions = model_functions(model)
        self.rng = np.random.default_rng(seed)
        self.fallbacks: list[str] = []
        #: the model file mapped copy-on-write (weights shared with it), or None
        self.mapped: MappedFile | None = None
        #: put back the fused calls exporters decompose (see ``_fuse``)
        self.fuse = True


class _GraphImport:
    """Builds one GraphModule from one ONNX graph."""

    def __init__(self, m: _Model, graph: Graph, *, outer: list[Value] = (), subgraph: bool = False,
                 where: str = "") -> None:
        self.m = m
        self.graph = graph
        self.outer = list(outer)
        self.subgraph = subgraph
        self.where = where
        self.root = torch.nn.Module()
        self.fx = fx.Graph()
        self.taken: set[str] = set()
        self.onnx_names: dict[str, str] = {}
        self.n_modules = 0

    # ------------------------------------------------------------ state
    def _state(self, array: Any, onnx_name: str, trainable: bool) -> fx.Node:
        name = sanitize(onnx_name, self.taken)
        t = from_numpy(np.asarray(array)) if not isinstance(array, torch.Tensor) else array
        if isinstance(t, torch.Tensor):
            if trainable and (t.is_floating_point() or t.is_complex()):
                self.root.register_parameter(name, torch.nn.Parameter(t.clone() if not t.is_contiguous()
                                                                      else t, requires_grad=True))
            else:
                self.root.register_buffer(name, t)
        else:
            setattr(self.root, name, t)         # a value torch cannot hold (strings, uint32...)
        self.onnx_names[name] = onnx_name
        return self.fx.get_attr(name)

    def _anchor(self) -> fx.Node:
        if not hasattr(self.root, "_device_anchor"):
            self.root.register_buffer("_device_anchor", torch.empty(0), persistent=False)
        return self.fx.get_attr("_device_anchor")

    def _module(self, mod: torch.nn.Module, hint: str) -> str:
        name = sanitize(hint, self.taken)
        self.root.add_module(name, mod)
        return name

    # ------------------------------------------------------------ building
    def build(self) -> fx.GraphModule:
        env: dict[Value, Any] = {}
        consts: dict[Value, np.ndarray] = {}
        g = self.graph
        for v in g.inputs:
            if v.name in g.initializers and not self.subgraph:
                continue                    # an initializer listed as input: state, not an argument
            env[v] = self.fx.placeholder(sanitize(v.name, self.taken))
        for v in self.outer:
            env[v] = self.fx.placeholder(sanitize(v.name, self.taken))
        for v in g.initializers.values():
            if v in env or v.const_value is None:
                continue
            t = v.const_value
            env[v] = self._state(weight(t, self.m.mapped), v.name, trainable=not _running_statistic(v))
            if _small(t):
                a = t.numpy()
                if isinstance(a, np.ndarray) and a.size <= _BAKE_LIMIT:
                    consts[v] = a
        self.convert_nodes(list(g), env, consts, self.m.opsets, None, 0)
        outs = [self._tensor(v, env) if v.name and v in env else None for v in g.outputs]
        if self.subgraph or len(outs) != 1:
            self.fx.output(tuple(outs))
        else:
            self.fx.output(outs[0])
        if self.m.fuse:
            fuse(self.fx, self.root, {n: v for v, n in env.items() if isinstance(n, fx.Node)})
        for n in reversed(list(self.fx.nodes)):   # constants baked into every use (or fused away): not state
            if not n.users and (n.op == "get_attr" or (n.op == "call_function" and n.target is as_tensor)):
                self.fx.erase_node(n)
        gm = fx.GraphModule(self.root, self.fx, class_name="OnnxModule" if not self.subgraph else "OnnxGraph")
        gm.onnx_names = {k: v for k, v in self.onnx_names.items() if hasattr(gm, k)}
        return gm

    def convert_nodes(self, nodes: list[Node], env: dict, consts: dict, opsets: dict,
                      binding: dict | None, depth: int) -> None:
        for node in nodes:
            try:
                self.convert_node(node, env, consts, opsets, binding, depth)
            except ToTorchError:
                raise
            except Exception as e:
                raise ToTorchError(f"{self.where}node {node.name!r} ({node.op_type}): cannot import: "
                                   f"{type(e).__name__}: {e}") from e

    def convert_node(self, node: Node, env: dict, consts: dict, opsets: dict, binding: dict | None,
                     depth: int) -> None:
        domain = normalize_domain(node.domain)
        opset = opsets.get(domain)
        attrs, graphs = _attr_values(node, binding)
        ins = list(node.inputs)
        while ins and ins[-1] is None:
            ins.pop()
        hint = node.outputs[0].name if node.outputs and node.outputs[0].name else node.op_type.lower()

        def tensor_args() -> list:
            return [None if v is None else self._tensor(v, env) for v in ins]

        if node.op_type == "Constant" and domain == "" and not graphs:
            self._constant(node, attrs, env, consts, opsets, binding)
            return
        if graphs:
            result = self._control(node, attrs, graphs, tensor_args(), opsets, hint, env)
            self._bind_outputs(node, result, env, multi=True)
            return
        key = (domain, node.op_type, node.overload or "")
        if key in self.m.functions:
            self._inline(node, self.m.functions[key], attrs, None, env, consts, opsets, depth)
            return
        if domain == "" and self._sizes_op(node, attrs, ins, env, consts, opset, hint):
            return
        r = find_rule(node.op_type, opset, domain) if opset is not None else None
        native = all(is_native_type(v.type) for v in (*node.inputs, *node.outputs) if v is not None)
        if r is not None and native and (r.when is None or r.when(attrs, node)):
            call_args = []
            for i, v in enumerate(ins):
                if v is None:
                    call_args.append(None)
                elif i in r.const and v in consts:
                    call_args.append(consts[v].tolist())
                elif i in r.const and isinstance(env[v], _Sizes):
                    call_args.append(env[v].node)        # Python ints at run time, as a constant would be
                else:
                    call_args.append(self._tensor(v, env))
            kwargs = {k: self._attr_arg(k, val, hint) for k, val in attrs.items()}
            if r.n_outputs:
                kwargs["_n_outputs"] = len(node.outputs)
            if r.device:
                kwargs["_anchor"] = self._anchor()
            if r.dtype:
                kwargs["_dtype"] = _output_dtype(node, env, consts)
            result = self.fx.create_node("call_function", r.fn, tuple(call_args), kwargs, name=_fx_name(hint))
            self._bind_outputs(node, result, env, multi=len(node.outputs) > 1)
            return
        if opset is not None and find_kernel(node.op_type, opset, domain) is None and native:
            from ..defs import get_schema
            schema = get_schema(node.op_type, opset, domain)
            body = schema.function(opset) if schema is not None else None
            if body is not None:
                self._inline(node, body, attrs, schema, env, consts, opsets, depth)
                return
        # the numpy kernel
        mod = NumpyOp(node, opsets, self.m.functions, binding, self.m.rng)
        self.m.fallbacks.append(f"{node.op_type} {node.name!r}")
        name = self._module(mod, f"numpy_{node.op_type}")
        result = self.fx.create_node("call_module", name, tuple(tensor_args()), {}, name=_fx_name(hint + "_all"))
        self._bind_outputs(node, result, env, multi=True)

    def _tensor(self, v: Value, env: dict) -> Any:
        """The fx node of ``v`` as a tensor (a sizes value converted once)."""
        x = env[v]
        if isinstance(x, _Sizes):
            if x.tensor is None:
                x.tensor = self.fx.create_node("call_function", as_tensor, (x.node, self._anchor(), x.dtype), {},
                                               name=_fx_name(v.name or "sizes"))
            return x.tensor
        return x

    def _sizes_op(self, node: Node, attrs: dict, ins: list, env: dict, consts: dict, opset: int | None,
                  hint: str) -> bool:
        """Shape arithmetic on Python ints (see ``_sizes``), where the node qualifies."""
        entry = SIZE_OPS.get(node.op_type)
        if entry is None or opset is None or opset < SIZE_SINCE[node.op_type] or len(node.outputs) != 1:
            return False
        kinds, cvals = [], []
        for v in ins:
            x = None if v is None else env[v]
            c = consts.get(v) if v is not None else None
            cvals.append(c)
            if v is None:
                kinds.append(None)
            elif isinstance(x, _Sizes):
                kinds.append(f"sizes{x.rank}")
            elif c is not None and c.dtype.kind in "iu":
                kinds.append("const")
            else:
                kinds.append("tensor")
        fn, qualifies, rank = entry
        of_sizes = node.op_type in OF_SIZES and kinds[0] != "tensor"
        if node.op_type not in OF_SIZES and "tensor" in kinds:
            return False
        if not qualifies(node, attrs, kinds, cvals):
            return False
        sizes_in = [env[v] for v in ins if v is not None and isinstance(env[v], _Sizes)]
        static = of_sizes or (bool(sizes_in) and all(x.static for x in sizes_in))
        if node.op_type == "ConstantOfShape" and not static:
            return False                          # a tuple's length must be a plain int
        if of_sizes:
            fn = OF_SIZES[node.op_type]           # the shape of a sizes value: its length
        args = []
        for v, k, c in zip(ins, kinds, cvals):
            if k is None:
                args.append(None)
            elif k == "const":
                args.append(c.tolist())
            elif k == "tensor":
                args.append(self._tensor(v, env))
            else:
                args.append(env[v].node)
        kwargs = {k: (v.reshape(-1)[0].item() if v.size == 1 else v.tolist()) if isinstance(v, np.ndarray) else v
                  for k, v in attrs.items()}
        result = self.fx.create_node("call_function", fn, tuple(args), kwargs, name=_fx_name(hint))
        out = node.outputs[0]
        if out.name:
            op = node.op_type
            if op == "Cast":
                dtype = torch_dtype(attrs["to"])
            elif op in BOOL_OPS:
                dtype = torch.bool
            elif op == "ConstantOfShape":
                dtype = from_numpy(attrs["value"]).dtype
            elif op in OF_SIZES:
                dtype = torch.int64
            else:       # the others keep their (value) sizes input's type
                data = ins[1:] if op == "Where" else ins
                dtype = next((env[v].dtype for v in data if v is not None and isinstance(env[v], _Sizes)),
                             torch.int64)
            env[out] = _Sizes(result, rank if isinstance(rank, int) else rank(kinds, cvals, attrs), dtype, static)
        return True

    def _attr_arg(self, name: str, val: Any, hint: str) -> Any:
        if isinstance(val, np.ndarray):
            return self._state(val, f"{hint}.{name}", trainable=False)
        if isinstance(val, list) and val and isinstance(val[0], np.ndarray):
            return [self._state(x, f"{hint}.{name}{i}", trainable=False) for i, x in enumerate(val)]
        return val

    def _bind_outputs(self, node: Node, result: fx.Node, env: dict, multi: bool) -> None:
        outs = node.outputs
        if not multi:
            if outs and outs[0].name:
                env[outs[0]] = result
            return
        for i, v in enumerate(outs):
            if v.name:
                fn = operator.getitem if _always_tuple(result) else _pick
                env[v] = self.fx.create_node("call_function", fn, (result, i), {}, name=_fx_name(v.name))

    def _constant(self, node: Node, attrs: dict, env: dict, consts: dict, opsets: dict,
                  binding: dict | None) -> None:
        out = node.outputs[0]
        a = node.attributes.get("value")
        if len(node.attributes) == 1 and a is not None and a.ref_attr_name is None \
                and a.type == AttributeType.TENSOR:
            t = a.value                       # the tensor itself: no kernel machinery, no copy
            env[out] = self._state(weight(t, self.m.mapped), out.name or "constant", trainable=False)
            value = t.numpy() if _small(t) else None
        else:
            from ..ops._evaluate import evaluate_node
            (value,) = evaluate_node(node, [], opsets, binding=binding)[:1]
            env[out] = self._state(value, out.name or "constant", trainable=False)
        if isinstance(value, np.ndarray) and value.size <= _BAKE_LIMIT:
            consts[out] = value

    def _inline(self, node: Node, fn: Any, attrs: dict, schema: Any, env: dict, consts: dict,
                opsets: dict, depth: int) -> None:
        if depth >= _MAX_DEPTH:
            raise ToTorchError(f"functions nested more than {_MAX_DEPTH} deep at node {node.name!r}")
        inner_binding = function_binding(fn, attrs, schema)
        inner_opsets = {**opsets, **normalize_opsets(fn.opset_imports)}
        fenv: dict = {}
        fconsts: dict = {}
        for formal, actual in zip(fn.graph.inputs, node.inputs):
            if actual is not None:
                fenv[formal] = env[actual]
                if actual in consts:
                    fconsts[formal] = consts[actual]
        self.convert_nodes(list(fn.graph), fenv, fconsts, inner_opsets, inner_binding, depth + 1)
        for formal, actual in zip(fn.graph.outputs, node.outputs):
            if actual.name and formal in fenv:
                env[actual] = fenv[formal]
                if formal in fconsts:
                    consts[actual] = fconsts[formal]

    # ------------------------------------------------------------ control flow
    def _subgraph(self, g: Graph, what: str) -> tuple[fx.GraphModule, list[Value]]:
        outer = free_values(g)
        sub = _GraphImport(self.m, g, outer=outer, subgraph=True, where=f"{self.where}{what} > ")
        gm = sub.build()
        return gm, outer

    def _control(self, node: Node, attrs: dict, graphs: dict, args: list, opsets: dict, hint: str,
                 env: dict) -> fx.Node:
        op, domain = node.op_type, normalize_domain(node.domain)
        opset = opsets.get(domain, 0)
        what = f"{op} {node.name!r}"
        if domain != "" or op not in ("If", "Loop", "Scan") or any(isinstance(g, list) for g in graphs.values()):
            return self._graph_fallback(node, attrs, graphs, args, opsets, what, env)
        if op == "If":
            then_gm, then_outer = self._subgraph(graphs["then_branch"], what + " then_branch")
            else_gm, else_outer = self._subgraph(graphs["else_branch"], what + " else_branch")
            outer = list(dict.fromkeys([*then_outer, *else_outer]))
            idx = {id(v): i for i, v in enumerate(outer)}
            branches = (graphs["then_branch"], graphs["else_branch"])
            traceable = _same_tensor_types(node.outputs, *[b.outputs for b in branches]) \
                and not _has_fallback(then_gm) and not _has_fallback(else_gm)
            mod = _control.IfModule(then_gm, else_gm, [idx[id(v)] for v in then_outer],
                                    [idx[id(v)] for v in else_outer], traceable)
            name = self._module(mod, "if_" + hint)
            return self.fx.call_module(name, (args[0], *[self._outer_arg(v, env) for v in outer]))
        body = graphs["body"]
        gm, outer = self._subgraph(body, what + " body")
        outer_args = [self._outer_arg(v, env) for v in outer]
        if op == "Loop":
            n_carried = len(node.inputs) - 2
            specs = [_spec(v) for v in body.outputs[1 + n_carried:]]
            carried_in, carried_out = body.inputs[2:2 + n_carried], body.outputs[1:1 + n_carried]
            traceable = not specs and _same_tensor_types(carried_in, carried_out, shapes=True) \
                and not _has_fallback(gm)
            mod = _control.LoopModule(gm, n_carried, specs, traceable)
            full = list(args) + [None] * (2 + n_carried - len(args))
            name = self._module(mod, "loop_" + hint)
            return self.fx.call_module(name, (*full, *outer_args))
        m = attrs["num_scan_inputs"]
        if opset < 9:
            n_state = len(node.inputs) - 1 - m
            specs = [_spec(v) for v in body.outputs[n_state:]]
            mod = _control.ScanModule8(gm, n_state, m, specs, attrs.get("directions"))
            full = list(args) + [None] * (1 + n_state + m - len(args))
            name = self._module(mod, "scan_" + hint)
            return self.fx.call_module(name, (*full, *outer_args))
        n_state = len(node.inputs) - m
        specs = [_spec(v) for v in body.outputs[n_state:]]
        mod = _control.ScanModule(gm, n_state, m, specs, attrs.get("scan_input_axes"),
                                  attrs.get("scan_input_directions"), attrs.get("scan_output_axes"),
                                  attrs.get("scan_output_directions"))
        name = self._module(mod, "scan_" + hint)
        return self.fx.call_module(name, (*args, *outer_args))

    def _graph_fallback(self, node: Node, attrs: dict, graphs: dict, args: list, opsets: dict, what: str,
                        env: dict) -> fx.Node:
        """A subgraph-holding op without a torch form: its numpy kernel, the
        subgraphs imported as torch modules it calls."""
        domain = normalize_domain(node.domain)
        opset = opsets.get(domain)
        reg = find_kernel(node.op_type, opset, domain) if opset is not None else None
        if reg is None or any(isinstance(g, list) for g in graphs.values()):
            raise ToTorchError(f"node {node.name!r}: {node.op_type} holds subgraphs and has neither a torch "
                               "form nor a numpy kernel")
        mods, outer, index = {}, [], {}
        for name, g in graphs.items():
            gm, g_outer = self._subgraph(g, f"{what} {name}")
            mods[name] = gm
            index[name] = []
            for v in g_outer:
                if v not in outer:
                    outer.append(v)
                index[name].append(outer.index(v))
        ctx = KernelContext(node, opsets, len(node.outputs), self.m.rng) if reg.context else None
        mod = GraphOp(node, reg.fn, ctx, attrs, mods, dict(graphs), index, len(args))
        self.m.fallbacks.append(f"{node.op_type} {node.name!r}")
        name = self._module(mod, f"numpy_{node.op_type}")
        return self.fx.call_module(name, (*args, *[self._outer_arg(v, env) for v in outer]))

    def _outer_arg(self, v: Value, env: dict) -> fx.Node:
        try:
            return self._tensor(v, env)
        except KeyError:
            raise ToTorchError(f"{self.where}a subgraph reads {v.name!r}, which no enclosing graph "
                               "defines") from None


def _same_tensor_types(*lists: list[Value], shapes: bool = False) -> bool:
    """Whether the values at each position of ``lists`` are tensors of one
    known element type and rank (and, with ``shapes``, the same dims where
    known): what torch.cond / while_loop need of branch outputs and loop-carried values."""
    if len({len(v) for v in lists}) != 1:
        return False
    for vals in zip(*lists):
        types = [v.type for v in vals]
        if not all(isinstance(t, TensorType) and t.shape is not None and is_native_type(t)
                   and t.elem_type not in (None, 0) for t in types):
            return False
        if len({t.elem_type for t in types}) != 1 or len({len(t.shape.dims) for t in types}) != 1:
            return False
        if shapes:
            for dims in zip(*[t.shape.dims for t in types]):
                known = {d for d in dims if isinstance(d, int)}
                if len(known) > 1:
                    return False
    return True


def _has_fallback(gm: torch.nn.Module) -> bool:
    """Whether a subgraph module runs a numpy kernel somewhere (not traceable)."""
    return any(isinstance(m, (NumpyOp, GraphOp)) for m in gm.modules())


def _output_dtype(node: Node, env: dict, consts: dict) -> torch.dtype | None:
    """The torch dtype of the node's first output: inferred, else that of an
    input known here (Range: all its inputs and its output share one type)."""
    t = node.outputs[0].type if node.outputs else None
    try:
        if isinstance(t, TensorType):
            return torch_dtype(t.elem_type)
    except (KeyError, ValueError, TypeError):
        pass
    for v in node.inputs:
        if v is None:
            continue
        if isinstance(env.get(v), _Sizes):
            return env[v].dtype
        if v in consts and consts[v].dtype.name in ("int32", "int64", "int16", "int8", "float32", "float64",
                                                    "float16"):
            return from_numpy(consts[v]).dtype
    return None


def _small(t: Any) -> bool:
    """Whether an IR tensor has at most ``_BAKE_LIMIT`` elements (read as numpy then)."""
    try:
        return int(np.prod(t.shape, dtype=np.int64)) <= _BAKE_LIMIT
    except (TypeError, ValueError):
        return True


def _running_statistic(v: Value) -> bool:
    """Whether ``v`` is only ever a BatchNormalization's mean or variance: a
    buffer then, as in torch's BatchNorm (an optimizer must not move it, and
    ``F.batch_norm`` refuses running statistics that require grad)."""
    uses = v.uses()
    return bool(uses) and all(n.op_type == "BatchNormalization" and normalize_domain(n.domain) == ""
                              and i in (3, 4) for n, i in uses)


def _fx_name(onnx_name: str) -> str:
    """A local-variable name for the fx node of an ONNX value (fx makes it unique)."""
    s = _IDENT.sub("_", onnx_name).strip("_") or "v"
    return ("v_" + s if s[0].isdigit() else s).lower()


def _always_tuple(n: fx.Node) -> bool:
    return n.op == "call_module"


def _spec(v: Value) -> tuple:
    """(torch dtype, dims) of a scan output, for a loop that runs zero times."""
    t = v.type
    dtype, dims = torch.float32, []
    if isinstance(t, TensorType):
        try:
            dtype = torch_dtype(t.elem_type)
        except (KeyError, ValueError, TypeError):
            pass
        if t.shape is not None:
            dims = [d if isinstance(d, int) else 0 for d in t.shape.dims]
    return dtype, dims


def _load(model_or_path: Any) -> tuple[Model, MappedFile | None]:
    """The model, and its file mapped copy-on-write when read from a path
    (its weights then become tensors over that mapping, see ``_weights``)."""
    if isinstance(model_or_path, Model):
        from ..ir import clone_model
        return clone_model(model_or_path), None
    from .._io import load
    if hasattr(model_or_path, "SerializeToString"):       # an onnx.ModelProto
        return load(model_or_path.SerializeToString()), None
    if isinstance(model_or_path, (str, os.PathLike)):
        path = os.fspath(model_or_path)
        mapped = map_copy_on_write(path)
        if mapped is not None:
            try:
                return load(mapped.view, base_dir=os.path.dirname(os.path.abspath(path))), mapped
            except Exception:
                mapped.close()          # load from the path again: its errors name the file
    if isinstance(model_or_path, (str, os.PathLike, bytes, bytearray, memoryview)) \
            or hasattr(model_or_path, "read"):
        return load(model_or_path), None
    raise TypeError(f"to_torch takes an onnxkit Model, a path, bytes or an onnx.ModelProto, "
                    f"not {type(model_or_path).__name__}")


def to_torch(model_or_path: Any, *, device: Any = None, dtype: torch.dtype | None = None,
             seed: int | None = 0) -> torch.nn.Module:
    """Import an ONNX model as a ``torch.fx.GraphModule``.

    ``forward`` takes the graph's non-initializer inputs positionally, in
    graph order (or by name, where the name is an identifier), and returns one
    tensor for a one-output graph, else a tuple in graph-output order.
    Floating-point initializers are trainable ``nn.Parameter``s, the others
    buffers; ``module.onnx_names`` maps each attribute name to its ONNX name.
    Ops without a torch rule run onnxkit's numpy kernel inside the module
    (CPU round trip; no gradient through them).  ``device`` / ``dtype``: as
    ``module.to(device, dtype)`` (dtype casts the floating-point weights).
    ``seed``: of the numpy generator of random ops without a seed of their own.
    """
    mapped = None
    with gc_paused():               # the import makes many objects and frees none: no collection pauses
        try:
            model, mapped = _load(model_or_path)
            try:
                from ..infer import infer_shapes
                infer_shapes(model)         # types tell which values torch can hold
            except Exception:               # inference is a help here, never a requirement
                pass
            m = _Model(model, seed)
            m.mapped = mapped
            gi = _GraphImport(m, model.graph)
            gm = gi.build()
        finally:
            if mapped is not None:
                mapped.close()
    g = model.graph
    gm.onnx_inputs = [v.name for v in g.inputs if v.name not in g.initializers]
    gm.onnx_outputs = [v.name for v in g.outputs]
    gm.onnx_fallbacks = list(m.fallbacks)
    if device is not None or dtype is not None:
        gm = gm.to(device=device, dtype=dtype) if dtype is not None else gm.to(device)
        if device is not None and torch.device(device).type != "cpu" and m.fallbacks:
            warnings.warn(f"{len(m.fallbacks)} node(s) have no torch form and run onnxkit's numpy kernel "
                          f"on the CPU (a round trip per call): {', '.join(m.fallbacks)}", stacklevel=2)
    return gm
