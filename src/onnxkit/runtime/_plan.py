"""A graph turned into a list of steps, once; run many times.

A :class:`Plan` resolves every node's kernel (or the function that defines the
op: a model-local function, or the body the ONNX spec gives), converts the
attributes to the Python values kernels take, and knows after which step each
value is last read, so it can be freed.  Values are keyed by the IR
:class:`~onnxkit.ir.Value` objects themselves: a subgraph reads its outer
scope's values with no name lookups.
"""

from __future__ import annotations

import functools
import sys
import time
from typing import Any, Callable

import numpy as np

from ..errors import OnnxkitError, RunError
from ..ir import AttributeType, Graph, Node, Value, aligned
from ..ir._domain import normalize_domain, normalize_opsets
from ..ops._evaluate import function_binding, kernel_attribute, kernel_results, model_functions
from ..ops._registry import KernelContext, find_kernel
from ._fast import fast_call

__all__ = ["Plan", "describe_value", "model_functions"]

_MAX_FUNCTION_DEPTH = 64


class _GraphAttr:
    """A GRAPH attribute at plan time: the subgraph's plan, bound to the run's
    values when the node runs."""

    __slots__ = ("plan",)

    def __init__(self, plan: Plan) -> None:
        self.plan = plan


class BoundGraph:
    """A subgraph as a kernel sees it: ``g(*inputs) -> list of outputs``."""

    __slots__ = ("plan", "env")

    def __init__(self, plan: Plan, env: dict) -> None:
        self.plan = plan
        self.env = env

    @property
    def graph(self) -> Graph:
        return self.plan.graph

    def __call__(self, *inputs: Any) -> list:
        return self.plan.run_subgraph(self.env, inputs)


class _Step:
    __slots__ = ("index", "node", "fn", "context", "attrs", "graph_attrs", "inputs", "outputs", "free",
                 "function", "call", "inplace", "swap")

    def __init__(self, index: int, node: Node) -> None:
        self.index = index
        self.node = node
        self.fn: Callable | None = None
        self.context = False
        self.attrs: dict[str, Any] = {}
        self.graph_attrs: list[str] = []
        self.inputs: list[Value | None] = list(node.inputs)
        while self.inputs and self.inputs[-1] is None:   # trailing absent inputs are not passed
            self.inputs.pop()
        self.outputs: list[Value] = list(node.outputs)
        self.free: list[Value] = []
        self.function: Plan | None = None
        # the fast path (see Plan._prepare): call(*inputs) for plain kernels, and
        # inplace(a, ...) writing into a dying first input (second when ``swap``)
        self.call: Callable | None = None
        self.inplace: Callable | None = None
        self.swap = False


