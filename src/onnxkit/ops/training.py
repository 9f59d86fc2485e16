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
