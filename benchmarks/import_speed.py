"""Speed of onnxkit.to_torch: the imported module against the original PyTorch
module (eager, CPU), and the cost of the import itself.

    python benchmarks/import_speed.py [--models resnet50,mobilenetv2,bert,gpt2,vit] [--batch 1,8]
                                      [--repeat 15] [--unfused] [--threads N] [--no-latency] [--no-load]
                                      [--load-repeat 3] [--profile MODEL] [--profile-batch 1]

Models (benchmarks/_models.py, random weights, exported once and cached in
benchmarks/_out/): ResNet-50 and MobileNetV2 in plain torch, transformers'
BERT-base (sequence 128), GPT-2 small with its LM head (sequence 64), ViT-B/16
(224x224).  The original is the module ``_models.build`` returns (the same
seed, so the same weights as the export); the imported module is
``onnxkit.to_torch(export)``.

Latency (per model and batch, one process): both modules run under
``torch.inference_mode()`` on the same inputs; after a check that they agree
(max abs difference printed) and a warm-up of 2 runs each, they run
alternately ``--repeat`` times (which goes first alternates); the table gives
each one's median and the ratio imported / original.  Target: <= 1.05.
``--unfused`` also times the import without its run-time fusions
(``to_torch/_fuse.py``: F.linear, F.gelu, scaled_dot_product_attention put back
where the export decomposed them) in the same alternation: before / after.

Import cost (BERT-base; ``--load-repeat`` fresh child processes, medians):
``to_torch(path)`` wall time from the file on disk to the module (torch,
onnxkit and the importer's modules imported and warmed on a tiny model
first), and its peak memory as the RSS high-water mark (``VmHWM``) minus
the RSS just before the call, against the weights' size (the sum of the
initializers' bytes).  RSS rather than tracemalloc: tracemalloc sees numpy's
buffers but not torch's own allocator, and the import holds weights in both.
Targets: <= 0.5 s, peak <= 1.3x the weights.

``--profile MODEL`` runs torch.profiler over a few runs of both modules and
prints the ops where the imported module spends more self CPU time than the
original (and ops only it calls): that is where it loses time.
Numbers from a loaded machine are indicative only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import _models  # noqa: E402

MODELS = ["resnet50", "mobilenetv2", "bert", "gpt2", "vit"]


# ---------------------------------------------------------------- latency


def _load_pair(name: str):
    """(original module, imported module, export path)."""
    from onnxkit.to_torch import to_torch
    original = _models.build(name)[0]
    path = _models.get_model(name)
    return original, to_torch(path), path


def _unfused(path: str):
    """The import without the run-time fusions of to_torch/_fuse.py (node by node)."""
    from onnxkit.to_torch import _convert, to_torch
    saved = _convert.fuse
    _convert.fuse = lambda *args: {}
    try:
        return to_torch(path)
    finally:
        _convert.fuse = saved


def _args(module_inputs: list, feeds: dict) -> tuple:
    import torch
    return tuple(torch.from_numpy(feeds[n]) for n in module_inputs)


def _first(out):
    import torch
    if isinstance(out, torch.Tensor):
        return out
    return out[0]


def latency(name: str, batches: list, repeat: int, unfused: bool = False) -> list:
    import torch
    original, imported, path = _load_pair(name)
    original.eval()
    imported.eval()
    mods = [("original", original), ("imported", imported)]
    if unfused:
        mods.append(("unfused", _unfused(path).eval()))
    rows = []
    for batch in batches:
        feeds = _models.feeds(name, batch=batch)
        args = _args(imported.onnx_inputs, feeds)
        with torch.inference_mode():
            diff = float((_first(original(*args)) - _first(imported(*args))).abs().max())
            for _ in range(2):
                for _, mod in mods:
                    mod(*args)
            times: dict = {label: [] for label, _ in mods}
            for r in range(repeat):
                for label, mod in (mods if r % 2 == 0 else mods[::-1]):
                    t0 = time.perf_counter()
                    mod(*args)
                    times[label].append(time.perf_counter() - t0)
        o = statistics.median(times["original"]) * 1e3
        i = statistics.median(times["imported"]) * 1e3
        row = {"model": name, "batch": batch, "original_ms": o, "imported_ms": i, "ratio": i / o,
               "max_abs_diff": diff}
        if unfused:
            row["unfused_ratio"] = statistics.median(times["unfused"]) * 1e3 / o
        rows.append(row)
        print(f"  {name} batch {batch}: original {o:.1f} ms, imported {i:.1f} ms, ratio {i / o:.3f} "
              + (f"(unfused {row['unfused_ratio']:.3f}) " if unfused else "")
              + f"(max abs diff {diff:.2g})", file=sys.stderr, flush=True)
    return rows


# ---------------------------------------------------------------- import cost


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    """This process's RSS high-water mark (VmHWM: unlike ru_maxrss, not inherited from the
    parent across fork + exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _child_load(path: str) -> None:
    """In a fresh process: warm the importer on a tiny model, then time and measure one import."""
    import onnxkit
    import torch
    from onnxkit.to_torch import to_torch

    def f(x):
        return torch.nn.functional.layer_norm(x @ x.transpose(-1, -2), (3,)).softmax(-1)
    to_torch(onnxkit.export(f, (torch.randn(2, 3, 3),)))    # warms every module the import uses
    base = _rss_bytes()
    t0 = time.perf_counter()
    module = to_torch(path)
    dt = time.perf_counter() - t0
    peak = _peak_rss_bytes()
    held = sum(p.numel() * p.element_size() for p in module.parameters()) + \
        sum(b.numel() * b.element_size() for b in module.buffers())
    print(json.dumps({"seconds": dt, "peak_delta": peak - base, "after_delta": _rss_bytes() - base,
                      "module_bytes": held}))


