"""Run a model on inputs read from .npy files (or random ones of the declared
shapes), print a summary of the outputs and the time the run took, optionally
save the outputs and print a per-node profile."""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict

import numpy as np


NAME = "run"
HELP = "run a model (random inputs unless given) and show its outputs"


def add_input_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="the .onnx file")
    p.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                   help="an input from a .npy file (repeat for several)")
    p.add_argument("--dim", action="append", default=[], metavar="SYMBOL=N",
                   help="size of a named dim of the inputs for random inputs, e.g. batch=4 "
                        "(default 1; dims with no name are 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input_arguments(p)
    p.add_argument("--save-outputs", metavar="DIR", help="save each output as DIR/NAME.npy")
    p.add_argument("--profile", action="store_true", help="print time per node and per op type")
    p.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="run N times and report the median time (default 1)")
    p.add_argument("--optimize", default="runtime", choices=["none", "basic", "extended", "runtime"],
                   help="optimization level of the session (default: runtime; 'none' runs and profiles "
                        "the graph as written)")
    p.add_argument("--provider", default="numpy", choices=["numpy", "torch"],
                   help="execution provider (default: numpy; torch runs the model imported by "
                        "onnxkit.to_torch, onnxkit[torch])")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="threads of the numpy provider, for BLAS and onnxkit's own work (default: the "
                        "cores this process may use, CPU affinity and cgroup quota respected)")
    p.add_argument("--device", default=None, metavar="DEVICE",
                   help="device of the torch provider: cpu (default) or cuda")


def _pairs(items: list[str], what: str) -> dict[str, str]:
    from . import UsageError

    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"{what} {item!r} must look like NAME=VALUE")
        out[name] = value
    return out


def _symbolic_dims(inputs) -> list[str]:
    """The names of the symbolic dims of ``inputs``, in order of appearance."""
    return list(dict.fromkeys(d for v in inputs for d in _dims_of(v) if isinstance(d, str)))


def _parse_dims(items: list[str], known: list[str]) -> dict[str, int]:
    from . import UsageError

    dims = {}
    for name, value in _pairs(items, "--dim").items():
        try:
            n = int(value)
        except ValueError:
            raise UsageError(f"--dim {name}={value}: the size must be a whole number") from None
        if n < 0:
            raise UsageError(f"--dim {name}={value}: a size cannot be negative")
        if name not in known:
            raise UsageError(f"--dim {name}: no input of the model has a dim named {name!r}; "
                             f"its named dims are {', '.join(known) if known else '(none)'}")
        dims[name] = n
    return dims


def _read_npy(name: str, path: str) -> np.ndarray:
    from . import UsageError

    with open(path, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"PK"):
        raise UsageError(f"--input {name}={path}: an .npz archive; give one .npy file per input")
    if magic != b"\x93NUMPY":
        raise UsageError(f"--input {name}={path}: it is not a .npy file (numpy.save writes one)")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, EOFError) as e:     # truncated, or an object array (pickled)
        why = "it holds Python objects (pickled), which are not read" if "pickle" in str(e) else \
            f"it cannot be read as a .npy file ({e})"
        raise UsageError(f"--input {name}={path}: {why}") from None


def load_feeds(model, args) -> dict:
    """The feeds given with --input, the others random; says which dims it used."""
    from . import UsageError
    from ..runtime._debug import random_inputs
    g = model.graph
    inputs = [v for v in g.inputs if v.name not in g.initializers]
    given = _pairs(args.input, "--input")
    for name in given:
        if name not in {v.name for v in inputs}:
            raise UsageError(f"--input {name}: the model has no input {name!r}; its inputs are "
                             f"{[v.name for v in inputs]}")
    dims = _parse_dims(args.dim, _symbolic_dims(inputs))
    feeds = random_inputs(model, dims, seed=args.seed)
    random = [v for v in inputs if v.name not in given]
    used = _symbolic_dims(random)
    unnamed = [f"{v.name}[{k}]" for v in random for k, d in enumerate(_dims_of(v)) if d is None]
    if used or unnamed:
        parts = [f"{d}={dims.get(d, 1)}" + ("" if d in dims else " (default)") for d in used]
        if unnamed:
            parts.append(f"dims with no name set to 1: {', '.join(unnamed)}")
        print("random inputs with " + "; ".join(parts))
    for name, path in given.items():
        feeds[name] = _read_npy(name, path)
    return feeds