class Plan:
    """The steps of one graph (or function body) under given opsets."""

    def __init__(self, graph: Graph, opsets: dict[str, int], functions: dict | None = None, *,
                 rng: np.random.Generator | None = None, keep: bool = False,
                 attr_binding: dict[str, Any] | None = None, depth: int = 0,
                 where: str = "") -> None:
        self.graph = graph
        self.opsets = opsets
        self.functions = functions or {}
        self.rng = rng if rng is not None else np.random.default_rng()
        self.depth = depth
        self.binding = attr_binding  # attribute values of the enclosing function call, if any
        self.where = where          # "" for the main graph, else e.g. "If node 'n' then_branch"
        self.steps: list[_Step] = []
        produced: set[int] = {id(v) for v in graph.inputs}
        self.constants: dict[Value, Any] = {}
        for v in graph.initializers.values():
            if v.const_value is not None:
                a = v.const_value.numpy()
                if isinstance(a, np.ndarray):
                    # raw_data in a mapped file lies at any byte offset; numpy copies an
                    # unaligned operand on every call (a whole embedding table per Gather)
                    # and BLAS refuses it: copy it once here instead
                    a = aligned(a)
                self.constants[v] = a
            produced.add(id(v))
        for i, node in enumerate(graph):
            step = _Step(i, node)
            self._resolve(step, attr_binding)
            self.steps.append(step)
            produced.update(id(v) for v in node.outputs)
        # values read from enclosing scopes (free variables of this graph and its subgraphs)
        self.outer: list[Value] = []
        seen: set[int] = set()
        reads = [v for step in self.steps for v in self._reads(step)]
        reads += [v for v in graph.outputs if v.name]     # an output may be an outer value itself
        for v in reads:
            if id(v) not in produced and id(v) not in seen:
                seen.add(id(v))
                self.outer.append(v)
        if not keep:
            self._plan_frees()
        self._prepare()
        self.constant_ids = {id(a) for a in self.constants.values()}

    # ------------------------------------------------------------ planning
    def _resolve(self, step: _Step, binding: dict[str, Any] | None) -> None:
        node = step.node
        domain = normalize_domain(node.domain)
        opset = self.opsets.get(domain)
        for name, a in node.attributes.items():
            if a.ref_attr_name is not None:
                if binding is None or a.ref_attr_name not in binding:
                    continue        # unbound reference: the attribute is absent
                value = binding[a.ref_attr_name]
            else:
                value = self._attr_value(node, a)
            step.attrs[name] = value
            if isinstance(value, _GraphAttr) or (isinstance(value, list) and value
                                                 and isinstance(value[0], _GraphAttr)):
                step.graph_attrs.append(name)
        key = (domain, node.op_type, node.overload or "")
        if key in self.functions:       # a model-local function takes precedence
            step.function = self._function_plan(node, self.functions[key], step.attrs)
            return
        reg = find_kernel(node.op_type, opset, domain) if opset is not None else None
        if reg is not None:
            step.fn, step.context = reg.fn, reg.context
            return
        from ..defs import get_schema
        schema = get_schema(node.op_type, opset, domain) if opset is not None else None
        body = schema.function(opset) if schema is not None else None
        if body is not None:
            step.function = self._function_plan(node, body, step.attrs, schema=schema)
            return
        if opset is None:
            raise RunError(f"{self._where(step)}: the model imports no opset for domain "
                           f"{domain or 'ai.onnx'!r}")
        raise RunError(f"{self._where(step)}: no kernel for {domain + '::' if domain else ''}"
                       f"{node.op_type} at opset {opset}, and no function defines it")

    def _attr_value(self, node: Node, a) -> Any:
        t, v = a.type, a.value
        if t == AttributeType.GRAPH:
            return _GraphAttr(self._subplan(v, node, a.name))
        if t == AttributeType.GRAPHS:
            return [_GraphAttr(self._subplan(g, node, a.name)) for g in v]
        return kernel_attribute(a)

    def _subplan(self, g: Graph, node: Node, attr: str) -> Plan:
        return Plan(g, self.opsets, self.functions, rng=self.rng, depth=self.depth,
                    attr_binding=self.binding, where=f"{self.where + ' > ' if self.where else ''}{node.op_type} node "
                          f"{node.name!r} {attr}")

    def _function_plan(self, node: Node, fn, attrs: dict[str, Any], schema=None) -> Plan:
        if self.depth >= _MAX_FUNCTION_DEPTH:
            raise RunError(f"functions nested more than {_MAX_FUNCTION_DEPTH} deep at node "
                           f"{node.name!r} ({node.op_type}): is a function calling itself?")
        binding = function_binding(fn, attrs, schema)
        opsets = dict(self.opsets)
        opsets.update(normalize_opsets(fn.opset_imports))
        return Plan(fn.graph, opsets, self.functions, rng=self.rng, attr_binding=binding,
                    depth=self.depth + 1, where=f"{self.where + ' > ' if self.where else ''}function "
                                                 f"{fn.domain}.{fn.name} (node {node.name!r})")

    @staticmethod
    def _reads(step: _Step) -> list[Value]:
        """What a step reads: its inputs and the outer values its subgraphs read."""
        reads = [v for v in step.inputs if v is not None]
        for name in step.graph_attrs:
            a = step.attrs[name]
            reads.extend(a.plan.outer if isinstance(a, _GraphAttr) else [v for p in a for v in p.plan.outer])
        return reads

    def _plan_frees(self) -> None:
        last: dict[int, tuple[int, Value]] = {}
        for step in self.steps:
            for v in self._reads(step):
                last[id(v)] = (step.index, v)
        keep = {id(v) for v in self.graph.outputs}
        local = {id(v) for s in self.steps for v in s.outputs} | {id(v) for v in self.graph.inputs}
        for key, (i, v) in last.items():
            if key not in keep and key in local:
                self.steps[i].free.append(v)

    def _prepare(self) -> None:
        """Everything the fast path needs that does not change between runs:
        a plain callable per kernel step (attributes and context bound), the
        direct ufunc form of hot element-wise ops, and whether an input dies
        here and may be overwritten (a value this graph computes, read by no
        later step)."""
        local = {id(v) for s in self.steps for v in s.outputs}
        outputs = {id(v) for v in self.graph.outputs}
        for st in self.steps:
            if st.function is not None or st.graph_attrs or st.fn is None:
                continue
            fn, attrs = st.fn, st.attrs
            if st.context:
                ctx = KernelContext(st.node, self.opsets, len(st.outputs), self.rng)
                st.call = functools.partial(fn, ctx, **attrs)
                continue
            fast = None
            if not attrs:
                domain = normalize_domain(st.node.domain)
                fast = fast_call(st.node.op_type, fn, len(st.inputs), self.opsets.get(domain, 0), domain)
            if fast is None:
                st.call = functools.partial(fn, **attrs) if attrs else fn
                continue
            st.call, inplace, commutative = fast
            if len(st.outputs) != 1 or any(v is None for v in st.inputs):
                continue
            dying = [id(v) in local and id(v) not in outputs and any(v is f for f in st.free)
                     and st.inputs.count(v) == 1 for v in st.inputs]
            if dying[0]:
                st.inplace = inplace
            elif commutative and len(dying) > 1 and dying[1]:
                st.inplace, st.swap = inplace, True

    # ------------------------------------------------------------ running
    def _where(self, step: _Step) -> str:
        n = step.node
        s = f"node {step.index} {n.name!r} ({n.domain + '::' if n.domain else ''}{n.op_type})"
        return f"{self.where} > {s}" if self.where else s

    def run(self, env: dict, *, keep_all: bool = False, profile: list | None = None,
            on_node: Callable | None = None) -> dict:
        """Run every step over ``env`` ({Value: value}, holding the inputs and
        outer-scope values); returns ``env`` with the outputs added."""
        for v, a in self.constants.items():
            if v not in env:
                env[v] = a
        if not keep_all and profile is None and on_node is None:
            return self._run_fast(env)
        for step in self.steps:
            args = []
            for v in step.inputs:
                if v is None:
                    args.append(None)
                else:
                    try:
                        args.append(env[v])
                    except KeyError:
                        raise self._no_value(step, v) from None
            t0 = time.perf_counter() if profile is not None else 0.0
            results = self._call(step, args, env)
            if profile is not None:
                profile.append((step, time.perf_counter() - t0, results))
            for v, r in zip(step.outputs, results):
                env[v] = r
            if on_node is not None:
                on_node(step.node, args, results)
            if not keep_all:
                for v in step.free:
                    env.pop(v, None)
        return env

    def _run_fast(self, env: dict) -> dict:
        """``run`` without profiling or hooks: one call per step, values freed
        after their last read, dying float buffers overwritten in place."""
        env[None] = None                    # absent optional inputs read as None
        getrefcount = sys.getrefcount
        st = None
        try:
            with np.errstate(all="ignore"):
                for st in self.steps:
                    call = st.call
                    if call is None:        # a function, a subgraph-holding op: the general path
                        results = self._call(st, [env[v] for v in st.inputs], env)
                        for v, r in zip(st.outputs, results):
                            env[v] = r
                    else:
                        r = None
                        if st.inplace is not None:
                            ins = st.inputs
                            a = env[ins[1] if st.swap else ins[0]]
                            # refs: env, ``a``, getrefcount's argument: nothing else holds it
                            if type(a) is np.ndarray and a.base is None and getrefcount(a) == 3 \
                                    and a.flags.writeable:
                                if len(ins) == 1:
                                    r = st.inplace(a)
                                else:
                                    r = st.inplace(a, env[ins[0] if st.swap else ins[1]])
                            a = None
                        if r is None:
                            r = call(*[env[v] for v in st.inputs])
                        outs = st.outputs
                        if len(outs) == 1:
                            if type(r) is tuple:
                                r = r[0]
                            if isinstance(r, np.generic):
                                r = np.asarray(r)
                            env[outs[0]] = r
                        else:
                            for v, x in zip(outs, self._normalize(r, len(outs))):
                                env[v] = x
                    for v in st.free:
                        env.pop(v, None)
        except RunError:
            raise
        except Exception as e:
            if st is None:
                raise
            for v in st.inputs:
                if v is not None and v not in env:
                    raise self._no_value(st, v) from None
            raise self._failed(st, e, [env.get(v) for v in st.inputs]) from e
        finally:
            env.pop(None, None)
        return env

    def _no_value(self, step: _Step, v: Value) -> RunError:
        return RunError(f"{self._where(step)}: input {v.name!r} has no value "
                        "(not a graph input, initializer or earlier output)")

    def _failed(self, step: _Step, e: Exception, args: list) -> RunError:
        what = str(e) if isinstance(e, OnnxkitError) else f"{type(e).__name__}: {e}"
        return RunError(f"{self._where(step)} failed: {what}\n  inputs: {_describe_args(args)}")

    _normalize = staticmethod(kernel_results)

    def _call(self, step: _Step, args: list, env: dict) -> tuple:
        n_out = len(step.outputs)
        try:
            if step.function is not None:
                return tuple(step.function.run_subgraph(env, args))
            attrs = step.attrs
            if step.graph_attrs:
                attrs = dict(attrs)
                for name in step.graph_attrs:
                    a = attrs[name]
                    attrs[name] = BoundGraph(a.plan, env) if isinstance(a, _GraphAttr) \
                        else [BoundGraph(x.plan, env) for x in a]
            if step.context:
                ctx = KernelContext(step.node, self.opsets, n_out, self.rng)
                r = step.fn(ctx, *args, **attrs)
            else:
                r = step.fn(*args, **attrs)
        except RunError:
            raise               # from a nested plan: it already names the node, path included
        except Exception as e:  # a kernel's failure: say which node and on what
            raise self._failed(step, e, args) from e
        return self._normalize(r, n_out)

    def run_subgraph(self, outer_env: dict, inputs) -> list:
        """Run as a subgraph / function body: bind the formal inputs, read outer
        values from ``outer_env``, return the outputs in order."""
        env: dict = {}
        for v in self.outer:
            if v in outer_env:
                env[v] = outer_env[v]
        formals = self.graph.inputs
        if len(inputs) > len(formals):
            raise RunError(f"{self.where or 'subgraph'}: given {len(inputs)} inputs, the graph has "
                           f"{len(formals)}")
        for v, x in zip(formals, inputs):
            env[v] = x
        self.run(env)
        out = []
        for v in self.graph.outputs:
            if v in env:
                out.append(env[v])
            elif not v.name:
                out.append(None)
            else:
                raise RunError(f"{self.where or 'subgraph'}: output {v.name!r} was not computed")
        return out


def describe_value(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"{x.dtype}{list(x.shape)}"
    if x is None:
        return "None"
    if isinstance(x, list):
        return f"sequence[{len(x)}]" + (f" of {describe_value(x[0])}" if x else "")
    if isinstance(x, dict):
        return f"map[{len(x)}]"
    return type(x).__name__


def _describe_args(args: list) -> str:
    return ", ".join(describe_value(a) for a in args) or "(none)"
