"""Build a small CNN with the builder, save it, load it back, show its info,
confirm the round trip, check it, infer its shapes, optimize it, run it on an
image and time the optimized run against the graph as written.  With --out
the models stay in that folder; otherwise a temporary folder is used and
removed afterwards.

The demo is a list of steps (:data:`STEPS`), each a function of the shared
:class:`DemoState` returning a one-line result; to add a step (check, run,
optimize ...) write a function and list it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import OnnxkitError
from ..ir import Model

NAME = "demo"
HELP = "build, save, reload, check, infer, optimize and run a small built-in CNN"

MODEL_FILE = "demo_cnn.onnx"
OPTIMIZED_FILE = "demo_cnn.optimized.onnx"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", metavar="DIR",
                   help="folder to save the model in (default: a temporary folder, removed after)")


def build_demo_model() -> Model:
    """A small CNN for 1x1x28x28 images (MNIST-like) with fixed weights:
    normalize, 2x (Conv, BatchNormalization, Relu, MaxPool), Flatten, Gemm,
    Softmax: the layout PyTorch exports for a CNN."""
    from ..builder import GraphBuilder

    rng = np.random.default_rng(0)

    def weights(*shape: int) -> np.ndarray:
        fan_in = int(np.prod(shape[1:]))
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    b = GraphBuilder("demo_cnn")
    x = b.input("image", "float", [1, 1, 28, 28])
    h = b.op.Div(b.op.Sub(x, b.initializer(np.float32(0.1307), "mean")),
                 b.initializer(np.float32(0.3081), "std"))
    for i, (cin, cout) in enumerate([(1, 4), (4, 8)], start=1):
        w = b.initializer(weights(cout, cin, 3, 3), f"conv{i}.weight")
        bias = b.initializer(np.zeros(cout, np.float32), f"conv{i}.bias")
        h = b.op.Conv(h, w, bias, kernel_shape=[3, 3], pads=[1, 1, 1, 1], name=f"conv{i}")
        bn = [b.initializer((rng.random(cout) * 0.5 + 0.75).astype(np.float32), f"bn{i}.scale"),
              b.initializer((rng.standard_normal(cout) * 0.1).astype(np.float32), f"bn{i}.bias"),
              b.initializer((rng.standard_normal(cout) * 0.1).astype(np.float32), f"bn{i}.mean"),
              b.initializer((rng.random(cout) * 0.5 + 0.75).astype(np.float32), f"bn{i}.var")]
        h = b.op.BatchNormalization(h, *bn, epsilon=1e-5, name=f"bn{i}")
        h = b.op.Relu(h, name=f"relu{i}")
        h = b.op.MaxPool(h, kernel_shape=[2, 2], strides=[2, 2], name=f"pool{i}")
    h = b.op.Flatten(h, axis=1, name="flatten")
    logits = b.op.Gemm(h, b.initializer(weights(10, 8 * 7 * 7), "fc.weight"),
                       b.initializer(np.zeros(10, np.float32), "fc.bias"), transB=1, name="fc")
    b.output(b.op.Softmax(logits, axis=-1, name="softmax"), "probs", dtype="float", shape=[1, 10])
    return b.model(opset=21, ir_version=10, doc_string="onnxkit demo: a small CNN")


@dataclass
class DemoState:
    """What the steps share."""

    folder: str
    path: str
    model: Model | None = None
    saved: bytes | None = None
    loaded: Model | None = None
    optimized: Model | None = None
    notes: dict[str, object] = field(default_factory=dict)


def step_build(s: DemoState) -> str:
    s.model = build_demo_model()
    g = s.model.graph
    return f"{len(g)} nodes, {len(g.initializers)} initializers"


def step_save(s: DemoState) -> str:
    from .. import save, to_bytes

    save(s.model, s.path)
    with open(s.path, "rb") as f:
        s.saved = f.read()
    if s.saved != to_bytes(s.model):
        raise OnnxkitError(f"{s.path}: the saved bytes differ from the serialized model")
    return f"{s.path} ({len(s.saved)} bytes)"


def step_load(s: DemoState) -> str:
    from .. import load

    s.loaded = load(s.path)
    return f"{len(s.loaded.graph)} nodes"


def step_info(s: DemoState) -> str:
    from ._info import format_info

    text = format_info(s.loaded, s.path)
    return "\n" + "".join(f"      {line}\n" for line in text.splitlines()).rstrip("\n")


def step_round_trip(s: DemoState) -> str:
    from .. import to_bytes

    again = to_bytes(s.loaded)
    if again != s.saved:
        raise OnnxkitError(f"round trip failed: {s.path} re-serializes to {len(again)} bytes "
                           f"that differ from the {len(s.saved)} saved")
    return f"ok, the loaded model serializes to the same {len(again)} bytes"


def step_check(s: DemoState) -> str:
    from ..check import check_model

    check_model(s.loaded)  # raises CheckError listing every problem
    return "ok, the model follows the ONNX rules (onnxkit's checker, full)"


def step_infer(s: DemoState) -> str:
    from ..infer import infer

    report = infer(s.loaded, strict=True)
    shapes = [f"{n.op_type} {v.type}" for n in s.loaded.graph for v in n.outputs
              if n.op_type in ("Conv", "MaxPool", "Flatten", "Gemm")]
    return (f"{report.shaped} of {report.values} values fully shaped; "
            + ", ".join(shapes[:4]) + ", ...")


def step_optimize(s: DemoState) -> str:
    from .. import save
    from ..passes import optimize

    s.optimized, rep = optimize(s.loaded, "extended", report=True)
    path = os.path.join(s.folder, OPTIMIZED_FILE)
    save(s.optimized, path)
    done = ", ".join(k for k, v in rep.changes.items() if v)
    ops = " ".join(n.op_type for n in s.optimized.graph)
    return (f"{rep.nodes_before} -> {rep.nodes_after} nodes ({done or 'nothing to do'}): {ops}; "
            f"saved {path} (standard ONNX)")


def step_run(s: DemoState) -> str:
    from ..runtime import Session

    sess = Session(s.loaded)
    image = _digit_image()
    [probs] = sess.run(None, {"image": image})
    k = int(np.argmax(probs))
    return (f"a 28x28 test image -> class {k} with probability {float(probs[0, k]):.3f} "
            f"(probabilities sum to {float(probs.sum()):.4f}; random weights, so the class means nothing)")


def step_speed(s: DemoState) -> str:
    import time

    from ..runtime import Session

    image = _digit_image()
    plain, fast = Session(s.loaded, optimize="none"), Session(s.loaded)   # as written / "runtime" level
    a, b = plain.run(None, {"image": image})[0], fast.run(None, {"image": image})[0]
    times: dict[Session, list[float]] = {plain: [], fast: []}
    for _ in range(7):                          # alternate, medians
        for sess in times:
            t0 = time.perf_counter()
            for _ in range(20):
                sess.run(None, {"image": image})
            times[sess].append((time.perf_counter() - t0) / 20)
    tp, tf = (sorted(times[x])[3] * 1e6 for x in (plain, fast))
    return (f"as written {tp:.0f} us per run, optimized for onnxkit's runtime {tf:.0f} us: {tp / tf:.1f}x; "
            f"the same probabilities (max difference {float(np.abs(a - b).max()):.1e})")


def _digit_image() -> np.ndarray:
    """A crude hand-drawn "7": a bar on top and a diagonal stroke."""
    img = np.zeros((1, 1, 28, 28), np.float32)
    img[0, 0, 5:8, 6:22] = 1.0
    for r in range(8, 24):
        c = 21 - (r - 8) // 2
        img[0, 0, r, c - 1:c + 2] = 1.0
    return img


STEPS: list[tuple[str, Callable[[DemoState], str]]] = [
    ("build", step_build),
    ("save", step_save),
    ("load", step_load),
    ("info", step_info),
    ("round trip", step_round_trip),
    ("check", step_check),
    ("infer shapes", step_infer),
    ("optimize", step_optimize),
    ("run", step_run),
    ("speed", step_speed),
]


def run_steps(folder: str) -> DemoState:
    state = DemoState(folder, os.path.join(folder, MODEL_FILE))
    for i, (name, step) in enumerate(STEPS, start=1):
        result = step(state)
        sep = "" if result.startswith("\n") else " "
        print(f"[{i}/{len(STEPS)}] {name}:{sep}{result}", flush=True)
    return state


def run(args: argparse.Namespace) -> int:
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        run_steps(args.out)
    else:
        with tempfile.TemporaryDirectory(prefix="onnxkit-demo-") as folder:
            run_steps(folder)
            print(f"(the temporary folder {folder} is removed; use --out DIR to keep the model)")
    return 0
