"""accuracy_target: leave the nodes that cost the most accuracy in float (or,
for weight-only, at 8 bits).

Each candidate node's *sensitivity* is measured with onnxkit's runtime on
the samples held back: the model quantized at that node alone (float
everywhere else), its outputs compared with the float model's (the cosine
similarity of all float outputs of a sample, averaged over the samples).
Then the fully quantized model is measured, and while it misses the target
the most sensitive nodes still quantized are given back: each step the
fewest whose losses (1 - sensitivity) add up to what is missing, then the
model is measured again (errors add only roughly; one node when one covers
the gap, so a step never overshoots by more than its last node).  The
report says, for each node given back, its sensitivity and what the model
measured before and after its step.

Measuring a node alone does not run the whole model.  The float model is run
once per sample, keeping every value it computes; a model quantized at one
node computes the same values as float everywhere upstream of that node (and
beside it), so only its *changed part* is run: the nodes that are new or read
a changed value, fed the float values at its boundary (:func:`changed_part`).
Its results are those of running the whole model (the same kernels on the
same arrays), for a fraction of the work: the nodes downstream of the one
quantized, once per sample (half the model on average for a chain of
layers; measured about 2x faster than a session per node on a ResNet-50).
The parts run unoptimized: they all stay alive while the samples pass, and
the runtime optimizer would give each its own copy of the weights it lays
out anew (NHWC convolutions).  Memory: one sample's float values, the parts
(sharing the float weights) and each one's quantized node.
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from ..ir import Model
from ..ir._core import _node_reads

__all__ = ["meet_target", "cosine", "Measure", "changed_part"]


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


def _key(node) -> tuple:
    return tuple(v.name for v in node.outputs)


def _signature(node) -> tuple:
    return (node.domain, node.op_type, tuple(v.name if v is not None else "" for v in node.inputs))


def changed_part(model: Model, float_nodes: dict[tuple, tuple]) -> tuple[list[str], list[str]]:
    """Cut ``model`` (a quantized copy, changed in place) down to the nodes
    that compute something the float model does not: a node is unchanged
    when the float model has a node with the same outputs, op and input
    names, and none of the values it reads is changed.  ``float_nodes``:
    ``{output names: (domain, op, input names)}`` of the float model.

    Returns ``(inputs, outputs)``: the names of the values the part reads
    from the float model (now its graph inputs) and of the graph outputs it
    computes (the others are float's)."""
    g = model.graph
    changed: set[int] = set()
    kept = set()
    for n in g:         # in order: a node's inputs are settled before it
        if float_nodes.get(_key(n)) == _signature(n) and not any(id(v) in changed for v in _node_reads(n)):
            continue
        kept.add(id(n))
        changed.update(id(v) for v in n.outputs)
    for n in reversed(list(g)):
        if id(n) not in kept:
            g.remove(n, safe=False)
    boundary = {}
    for n in g:
        for v in _node_reads(n):
            if id(v) not in changed and not v.is_initializer():
                boundary.setdefault(id(v), v)
    g.inputs = list(boundary.values())
    g.outputs = [v for v in g.outputs if id(v) in changed]
    for name, v in list(g.initializers.items()):
        if not v.uses():
            del g.initializers[name]
    return [v.name for v in g.inputs], [v.name for v in g.outputs]


class Measure:
    """The cosine to float of models that differ from ``float_model`` in a few
    nodes, on the samples held."""

    def __init__(self, float_model: Model, samples: list[dict]) -> None:
        from ..runtime import Session

        self.float_model = float_model
        self.samples = samples
        self.names = _float_outputs(float_model)
        self.session = Session(float_model, optimize="none")
        self.reference = [self.session.run(self.names, x) for x in samples]
        self.float_nodes = {_key(n): _signature(n) for n in float_model.graph}

    def whole(self, model: Model) -> float:
        """The mean cosine of ``model`` run whole."""
        from ..runtime import Session

        sess = Session(model, optimize="none")
        return float(np.mean([cosine(sess.run(self.names, x), ref) for x, ref in zip(self.samples, self.reference)]))

    def singles(self, models: Iterable[tuple[str, Model]]) -> dict[str, float]:
        """``{name: mean cosine}`` of each model given (each a copy of the float
        model with a few nodes changed; cut down in place): the float model is
        run once per sample, each model's changed part on its values."""
        from ..runtime import Session

        parts = []
        for name, m in models:
            ins, outs = changed_part(m, self.float_nodes)
            parts.append((name, Session(m, optimize="none") if outs else None, ins, outs))
        scores: dict[str, list[float]] = {name: [] for name, *_ in parts}
        for x, ref in zip(self.samples, self.reference):
            values = self.session.run_intermediate(x)
            for name, sess, ins, outs in parts:
                got = dict(zip(outs, sess.run(outs, {k: values[k] for k in ins}))) if sess is not None else {}
                scores[name].append(cosine([got[o] if o in got else values[o] for o in self.names], ref))
            del values
        return {name: float(np.mean(s)) for name, s in scores.items()}


def meet_target(float_model: Model, samples: list[dict], chosen: list[str],
                target: float | None, build: Callable[[list[str]], Model], *,
                single: Callable[[str], Model] | None = None, given_back: str = "without it",
                alone: str = "with only this node quantized"
                ) -> tuple[list[str], dict[str, str], dict[str, float], float]:
    """``(nodes to quantize, {node given back: why}, {node: sensitivity}, final metric)``.
    ``build(nodes)``: the model with ``nodes`` quantized; ``single(node)``:
    the model for a node's sensitivity (default ``build([node])``);
    ``alone`` and ``given_back`` word the reasons.  Without a target only the
    sensitivities and the metric are measured."""
    single = single or (lambda n: build([n]))
    m = Measure(float_model, samples)
    sens = m.singles((n, single(n)) for n in chosen)
    current = list(chosen)
    metric = m.whole(build(current))
    why: dict[str, str] = {}
    if target is None:
        return current, why, sens, metric
    order = sorted(current, key=lambda n: sens[n])     # the worst (lowest cosine) first
    while metric < target and order:
        # small independent errors add (1 - cosine is about their energy): give back the fewest most
        # sensitive nodes whose losses alone cover what is missing, then measure again
        k, lost = 0, 0.0
        while k < len(order) and (k == 0 or lost < target - metric):
            lost += 1.0 - sens[order[k]]
            k += 1
        step, order = order[:k], order[k:]
        before = metric
        for n in step:
            current.remove(n)
        metric = m.whole(build(current))
        others = f" (given back with {k - 1} more)" if k > 1 else ""
        for n in step:
            why[n] = (f"sensitivity {sens[n]:.6f} (cosine {alone}); "
                      f"model cosine {before:.6f} -> {metric:.6f} {given_back}{others}")
    return current, why, sens, metric


def generated_samples(model: Model, count: int = 4, seed: int = 0) -> list[dict]:
    """Feeds made up from the model's inputs, for measuring without calibration
    data: float inputs standard normal; integer inputs that index a constant
    table (token ids into an embedding) uniform over its rows, other integer
    inputs (attention masks) ones; a symbolic dimension is 1 on the first
    axis and 16 elsewhere, the same for every input that names it (batch and
    sequence agree).  Raises :class:`QuantizeError` when the model does not
    run on them."""
    from ..errors import OnnxkitError, QuantizeError
    from ..ir import DataType, TensorType
    from ..runtime import Session

    g = model.graph
    rng = np.random.default_rng(seed)
    sizes: dict[str, int] = {}
    specs = []
    for v in g.inputs:
        if v.name in g.initializers:
            continue
        t = v.type
        if not isinstance(t, TensorType) or t.shape is None or t.elem_type in (None, DataType.UNDEFINED):
            raise QuantizeError(f"input {v.name!r} has no tensor type and shape: give calibration data")
        dims = []
        for k, d in enumerate(t.shape.dims):
            if isinstance(d, int):
                dims.append(d)
            else:
                name = str(d) if d is not None and str(d) else f"?{v.name}:{k}"
                dims.append(sizes.setdefault(name, 1 if k == 0 else 16))
        rows = None
        for node in v.consumers():
            if node.op_type == "Gather" and len(node.inputs) == 2 and node.inputs[1] is v:
                table = node.inputs[0].const_value
                rows = table.shape[0] if table is not None and len(table.shape) else rows
        specs.append((v.name, t.elem_type.numpy_dtype, tuple(dims), rows))
    samples = []
    for _ in range(count):
        feeds = {}
        for name, dtype, dims, rows in specs:
            if np.dtype(dtype).kind == "f":
                feeds[name] = rng.standard_normal(dims).astype(dtype)
            elif rows is not None:
                feeds[name] = rng.integers(0, rows, dims).astype(dtype)
            else:
                feeds[name] = np.ones(dims, dtype)
        samples.append(feeds)
    try:
        Session(model, optimize="none").run(None, samples[0])
    except OnnxkitError as e:
        raise QuantizeError(f"accuracy_target without calibration data: the model does not run on feeds made "
                            f"up from its inputs ({e}); give calibration samples") from e
    return samples
