"""Training operators of ai.onnx.preview.training: the optimizers Adagrad,
Adam and Momentum (each updating n tensors at once: inputs R, T, then n of
each per-tensor input; outputs grouped the same way), and Gradient.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import RunError
from ._registry import kernel, shape

__all__: list[str] = []

_DOMAIN = "ai.onnx.preview.training"


def _groups(data: tuple, k: int, op: str) -> tuple[int, list[tuple]]:
    """Split ``X1..Xn, G1..Gn, ...`` (k groups) into n tuples of k."""
    if len(data) % k:
        raise RunError(f"{op}: {len(data)} tensor inputs do not split into {k} groups")
    n = len(data) // k
    return n, [tuple(data[j * n + i] for j in range(k)) for i in range(n)]


def _optimize(op: str, k: int, data: tuple, step: Callable) -> tuple:
    n, groups = _groups(data, k, op)
    results = [step(*g) for g in groups]
    outs = []
    for j in range(len(results[0]) if results else 0):
        outs.extend(np.asarray(r[j]).astype(groups[i][j if j == 0 else j + 1].dtype, copy=False)
                    for i, r in enumerate(results))
    return tuple(outs)


@kernel("Adagrad", 1, domain=_DOMAIN)
def adagrad(r, t, *data, decay_factor=0.0, epsilon=1e-6, norm_coefficient=0.0):
    rate = float(r) / (1 + float(t) * decay_factor)

    def step(x, g, h):
        g = norm_coefficient * x + g
        h = h + g * g
        return x - rate * g / (np.sqrt(h) + epsilon), h
    return _optimize("Adagrad", 3, data, step)


@kernel("Adam", 1, domain=_DOMAIN)
def adam(r, t, *data, alpha=0.9, beta=0.999, epsilon=1e-6, norm_coefficient=0.0,
         norm_coefficient_post=0.0):
    t = float(t)
    rate = float(r) * np.sqrt(1 - beta ** t) / (1 - alpha ** t) if t > 0 else float(r)

    def step(x, g, v, h):
        g = norm_coefficient * x + g
        v = alpha * v + (1 - alpha) * g
        h = beta * h + (1 - beta) * g * g
        x = x - rate * v / (np.sqrt(h) + epsilon)
        return (1 - norm_coefficient_post) * x, v, h
    return _optimize("Adam", 4, data, step)


@kernel("Momentum", 1, domain=_DOMAIN)
def momentum(r, t, *data, alpha, beta, mode, norm_coefficient):
    rate = float(r)
    b = beta if float(t) > 0 else 1.0
    if mode not in ("standard", "nesterov"):
        raise RunError(f"Momentum: mode must be 'standard' or 'nesterov', got {mode!r}")

    def step(x, g, v):
        g = norm_coefficient * x + g
        v = alpha * v + b * g
        return (x - rate * v if mode == "standard" else x - rate * (g + alpha * v)), v
    return _optimize("Momentum", 3, data, step)


# ------------------------------------------------------------------- Gradient
def _unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``g`` over the dims broadcasting added to an operand of ``shape``."""
    g = g.sum(axis=tuple(range(g.ndim - len(shape)))) if g.ndim > len(shape) else g
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


# op -> (input values, output value, output gradient) -> input gradients
_VJP: dict[str, Callable] = {
    "Identity": lambda a, y, g: [g],
    "Neg": lambda a, y, g: [-g],
    "Add": lambda a, y, g: [g, g],
    "Sub": lambda a, y, g: [g, -g],
    "Mul": lambda a, y, g: [g * a[1], g * a[0]],
    "Div": lambda a, y, g: [g / a[1], -g * a[0] / (a[1] * a[1])],
    "Sum": lambda a, y, g: [g] * len(a),
    "MatMul": lambda a, y, g: [g @ np.swapaxes(a[1], -1, -2), np.swapaxes(a[0], -1, -2) @ g],
    "Relu": lambda a, y, g: [g * (a[0] > 0)],
    "Sigmoid": lambda a, y, g: [g * y * (1 - y)],
    "Tanh": lambda a, y, g: [g * (1 - y * y)],
    "Exp": lambda a, y, g: [g * y],
    "Log": lambda a, y, g: [g / a[0]],
    "Sqrt": lambda a, y, g: [g / (2 * y)],
}
_FORWARD = set(_VJP) | {"Constant"}


@kernel("Gradient", 1, domain=_DOMAIN, context=True)
def gradient(ctx, *inputs, xs, y, zs=None):
    """d y / d xs by reverse-mode differentiation of the nodes computing ``y``
    (elementwise arithmetic, MatMul and common activations)."""
    from ._registry import find_kernel
    graph = ctx.node.graph
    names = list(xs) + list(zs or [])
    env = {n: v for n, v in zip(names, inputs)}
    env.update({n: v.const_value.numpy() for n, v in graph.initializers.items() if v.const_value is not None})
    tape = []
    for node in graph:
        if node is ctx.node or any(o.name in names for o in node.outputs):
            continue
        if not all(v is None or v.name in env for v in node.inputs) or node.op_type not in _FORWARD:
            continue
        reg = find_kernel(node.op_type, ctx.opsets.get(node.domain or "", 0), node.domain or "")
        if reg is None or reg.context:
            continue
        args = [env[v.name] for v in node.inputs if v is not None]
        attrs = {k: a.value.numpy() if hasattr(a.value, "numpy") else a.value for k, a in node.attributes.items()}
        out = reg.fn(*args, **attrs)
        env[node.outputs[0].name] = np.asarray(out)
        tape.append((node, args, np.asarray(out)))
    if y not in env:
        raise RunError(f"Gradient: {y!r} is not computed from {names} by differentiable ops "
                       f"({', '.join(sorted(_VJP))})")
    grads = {y: np.ones_like(env[y])}
    for node, args, out in reversed(tape):
        g = grads.get(node.outputs[0].name)
        if g is None or node.op_type == "Constant":
            continue
        for v, a, d in zip(node.inputs, args, _VJP[node.op_type](args, out, g)):
            d = _unbroadcast(np.asarray(d), np.shape(a)).astype(np.asarray(a).dtype, copy=False)
            grads[v.name] = grads[v.name] + d if v.name in grads else d
    return tuple(grads.get(n, np.zeros_like(x)) for n, x in zip(xs, inputs))


# ------------------------------------------------------------------- shape rules
def _optimizer_shape(k: int):
    """Outputs grouped like the per-tensor inputs but without the gradients:
    output group j has the types of input group j (j = 0) or j + 1."""
    def rule(ctx) -> None:
        n = (ctx.n_inputs - 2) // k
        for j in range(ctx.n_outputs // max(n, 1)):
            src = 0 if j == 0 else j + 1
            for i in range(n):
                ctx.set_output_type(j * n + i, ctx.input_type(2 + src * n + i))
    return rule


shape("Adagrad", 1, domain=_DOMAIN)(_optimizer_shape(3))
shape("Momentum", 1, domain=_DOMAIN)(_optimizer_shape(3))
shape("Adam", 1, domain=_DOMAIN)(_optimizer_shape(4))


@shape("Gradient", 1, domain=_DOMAIN)
def gradient_shape(ctx) -> None:
    for i in range(min(ctx.n_outputs, len(ctx.attr("xs") or []))):
        ctx.set_output_type(i, ctx.input_type(i))