def _weights_bytes(path: str) -> int:
    import onnx
    mp = onnx.load(path, load_external_data=False)
    itemsize = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2}
    return sum(int(np.prod(t.dims, dtype=np.int64)) * itemsize.get(t.data_type, 4) for t in mp.graph.initializer)


def load_cost(name: str, repeat: int) -> dict:
    path = _models.get_model(name)
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, __file__, "--child-load", path], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"child failed: {out.stderr[-2000:]}")
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    weights = _weights_bytes(path)
    sec = statistics.median(r["seconds"] for r in runs)
    peak = statistics.median(r["peak_delta"] for r in runs)
    return {"model": name, "to_torch_s": sec, "weights_mb": weights / 2**20, "peak_mb": peak / 2**20,
            "peak_over_weights": peak / weights, "module_mb": runs[0]["module_bytes"] / 2**20,
            "runs": len(runs)}


# ---------------------------------------------------------------- profile


def profile(name: str, batch: int, runs: int = 5) -> None:
    """Where the imported module spends self CPU time that the original does not."""
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as tprofile
    original, imported, _ = _load_pair(name)
    args = _args(imported.onnx_inputs, _models.feeds(name, batch=batch))
    tables = {}
    for label, mod in (("original", original.eval()), ("imported", imported.eval())):
        with torch.inference_mode():
            for _ in range(2):
                mod(*args)
            with tprofile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(runs):
                    mod(*args)
        tables[label] = {e.key: (e.self_cpu_time_total / runs, e.count / runs) for e in prof.key_averages()}
        total = sum(v[0] for v in tables[label].values()) / 1e3
        print(f"\n{name} batch {batch} {label}: {total:.1f} ms self CPU per run, "
              f"{sum(v[1] for v in tables[label].values()):.0f} op calls per run")
    o, i = tables["original"], tables["imported"]
    head = f"{'op':44s} {'orig us':>10s} {'imp us':>10s} {'imp-orig':>10s} {'orig n':>7s} {'imp n':>7s}"

    def show(keys):
        print(head)
        for k in keys:
            a, b = o.get(k, (0.0, 0.0)), i.get(k, (0.0, 0.0))
            print(f"{k[:44]:44s} {a[0]:10.0f} {b[0]:10.0f} {b[0] - a[0]:10.0f} {a[1]:7.0f} {b[1]:7.0f}")
    extra = sorted(set(o) | set(i), key=lambda k: -(i.get(k, (0, 0))[0] - o.get(k, (0, 0))[0]))
    print("\nwhere the imported module spends more (per run):")
    show([k for k in extra[:15] if i.get(k, (0, 0))[0] > o.get(k, (0, 0))[0]])
    print("\nwhat the original spends that the imported does not (its fused ops):")
    show([k for k in extra[::-1][:10] if o.get(k, (0, 0))[0] > i.get(k, (0, 0))[0]])
    from collections import Counter
    fx_ops = Counter(getattr(n.target, "__name__", str(n.target)) for n in imported.graph.nodes
                     if n.op in ("call_function", "call_module"))
    print("\nthe imported module's calls:", ", ".join(f"{k} x{v}" for k, v in fx_ops.most_common(14)))


# ---------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--batch", default="1,8")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--unfused", action="store_true",
                    help="also time the import without its run-time fusions (to_torch/_fuse.py)")
    ap.add_argument("--no-load", action="store_true")
    ap.add_argument("--load-model", default="bert")
    ap.add_argument("--load-repeat", type=int, default=3)
    ap.add_argument("--profile", help="profile this model (no latency / load runs unless asked)")
    ap.add_argument("--profile-batch", type=int, default=1)
    ap.add_argument("--child-load", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_load:
        _child_load(args.child_load)
        return 0
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.profile:
        profile(args.profile, args.profile_batch)
        return 0
    batches = [int(b) for b in args.batch.split(",") if b]
    if not args.no_latency:
        rows = []
        for name in [m for m in args.models.split(",") if m]:
            rows += latency(name, batches, args.repeat, args.unfused)
        print(f"\nLatency, CPU eager, torch {torch.__version__}, {torch.get_num_threads()} threads, "
              f"median of {args.repeat} alternating runs (target: imported <= 1.05x original)\n")
        extra = " unfused / original |" if args.unfused else ""
        print("| model | batch | original ms | imported ms | imported / original |" + extra + " max abs diff |")
        print("|---|---|---|---|---|---|" + ("---|" if args.unfused else ""))
        for r in rows:
            u = f" {r['unfused_ratio']:.3f} |" if args.unfused else ""
            print(f"| {r['model']} | {r['batch']} | {r['original_ms']:.1f} | {r['imported_ms']:.1f} | "
                  f"{r['ratio']:.3f} |{u} {r['max_abs_diff']:.2g} |")
    if not args.no_load:
        r = load_cost(args.load_model, args.load_repeat)
        print(f"\nImport cost of {r['model']} (median of {r['runs']} fresh processes; targets: <= 0.5 s, "
              f"peak <= 1.3x weights)\n")
        print("| model | to_torch s | weights MB | peak RSS delta MB | peak / weights | module holds MB |")
        print("|---|---|---|---|---|---|")
        print(f"| {r['model']} | {r['to_torch_s']:.2f} | {r['weights_mb']:.0f} | {r['peak_mb']:.0f} | "
              f"{r['peak_over_weights']:.2f} | {r['module_mb']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
