"""int8 / int4 quantization: ``onnxkit.quantize(model, mode=...)``.

Three modes, each producing standard ONNX that onnxruntime and onnxkit run:

* ``"dynamic"`` (:mod:`._dynamic`): int8 weights, activations quantized at
  run time (DynamicQuantizeLinear + MatMulInteger / ConvInteger, the form
  onnxruntime fuses into one kernel).  No calibration data.
* ``"weight-only"`` (:mod:`._weight_only`): int4/int8 block-quantized MatMul
  (and embedding) weights read through DequantizeLinear-21, for decoder LLMs.
* ``"static"`` (:mod:`._static`): QuantizeLinear/DequantizeLinear pairs
  around the ops onnxruntime has int8 kernels for, with activation ranges from
  calibration data streamed through onnxkit's runtime into fixed-size
  histograms (:mod:`._calibrate`); with ``accuracy_target`` the nodes that
  cost the most accuracy are left in float (:mod:`._sensitivity`); for
  weight-only, the most damaging 4-bit weights are raised to 8 bits.

The model given is not changed: the result is a copy (sharing the float
weights it keeps).
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from ..errors import QuantizeError
from ..ir import Model, clone_model

__all__ = ["quantize", "QuantizeReport", "MODES"]

MODES = ("dynamic", "static", "weight-only")
METHODS = ("minmax", "percentile", "entropy")
#: calibration samples weight-only's accuracy_target measures on (each a run of an LLM)
HOLD_WEIGHT_ONLY = 8


@dataclass
class NodeReport:
    """One quantized (or excluded) node: its sensitivity (the metric of the
    model's outputs against float with only this node quantized), the scale of
    its output, the fraction of calibration values clipped by that range, and
    why it was excluded (empty when it is quantized)."""
    name: str
    op_type: str
    sensitivity: float | None = None
    scale: float | None = None
    clipped: float | None = None
    excluded: str = ""
    bits: int | None = None         # weight-only: the bits its weight is stored at


@dataclass
class QuantizeReport:
    """What :func:`quantize` did (``model.quantize_report`` is not set: ask for
    it with ``report=True``)."""
    mode: str
    quantized: list[str] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)     # node name -> why
    raised: dict[str, str] = field(default_factory=dict)       # weight-only: node raised to 8 bits -> why
    nodes: list[NodeReport] = field(default_factory=list)
    metric: float | None = None                                 # the final model's, on the held samples
    samples: int = 0

    def table(self) -> str:
        """The per-node table the command line prints with ``--report``."""
        rows = [("node", "op", "sensitivity", "scale", "clipped", "status")]
        for n in self.nodes:
            rows.append((n.name, n.op_type, "" if n.sensitivity is None else f"{n.sensitivity:.6f}",
                         "" if n.scale is None else f"{n.scale:.4g}",
                         "" if n.clipped is None else f"{100 * n.clipped:.3f}%",
                         _status(n)))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        if self.metric is not None:
            lines.append(f"output cosine to float: {self.metric:.6f} on {self.samples} samples")
        return "\n".join(lines)


def _status(n: NodeReport) -> str:
    if n.bits is not None:      # weight-only
        return f"{n.bits} bits" + (f": {n.excluded}" if n.excluded else "")
    return f"float: {n.excluded}" if n.excluded else "int8"


def quantize(model: Any, *, mode: str = "dynamic", calibration: Iterable[dict] | None = None,
             per_channel: bool = True, weight_type: str | None = None, activation_type: str = "uint8",
             bits: int = 8, block_size: int | None = None, exclude: Iterable[str] = (),
             accuracy_target: float | None = None, method: str = "minmax", percentile: float = 99.999,
             report: bool = False):
    """The quantized model (a copy; ``model`` may also be a path).

    ``mode``: ``"dynamic"``, ``"static"`` (needs ``calibration``) or
    ``"weight-only"``.  ``calibration``: any iterable of feed dicts (input name
    -> array), read once.  ``per_channel``: one weight scale per output channel.
    ``weight_type``: ``"int8"`` (symmetric, the default of dynamic and
    static) or, for weight-only, ``"uint8"`` (asymmetric: a zero point per
    block, fitted by least squares; its default, measurably closer to float
    at 4 bits than symmetric int4); ``activation_type`` ``"uint8"`` or ``"int8"``
    (static).  ``bits`` 8 or 4 and ``block_size`` (default 32) for
    weight-only.  ``exclude``: node names to leave in float.  ``method``:
    calibration ``"minmax"``, ``"percentile"`` (``percentile`` of |x|) or
    ``"entropy"``.  ``accuracy_target``: the least cosine similarity of the
    outputs to float's on the calibration samples held (the first 16); the
    most sensitive nodes are left in float until it is met (static).  For
    weight-only at 4 bits the most sensitive weights are raised to 8 bits
    instead, measured on the first 8 calibration samples or, without
    calibration, on 4 feeds made up from the model's inputs (random token ids,
    masks of ones; see :func:`._sensitivity.generated_samples`).  With
    ``report=True`` returns ``(model, QuantizeReport)``.
    """
    if not isinstance(model, Model):
        from .._io import load
        model = load(model)
    else:
        model = clone_model(model)
    if mode not in MODES:
        raise QuantizeError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    if weight_type is None:
        weight_type = "uint8" if mode == "weight-only" else "int8"
    if weight_type not in ("int8", "uint8") or (weight_type == "uint8" and mode != "weight-only"):
        raise QuantizeError(f"weight_type {weight_type!r}: choose 'int8' (or 'uint8' for mode='weight-only')")
    if activation_type not in ("int8", "uint8"):
        raise QuantizeError(f"activation_type {activation_type!r}: choose 'uint8' or 'int8'")
    if method not in METHODS:
        raise QuantizeError(f"unknown calibration method {method!r}; choose from {', '.join(METHODS)}")
    if model.opset is None or model.opset < 10:
        raise QuantizeError(f"the model's ai.onnx opset is {model.opset}; quantization needs 10 or newer "
                            f"(convert it with onnxkit.convert_version first)")
    if accuracy_target is not None and mode == "dynamic":
        raise QuantizeError("accuracy_target needs mode='static' (with calibration data) or 'weight-only'")
    excl = frozenset([exclude] if isinstance(exclude, str) else exclude)
    unknown = sorted(excl - {n.name for n in model.graph})
    if unknown:
        raise QuantizeError(f"exclude names no node of the model's main graph: {', '.join(map(repr, unknown))}")
    rep = QuantizeReport(mode)
    if mode == "dynamic":
        if bits != 8:
            raise QuantizeError("mode='dynamic' quantizes to 8 bits (use mode='weight-only' for 4)")
        from ._dynamic import quantize_dynamic
        rep.quantized = quantize_dynamic(model, per_channel=per_channel, exclude=excl)
    elif mode == "weight-only":
        if bits not in (4, 8):
            raise QuantizeError(f"bits={bits}: weight-only quantizes to 4 or 8 bits")
        bs = 32 if block_size is None else int(block_size)
        if bs < 16 or bs & (bs - 1):
            raise QuantizeError(f"block_size={block_size}: use a power of two, 16 or more")
        model = _weight_only_mode(model, rep, bits=bits, block_size=bs, signed=weight_type == "int8",
                                  exclude=excl, calibration=calibration, accuracy_target=accuracy_target,
                                  detail=report)
    else:
        if calibration is None:
            raise QuantizeError("mode='static' needs calibration data: an iterable of feed dicts")
        if bits != 8:
            raise QuantizeError("mode='static' quantizes to 8 bits")
        from ._static import quantize_static
        model = quantize_static(model, calibration, per_channel=per_channel, activation_type=activation_type,
                                exclude=excl, method=method, percentile=percentile,
                                accuracy_target=accuracy_target, report=rep, detail=report)
    model.ir_version = min(model.ir_version, 13)       # what onnxruntime loads
    model.producer_name = model.producer_name or "onnxkit"
    return (model, rep) if report else model


def _weight_only_mode(model: Model, rep: QuantizeReport, *, bits: int, block_size: int, signed: bool,
                      exclude: frozenset[str], calibration: Iterable[dict] | None,
                      accuracy_target: float | None, detail: bool) -> Model:
    """mode="weight-only"; with ``accuracy_target`` each 4-bit weight's effect
    is measured on the first :data:`HOLD_WEIGHT_ONLY` calibration samples, or
    without calibration on a few feeds made up from the model's inputs
    (:func:`._sensitivity.generated_samples`), and the most damaging are
    raised to 8 bits until the target is met (8, not float: the file stays a
    fraction of float's)."""
    from .._io import read_unaligned_weights
    from ._graph import set_opset
    from ._weight_only import node_bits, quantize_weight_only, raise_to_target

    set_opset(model, 21)        # first: the float reference and every trial share the graph
    plan = node_bits(model, bits, exclude)
    ops = {n.name: n.op_type for n in model.graph}
    if accuracy_target is None:
        rep.quantized = quantize_weight_only(model, bits=plan, block_size=block_size, signed=signed)
        if detail:
            rep.nodes = [NodeReport(n, ops.get(n, ""), bits=b) for n, b in plan.items()]
        return model
    if calibration is not None:
        samples = []
        for i, feeds in enumerate(calibration):
            if not isinstance(feeds, Mapping):
                raise QuantizeError(f"calibration sample {i}: expected a dict of input name -> array, "
                                    f"got {type(feeds).__name__}")
            samples.append({k: np.array(v) for k, v in feeds.items()})
            if len(samples) == HOLD_WEIGHT_ONLY:
                break
        if not samples:
            raise QuantizeError("the calibration data is empty: give at least one sample")
    else:
        from ._sensitivity import generated_samples
        samples = generated_samples(model)
    read_unaligned_weights(model)       # every trial copy shares them, aligned once
    out, final, why, sens, metric = raise_to_target(model, plan, samples, accuracy_target,
                                                    block_size=block_size, signed=signed)
    rep.quantized = list(plan)
    rep.raised = why
    rep.metric, rep.samples = metric, len(samples)
    rep.nodes = [NodeReport(n, ops.get(n, ""), sens.get(n), excluded=why.get(n, ""), bits=final[n])
                 for n in plan]
    return out


class _CallableModule(types.ModuleType):
    """``onnxkit.quantize(model, ...)`` works whether ``onnxkit.quantize`` names
    this package (as it does once a submodule is imported) or the function."""

    @functools.wraps(quantize)
    def __call__(self, *args, **kwargs):
        return quantize(*args, **kwargs)

    __call__.__signature__ = inspect.Signature(      # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY),
         *inspect.signature(quantize).parameters.values()])


sys.modules[__name__].__class__ = _CallableModule