def _dims_of(v) -> list:
    from ..ir import TensorType

    t = v.type
    return list(t.shape.dims) if isinstance(t, TensorType) and t.shape is not None else []


def _summary(a) -> str:
    if not isinstance(a, np.ndarray):
        return type(a).__name__
    s = f"{a.dtype}{list(a.shape)}"
    if a.size and a.dtype.kind in "fiub":
        x = a.astype(np.float64)
        s += f"  min {x.min():.4g}  max {x.max():.4g}  mean {x.mean():.4g}"
    return s


def _short(name: str, width: int) -> str:
    """``name`` cut in the middle to ``width`` characters (its end says most)."""
    if len(name) <= width:
        return name
    keep = width - 1
    return name[:keep // 3] + "…" + name[len(name) - (keep - keep // 3):]


def print_profile(prof) -> None:
    total = sum(p.seconds for p in prof)
    print(f"\nprofile: {len(prof)} nodes, {total * 1e3:.2f} ms")
    by_op: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for p in prof:
        by_op[p.op_type][0] += p.seconds
        by_op[p.op_type][1] += 1
    print(f"{'op type':<24}{'count':>6}{'ms':>10}{'%':>7}")
    for op, (t, n) in sorted(by_op.items(), key=lambda kv: -kv[1][0]):
        print(f"{op:<24}{n:>6}{t * 1e3:>10.3f}{100 * t / max(total, 1e-12):>7.1f}")
    slow = sorted(prof, key=lambda p: -p.seconds)[:10]
    width = min(80, max([len("slowest nodes")] + [len(p.name or "") for p in slow]))
    ops = max([len("op type")] + [len(p.op_type) for p in slow])
    print(f"\n{'slowest nodes':<{width}}  {'op type':<{ops}}{'ms':>10}  outputs")
    for p in slow:
        print(f"{_short(p.name or '', width):<{width}}  {p.op_type:<{ops}}{p.seconds * 1e3:>10.3f}  "
              f"{p.output_shapes} ({p.output_bytes:,} bytes)")


def run(args: argparse.Namespace) -> int:
    from . import UsageError
    from .._io import load
    from ..runtime import Session
    if args.repeat < 1:
        raise UsageError(f"--repeat {args.repeat}: run at least once")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads {args.threads}: give at least 1")
    model = load(args.model)
    feeds = load_feeds(model, args)
    t0 = time.perf_counter()
    if args.provider == "numpy":
        if args.device not in (None, "cpu"):
            raise UsageError(f"--device {args.device}: the numpy provider runs on the CPU; "
                             f"add --provider torch")
        sess = Session(model, optimize=args.optimize, threads=args.threads)
    else:
        if args.profile:
            raise UsageError("--profile is a feature of the numpy provider")
        sess = Session(model, providers=[args.provider],
                       provider_options=[{"device": args.device or "cpu"}])
    created = time.perf_counter() - t0
    for name, a in feeds.items():
        print(f"input  {name}: {_summary(a)}")
    times = []
    for i in range(args.repeat):
        t0 = time.perf_counter()
        outs = sess.run(None, feeds, profile=args.profile and i == 0)
        times.append(time.perf_counter() - t0)
    for o, a in zip(sess.get_outputs(), outs):
        print(f"output {o.name}: {_summary(a)}")
        if args.save_outputs:
            os.makedirs(args.save_outputs, exist_ok=True)
            np.save(os.path.join(args.save_outputs, f"{o.name.replace('/', '_')}.npy"), a)
    runs = f"median of {len(times)} runs" if len(times) > 1 else "one run"
    print(f"latency: {np.median(times) * 1e3:.2f} ms ({runs}{', the first profiled' if args.profile else ''}; "
          f"session created in {created * 1e3:.0f} ms at "
          + (f"optimize={args.optimize}, threads={sess.threads})" if args.provider == "numpy" else
             f"provider {args.provider}, device {args.device or 'cpu'})"))
    if args.profile and sess.last_profile:
        print_profile(sess.last_profile)
    return 0
