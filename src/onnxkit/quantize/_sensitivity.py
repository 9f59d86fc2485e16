"""accuracy_target: leave the nodes that cost the most accuracy in float.

Each quantizable node's *sensitivity* is measured with onnxkit's runtime on
the calibration samples held back: the model quantized at that node alone
(float everywhere else), its outputs compared with the float model's (the
cosine similarity of all float outputs of a sample, averaged over the
samples).  Then the fully quantized model is measured, and while it misses
the target the most sensitive node still quantized is put back to float, one
at a time (each step measured again: errors do not simply add).  The report
says, for each node left in float, its sensitivity and what the model
measured before it was excluded.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..ir import Model

__all__ = ["meet_target", "cosine"]


def cosine(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    x = np.concatenate([np.asarray(v, np.float64).ravel() for v in a])
    y = np.concatenate([np.asarray(v, np.float64).ravel() for v in b])
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return -1.0         # inf / nan (a division by a value quantized to 0): the worst there is
    nx, ny = np.linalg.norm(x), np.linalg.norm(y)
    if nx == 0 or ny == 0:
        return 1.0 if nx == ny else 0.0
    return float(x @ y / (nx * ny))


def _float_outputs(model: Model) -> list[str]:
    from ..ir import DataType
    return [v.name for v in model.graph.outputs if v.dtype in (DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE)]


def measure(model: Model, samples: list[dict], reference: list[list[np.ndarray]], names: list[str]) -> float:
    from ..runtime import Session

    sess = Session(model)
    return float(np.mean([cosine(sess.run(names, x), ref) for x, ref in zip(samples, reference)]))


def meet_target(float_model: Model, samples: list[dict], chosen: list[str],
                target: float | None, build: Callable[[list[str]], Model]
                ) -> tuple[list[str], dict[str, str], dict[str, float], float]:
    """``(nodes to quantize, {excluded node: why}, {node: sensitivity}, final metric)``.
    Without a target only the sensitivities and the metric are measured."""
    from ..runtime import Session

    names = _float_outputs(float_model)
    ref_sess = Session(float_model)
    reference = [ref_sess.run(names, x) for x in samples]
    sens = {n: measure(build([n]), samples, reference, names) for n in chosen}
    current = list(chosen)
    metric = measure(build(current), samples, reference, names)
    why: dict[str, str] = {}
    if target is None:
        return current, why, sens, metric
    order = sorted(current, key=lambda n: sens[n])     # the worst (lowest cosine) first
    for n in order:
        if metric >= target:
            break
        before = metric
        current.remove(n)
        metric = measure(build(current), samples, reference, names) if current else 1.0
        why[n] = (f"sensitivity {sens[n]:.6f} (cosine with only this node quantized); "
                  f"model cosine {before:.6f} -> {metric:.6f} without it")
    return current, why, sens, metric
