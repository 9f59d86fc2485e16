"""Graph optimizations: ``onnxkit.optimize(model, level=...)``.

Each pass is a small class in a module of its own, with one
``__call__(model) -> changed``; a :class:`PassManager` runs a list of them
until none changes anything (a fixed point).  Levels (cumulative):

``"none"``
    nothing.
``"basic"``
    clean-ups that keep every op as it is: dead code, identities and no-ops,
    constant folding (outputs up to ``fold_limit`` bytes), shape computations
    folded through shape inference, common subexpressions.
``"extended"``
    fusions into the spec's own ops, where the model's opset has them:
    Conv + BatchNormalization, MatMul + Add -> Gemm, LayerNormalization,
    Gelu, Attention.  The result is standard ONNX: it opens in every tool.
``"runtime"``
    what only onnxkit's runtime runs: the same fusions where the model's
    opset is too old (as ops of the ``ai.onnxkit`` domain with the newer
    spec op's semantics) and onnxkit's own fused kernels (MatMul with bias
    and activation, convolutions in NHWC layout, ...).  ``Session`` uses this
    level by default.

Passes never serialize the model and never copy a weight they do not change,
so models past 2 GiB (external data, memory-mapped) are optimized in place of
their graph only.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field

from ..errors import OptimizeError
from ..ir import Model, clone_model
from ._base import Pass

__all__ = ["LEVELS", "Pass", "PassManager", "OptimizeReport", "optimize", "passes_for"]

LEVELS = ("none", "basic", "extended", "runtime")

# (level, module, class): the pipeline, in order.  A pass runs at its level
# and every higher one.
_PIPELINE: list[tuple[str, str, str]] = [
    # -- basic: clean-ups (dead code first: nothing is folded or fused for nobody)
    ("basic", "dce", "DeadCodeElimination"),
    ("basic", "shape_folding", "ShapeFolding"),
    ("basic", "constant_folding", "ConstantFolding"),
    ("basic", "identity", "RemoveIdentities"),
    ("basic", "cse", "CommonSubexpressions"),
    # -- extended: fusions into the spec's ops
    ("extended", "fuse_conv_bn", "FuseConvBatchNorm"),
    ("extended", "fuse_layer_norm", "FuseLayerNorm"),
    ("extended", "fuse_gelu", "FuseGelu"),
    ("extended", "fuse_attention", "FuseAttention"),
    ("extended", "fuse_gemm", "FuseMatMulAdd"),
    # -- runtime: onnxkit's own kernels
    ("runtime", "fuse_matmul_bias", "FuseMatMulBias"),
    ("runtime", "nhwc", "NhwcConv"),
]


#: fusions into a spec op that exists only from some opset: pass name -> (op, opset).  Below it
#: the "extended" level leaves the pattern alone and "runtime" fuses it as an ai.onnxkit op
SPEC_OPSETS: dict[str, tuple[str, int]] = {
    "fuse_layer_norm": ("LayerNormalization", 17),
    "fuse_gelu": ("Gelu", 20),
    "fuse_attention": ("Attention", 23),
}


def _level_index(level: str | int) -> int:
    if isinstance(level, int) and not isinstance(level, bool) and 0 <= level < len(LEVELS):
        return level
    if level in LEVELS:
        return LEVELS.index(level)
    raise ValueError(f"unknown optimization level {level!r}; choose one of {', '.join(LEVELS)}")


def passes_for(level: str | int = "extended", **options) -> list[Pass]:
    """The passes of ``level``, in pipeline order.  ``options`` go to every
    pass whose constructor takes them (e.g. ``fold_limit``)."""
    k = _level_index(level)
    out = []
    for lvl, module, cls in _PIPELINE:
        if LEVELS.index(lvl) <= k:
            klass = getattr(importlib.import_module(f"{__name__}.{module}"), cls)
            out.append(klass.create(level=LEVELS[k], **options))
    return out


@dataclass
class OptimizeReport:
    """What a run of the pass manager did."""
    rounds: int = 0
    nodes_before: int = 0
    nodes_after: int = 0
    changes: dict[str, int] = field(default_factory=dict)     # pass name -> rounds it changed something
    seconds: dict[str, float] = field(default_factory=dict)   # pass name -> time spent

    def __str__(self) -> str:
        done = ", ".join(f"{k} x{v}" for k, v in self.changes.items() if v) or "nothing to do"
        return f"{self.nodes_before} -> {self.nodes_after} nodes in {self.rounds} rounds ({done})"


class PassManager:
    """Run ``passes`` in order, again and again, until a whole round changes
    nothing (at most ``max_rounds`` rounds)."""

    def __init__(self, passes: list[Pass], max_rounds: int = 10) -> None:
        self.passes = list(passes)
        self.max_rounds = max_rounds

    def __call__(self, model: Model) -> OptimizeReport:
        report = OptimizeReport(nodes_before=_count(model))
        for p in self.passes:
            report.changes.setdefault(p.name, 0)
            report.seconds.setdefault(p.name, 0.0)
        # a pass that found nothing to do need not look again until another pass changes the model
        changes = 0                                  # how many pass runs changed the model so far
        clean_at: dict[int, int] = {}                # pass index -> ``changes`` when it last found nothing
        for _ in range(self.max_rounds):
            report.rounds += 1
            changed = False
            for i, p in enumerate(self.passes):
                if clean_at.get(i) == changes:
                    continue
                t0 = time.perf_counter()
                try:
                    c = bool(p(model))
                except OptimizeError:
                    raise
                except Exception as e:      # a malformed model a pass did not expect, or a pass's bug
                    raise OptimizeError(
                        f"optimizer pass {p.name!r} failed: {type(e).__name__}: {e}; the model may be "
                        "malformed ('onnxkit check MODEL' tells); Session(model, optimize='none') runs it "
                        "as written") from e
                report.seconds[p.name] += time.perf_counter() - t0
                if c:
                    report.changes[p.name] += 1
                    changes += 1
                    changed = True
                else:
                    clean_at[i] = changes
            if not changed:
                break
        report.nodes_after = _count(model)
        return report


def _count(model: Model) -> int:
    return sum(1 for _ in model.graph.all_nodes())


def optimize(model: Model, level: str | int = "extended", *, inplace: bool = False,
             report: bool = False, **options):
    """The optimized model (a copy sharing the weights, unless ``inplace``).

    ``level``: ``"none"``, ``"basic"``, ``"extended"`` (the default: standard
    ONNX out) or ``"runtime"`` (for onnxkit's own runtime).  ``fold_limit``:
    the largest constant, in bytes, that constant folding may create.  With
    ``report=True`` returns ``(model, OptimizeReport)``.
    """
    if not isinstance(model, Model):
        from .._io import load
        model = load(model)
        inplace = True
    if not inplace:
        model = clone_model(model)
    rep = PassManager(passes_for(level, **options))(model)
    return (model, rep) if report else model
