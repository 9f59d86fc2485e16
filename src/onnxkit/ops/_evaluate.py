"""Evaluate one node with the registered kernels: ``evaluate_node``.

This is the one way to compute a node outside a running model (constant
folding uses it); the runtime's plan resolves kernels the same way, once, and
converts attributes with the same :func:`kernel_attribute`.  A node whose op
has no kernel but is defined by a function (a model-local one, or the body the
ONNX spec gives) is evaluated through that function's nodes.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import RunError
from ..ir import AttributeType, Node
from ..ir._domain import normalize_domain, normalize_opsets
from ._registry import KernelContext, find_kernel

__all__ = ["evaluate_node", "function_binding", "kernel_attribute", "kernel_results", "model_functions"]

_MAX_FUNCTION_DEPTH = 64


def _decode(s: Any) -> Any:
    if isinstance(s, (bytes, bytearray)):
        try:
            return bytes(s).decode()
        except UnicodeDecodeError:
            return bytes(s)
    return s


def kernel_attribute(a) -> Any:
    """An attribute's value as kernels take it (see :mod:`onnxkit.ops._registry`):
    numpy arrays for tensors, decoded strings (bytes when not UTF-8), lists for
    the plural types.  GRAPH attributes are left as IR graphs (the runtime binds
    them to subgraph plans)."""
    t, v = a.type, a.value
    if t == AttributeType.TENSOR:
        return v.numpy()
    if t == AttributeType.TENSORS:
        return [x.numpy() for x in v]
    if t == AttributeType.STRING:
        return _decode(v)
    if t == AttributeType.STRINGS:
        return [_decode(x) for x in v]
    if t in (AttributeType.FLOATS, AttributeType.INTS, AttributeType.GRAPHS):
        return list(v)
    return v


def kernel_results(r: Any, n_out: int) -> tuple:
    """A kernel's return value as one entry per output (None for one not produced)."""
    if not isinstance(r, tuple):
        r = (r,)
    if len(r) < n_out:
        r = r + (None,) * (n_out - len(r))
    return tuple(np.asarray(x) if isinstance(x, np.generic) else x for x in r)


def model_functions(model) -> dict:
    """A model's local functions by (domain, name, overload), as ``evaluate_node``
    and the runtime's Plan take them."""
    return {(f.domain, f.name, f.overload or ""): f for f in model.functions}


def evaluate_node(node: Node, inputs: Sequence[Any], opsets: Mapping[str, int], *,
                  functions: Mapping | None = None, binding: Mapping[str, Any] | None = None,
                  rng: np.random.Generator | None = None, _depth: int = 0) -> tuple:
    """The outputs of ``node`` (a tuple, one entry per declared output) for
    ``inputs`` (numpy arrays, lists for sequences, None for absent ones).

    ``opsets``: the opset imports in force ({domain: version}; "ai.onnx" or "").
    ``functions``: model-local functions by (domain, name, overload), which
    take precedence over kernels.  ``binding``: attribute values of an
    enclosing function call, for attributes that refer to them.  Raises
    :class:`~onnxkit.errors.RunError` when the op has neither a kernel nor a
    function, or the node holds a subgraph (run those in a Session).
    """
    opsets = normalize_opsets(opsets)
    domain = normalize_domain(node.domain)
    opset = opsets.get(domain)
    inputs = list(inputs)
    while inputs and inputs[-1] is None:       # trailing absent inputs are not passed
        inputs.pop()
    attrs: dict[str, Any] = {}
    for name, a in node.attributes.items():
        if a.ref_attr_name is not None:
            if binding is None or a.ref_attr_name not in binding:
                continue                        # unbound reference: the attribute is absent
            attrs[name] = binding[a.ref_attr_name]
        elif a.type in (AttributeType.GRAPH, AttributeType.GRAPHS):
            raise RunError(f"{_what(node)}: has a subgraph; evaluate_node runs single nodes "
                           "(run the model in a Session)")
        else:
            attrs[name] = kernel_attribute(a)
    n_out = len(node.outputs)
    key = (domain, node.op_type, node.overload or "")
    if functions and key in functions:
        fn = functions[key]
        return _run_function(node, fn, inputs, attrs, opsets, functions, rng, _depth)
    reg = find_kernel(node.op_type, opset, domain) if opset is not None else None
    if reg is not None:
        if reg.context:
            r = reg.fn(KernelContext(node, opsets, n_out, rng), *inputs, **attrs)
        else:
            r = reg.fn(*inputs, **attrs)
        return kernel_results(r, n_out)
    from ..defs import get_schema
    schema = get_schema(node.op_type, opset, domain) if opset is not None else None
    body = schema.function(opset) if schema is not None else None
    if body is not None:
        return _run_function(node, body, inputs, attrs, opsets, functions, rng, _depth, schema)
    if opset is None:
        raise RunError(f"{_what(node)}: the model imports no opset for domain {domain or 'ai.onnx'!r}")
    raise RunError(f"{_what(node)}: no kernel for {domain + '::' if domain else ''}{node.op_type} at "
                   f"opset {opset}, and no function defines it")


def function_binding(fn, attrs: Mapping[str, Any], schema=None) -> dict[str, Any]:
    """The attribute values a call of function ``fn`` binds: the function's
    defaults, then the schema's defaults, then the node's own ``attrs``."""
    binding: dict[str, Any] = {d.name: kernel_attribute(d) for d in getattr(fn, "attribute_defaults", ())}
    if schema is not None:
        for name, ad in schema.attributes.items():
            if ad.default is not None and name not in binding:
                binding[name] = list(ad.default) if isinstance(ad.default, tuple) else ad.default
    binding.update(attrs)
    return binding


def _run_function(node: Node, fn, inputs: list, attrs: dict, opsets: dict, functions, rng, depth: int,
                  schema=None) -> tuple:
    if depth >= _MAX_FUNCTION_DEPTH:
        raise RunError(f"functions nested more than {_MAX_FUNCTION_DEPTH} deep at {_what(node)}: "
                       "is a function calling itself?")
    binding = function_binding(fn, attrs, schema)
    inner = {**opsets, **normalize_opsets(fn.opset_imports)}
    graph = fn.graph
    env: dict = {v: v.const_value.numpy() for v in graph.initializers.values() if v.const_value is not None}
    for v, x in zip(graph.inputs, inputs):
        env[v] = x
    for n in graph:
        args = [None if v is None else env[v] for v in n.inputs]
        for v, r in zip(n.outputs, evaluate_node(n, args, inner, functions=functions, binding=binding,
                                                 rng=rng, _depth=depth + 1)):
            env[v] = r
    out = [env.get(v) for v in graph.outputs]
    return tuple(out) + (None,) * (len(node.outputs) - len(out))


def _what(node: Node) -> str:
    return f"node {node.name!r} ({node.domain + '::' if node.domain else ''}{node.op_type})"
