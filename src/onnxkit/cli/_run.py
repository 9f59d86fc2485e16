"""Run a model on inputs read from .npy files (or random ones of the declared
shapes), print a summary of the outputs, optionally save them and print a
per-node profile."""

from __future__ import annotations

import argparse
import os
from collections import defaultdict

import numpy as np

from ..errors import InvalidInputError

NAME = "run"
HELP = "run a model (random inputs unless given) and show its outputs"


def add_input_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="the .onnx file")
    p.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                   help="an input from a .npy file (repeat for several)")
    p.add_argument("--dim", action="append", default=[], metavar="SYMBOL=N",
                   help="size of a symbolic dim for random inputs, e.g. batch=4 (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input_arguments(p)
    p.add_argument("--save-outputs", metavar="DIR", help="save each output as DIR/NAME.npy")
    p.add_argument("--profile", action="store_true", help="print time per node and per op type")
    p.add_argument("--optimize", default="runtime", choices=["none", "basic", "extended", "runtime"],
                   help="optimization level of the session (default: runtime; 'none' runs and profiles "
                        "the graph as written)")


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InvalidInputError(f"{what} {item!r} must look like NAME=VALUE")
        out[name] = value
    return out


def load_feeds(model, args) -> dict:
    from ..runtime._debug import random_inputs
    dims = {k: int(v) for k, v in _pairs(args.dim, "--dim").items()}
    feeds = random_inputs(model, dims, seed=args.seed)
    for name, path in _pairs(args.input, "--input").items():
        if name not in {v.name for v in model.graph.inputs}:
            raise InvalidInputError(f"--input {name}: the model has no input {name!r}; its inputs are "
                                    f"{[v.name for v in model.graph.inputs if v.name not in model.graph.initializers]}")
        feeds[name] = np.load(path, allow_pickle=False)
    return feeds


def _summary(a) -> str:
    if not isinstance(a, np.ndarray):
        return type(a).__name__
    s = f"{a.dtype}{list(a.shape)}"
    if a.size and a.dtype.kind in "fiub":
        x = a.astype(np.float64)
        s += f"  min {x.min():.4g}  max {x.max():.4g}  mean {x.mean():.4g}"
    return s


def run(args: argparse.Namespace) -> int:
    from .._io import load
    from ..runtime import Session
    model = load(args.model)
    sess = Session(model, optimize=args.optimize)
    feeds = load_feeds(model, args)
    for name, a in feeds.items():
        print(f"input  {name}: {_summary(a)}")
    outs = sess.run(None, feeds, profile=args.profile)
    for o, a in zip(sess.get_outputs(), outs):
        print(f"output {o.name}: {_summary(a)}")
        if args.save_outputs:
            os.makedirs(args.save_outputs, exist_ok=True)
            np.save(os.path.join(args.save_outputs, f"{o.name.replace('/', '_')}.npy"), a)
    if args.profile and sess.last_profile:
        prof = sess.last_profile
        total = sum(p.seconds for p in prof)
        print(f"\nprofile: {len(prof)} nodes, {total * 1e3:.2f} ms")
        by_op: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
        for p in prof:
            by_op[p.op_type][0] += p.seconds
            by_op[p.op_type][1] += 1
        print(f"{'op type':<24}{'count':>6}{'ms':>10}{'%':>7}")
        for op, (t, n) in sorted(by_op.items(), key=lambda kv: -kv[1][0]):
            print(f"{op:<24}{n:>6}{t * 1e3:>10.3f}{100 * t / max(total, 1e-12):>7.1f}")
        print(f"\n{'slowest nodes':<40}{'ms':>10}  outputs")
        for p in sorted(prof, key=lambda p: -p.seconds)[:10]:
            print(f"{(p.name or p.op_type)[:38]:<40}{p.seconds * 1e3:>10.3f}  {p.output_shapes} "
                  f"({p.output_bytes} bytes)")
    return 0
