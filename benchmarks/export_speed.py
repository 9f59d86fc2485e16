"""Export speed: onnxkit.export against torch.onnx.export(dynamo=True), full-size models.

    python benchmarks/export_speed.py [--models bert,gpt2] [--repeat 3] [--check]

Each export runs in a fresh process (the model built first, then only the
export call is timed; batch 2, sequence 128, batch and sequence dynamic), the
median of --repeat runs is reported.  --check also exports every architecture
of tests/export/zoo.py at full size with onnxkit, checks it with
onnx.checker (full_check) and compares it with eager PyTorch in onnxruntime
at the traced size and at another batch/sequence size.  For humans, not CI.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "export"))


def _case(name: str):
    import torch
    import zoo

    case = zoo.ZOO[name](full=True)

    def twice(t):  # batch 2: a dynamic dim needs an example of size >= 2
        return t.repeat(2, *[1] * (t.dim() - 1)) if isinstance(t, torch.Tensor) and t.shape[0] == 1 else t

    case.args = tuple(twice(a) for a in case.args)
    case.kwargs = {k: twice(v) for k, v in case.kwargs.items()}
    return case


def one_run(name: str, exporter: str) -> float:
    """Build the model, time one export (this process)."""
    import warnings

    import torch

    warnings.simplefilter("ignore")
    case = _case(name)
    if exporter == "onnxkit":
        import onnxkit

        t0 = time.perf_counter()
        onnxkit.export(case.module, case.args, case.kwargs, dynamic_shapes=case.dynamic_shapes)
        return time.perf_counter() - t0
    import inspect

    from torch.export import Dim

    sig = list(inspect.signature(case.module.forward).parameters)
    named = dict(zip(sig, case.args))
    named.update(case.kwargs)
    dyn = {k: ({d: Dim.DYNAMIC for d in case.dynamic_shapes[k]} if k in case.dynamic_shapes else None)
           for k in named}
    t0 = time.perf_counter()
    torch.onnx.export(case.module, case.args, kwargs=case.kwargs, dynamic_shapes=dyn, dynamo=True,
                      verbose=False)
    return time.perf_counter() - t0


def timed(name: str, exporter: str, repeat: int) -> float | None:
    times = []
    for _ in range(repeat):
        r = subprocess.run([sys.executable, __file__, "--one", name, exporter], capture_output=True,
                           text=True, cwd=ROOT)
        line = [x for x in r.stdout.splitlines() if x.startswith("{")]
        if r.returncode != 0 or not line:
            print(f"  {exporter} on {name} failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
            return None
        times.append(json.loads(line[-1])["seconds"])
    return statistics.median(times)


def check_all() -> None:
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch
    import zoo

    import onnxkit
    from onnxkit.export._api import flatten_outputs

    print("| architecture (full size) | export s | nodes | checker | max abs err, traced | max abs err, other size |")
    print("| --- | ---: | ---: | --- | ---: | ---: |")
    for name in zoo.ZOO:
        case = _case(name)
        t0 = time.perf_counter()
        model = onnxkit.export(case.module, case.args, case.kwargs, dynamic_shapes=case.dynamic_shapes)
        dt = time.perf_counter() - t0
        data = onnxkit.to_bytes(model)
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "m.onnx")
            onnxkit.save(model, p)
            try:
                onnx.checker.check_model(p, full_check=True)
                chk = "ok"
            except Exception as e:  # report, go on
                chk = f"FAIL {str(e)[:60]}"
            sess = ort.InferenceSession(p, providers=["CPUExecutionProvider"])
        del data
        errs = []
        for args, kwargs in [(case.args, case.kwargs), case.other]:
            flat = [t for t in list(args) + list(kwargs.values())]
            feeds = {i.name: t.numpy() for i, t in zip(sess.get_inputs(), flat)}
            got = sess.run(None, feeds)
            with torch.no_grad():
                want = [t.numpy() for _, t in flatten_outputs(case.module(*args, **kwargs))]
            ok = all(np.allclose(g, w, rtol=1e-3, atol=1e-4) for g, w in zip(got, want))
            err = max(float(np.abs(g - w).max()) for g, w in zip(got, want))
            errs.append(f"{err:.2e}{'' if ok else ' MISMATCH'}")
        print(f"| {name} | {dt:.2f} | {len(model.graph)} | {chk} | {errs[0]} | {errs[1]} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="bert,gpt2")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps({"seconds": one_run(*a.one)}))
        return
    print("| model (batch 2, seq 128, dynamic) | torch.onnx dynamo=True | onnxkit.export | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for name in a.models.split(","):
        tk = timed(name, "onnxkit", a.repeat)
        td = timed(name, "dynamo", a.repeat)
        ratio = f"{tk / td:.2f}x" if tk and td else "-"
        fmt = lambda t: f"{t:.2f} s" if t else "failed"
        print(f"| {name} | {fmt(td)} | {fmt(tk)} | {ratio} |", flush=True)
    if a.check:
        check_all()


if __name__ == "__main__":
    main()
