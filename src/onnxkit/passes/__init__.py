"""Graph optimizations: ``onnxkit.optimize(model, level=...)``.

Each pass is a small class in a module of its own, with one
``__call__(model) -> changed`` and a declared contract (``requires(model)`` /
``ensures(model)``, see :class:`Pass`); a :class:`PassManager` runs a list of
them until none changes anything (a fixed point), checking each pass's
contract as it goes.  Levels (cumulative):

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

import time
from dataclasses import dataclass, field

from ..errors import OptimizeError
from ..ir import Model, clone_model
from ._base import Pass, PostconditionError, PreconditionError
from ._check import PassChecker, check_mode
from .constant_folding import ConstantFolding
from .cse import CommonSubexpressions
from .dce import DeadCodeElimination
from .fuse_attention import FuseAttention
from .fuse_conv_bn import FuseConvBatchNorm
from .fuse_gelu import FuseGelu
from .fuse_gemm import FuseMatMulAdd
from .fuse_layer_norm import FuseLayerNorm
from .fuse_matmul_bias import FuseMatMulBias
from .identity import RemoveIdentities
from .nhwc import NhwcConv
from .shape_folding import ShapeFolding

__all__ = ["LEVELS", "OptimizeReport", "Pass", "PassManager", "PostconditionError", "PreconditionError",
           "optimize", "passes_for"]

LEVELS = ("none", "basic", "extended", "runtime")

# (level, pass class): the pipeline, in order.  A pass runs at its level and every higher one.
_PIPELINE: list[tuple[str, type[Pass]]] = [
    # -- basic: clean-ups (dead code first: nothing is folded or fused for nobody)
    ("basic", DeadCodeElimination),
    ("basic", ShapeFolding),
    ("basic", ConstantFolding),
    ("basic", RemoveIdentities),
    ("basic", CommonSubexpressions),
    # -- extended: fusions into the spec's ops
    ("extended", FuseConvBatchNorm),
    ("extended", FuseLayerNorm),
    ("extended", FuseGelu),
    ("extended", FuseAttention),
    ("extended", FuseMatMulAdd),
    # -- runtime: onnxkit's own kernels
    ("runtime", FuseMatMulBias),
    ("runtime", NhwcConv),
]


#: fusions into a spec op that exists only from some opset: pass name -> (op, opset).  Below it
#: the "extended" level leaves the pattern alone and "runtime" fuses it as an ai.onnxkit op
SPEC_OPSETS: dict[str, tuple[str, int]] = {cls.name: cls.spec_op for _, cls in _PIPELINE
                                            if getattr(cls, "spec_op", None)}


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
    return [cls.create(level=LEVELS[k], **options) for lvl, cls in _PIPELINE if LEVELS.index(lvl) <= k]


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
    nothing (at most ``max_rounds`` rounds).

    Around each pass run: its ``requires(model)`` before (a failure is a
    :class:`PreconditionError`), then that it kept the main graph's inputs and
    output names, and its ``ensures(model)`` (a :class:`PostconditionError`).
    With ``check`` (default: the environment variable ``ONNXKIT_CHECK_PASSES``
    set, as the tests do), also that the checker accepts the model after each
    pass that changed it, and that a small model computes what it did before.
    """

    def __init__(self, passes: list[Pass], max_rounds: int = 10, *, check: bool | None = None) -> None:
        self.passes = list(passes)
        self.max_rounds = max_rounds
        self.check = check_mode() if check is None else check

    def __call__(self, model: Model) -> OptimizeReport:
        report = OptimizeReport(nodes_before=_count(model))
        checker = PassChecker(model) if self.check else None
        interface = _interface(model)
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
                c = _run_pass(p, model)
                report.seconds[p.name] += time.perf_counter() - t0
                if c:
                    if _interface(model) != interface:
                        raise PostconditionError(f"optimizer pass {p.name!r} changed the graph's inputs or "
                                                 "output names")
                    if checker is not None:
                        checker.after(p, model)
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


def _run_pass(p: Pass, model: Model) -> bool:
    """``p(model)`` between its ``requires`` and ``ensures``."""
    _contract(p, p.requires, model, PreconditionError, "does not take this model")
    try:
        changed = bool(p(model))
    except OptimizeError:
        raise
    except Exception as e:      # a malformed model a pass did not expect, or a pass's bug
        raise OptimizeError(
            f"optimizer pass {p.name!r} failed: {type(e).__name__}: {e}; the model may be "
            "malformed ('onnxkit check MODEL' tells); Session(model, optimize='none') runs it "
            "as written") from e
    _contract(p, p.ensures, model, PostconditionError, "broke its promise")
    return changed


def _contract(p: Pass, method, model: Model, error: type[OptimizeError], what: str) -> None:
    try:
        method(model)
    except error:
        raise
    except Exception as e:
        raise error(f"optimizer pass {p.name!r} {what}: {type(e).__name__}: {e}") from e


def _interface(model: Model) -> tuple:
    g = model.graph
    return tuple(id(v) for v in g.inputs), tuple(v.name for v in g.outputs)


def _count(model: Model) -> int:
    return sum(1 for _ in model.graph.all_nodes())


def optimize(model: Model, level: str | int = "extended", *, inplace: bool = False,
             report: bool = False, opset: int | None = None, **options):
    """The optimized model (a copy sharing the weights, unless ``inplace``).

    ``level``: ``"none"``, ``"basic"``, ``"extended"`` (the default: standard
    ONNX out) or ``"runtime"`` (for onnxkit's own runtime).  ``opset``: convert
    the model to that ai.onnx opset first (:func:`onnxkit.convert.convert_version`),
    so that fusions into newer spec ops (LayerNormalization-17, Gelu-20,
    Attention-23) apply to models exported at older opsets.  ``fold_limit``:
    the largest constant, in bytes, that constant folding may create.  With
    ``report=True`` returns ``(model, OptimizeReport)``.
    """
    if not isinstance(model, Model):
        from .._io import load
        model = load(model)
        inplace = True
    if opset is not None and model.opset_imports.get("", model.opset_imports.get("ai.onnx")) != opset:
        from ..convert import convert_version
        model = convert_version(model, opset, inplace=inplace)
        inplace = True          # the converted model is already a copy where one was asked for
    if not inplace:
        model = clone_model(model)
    rep = PassManager(passes_for(level, **options))(model)
    return (model, rep) if report else model
