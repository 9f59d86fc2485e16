"""Export speed: onnxkit.export against torch.onnx.export(dynamo=True), full-size models.

    python benchmarks/export_speed.py [--models bert,gpt2] [--repeat 3] [--exporters onnxkit,dynamo] [--check]
    python benchmarks/export_speed.py --one bert onnxkit --profile out.prof   # one export, profiled

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


def one_run(name: str, exporter: str, profile: str | None = None) -> dict:
    """Build the model, time one export (this process): wall and CPU seconds.

    CPU time (``time.process_time``: all threads of this process) is the number
    to compare on a loaded machine; wall time is reported alongside.
    """
    import warnings

    import torch

    warnings.simplefilter("ignore")
    case = _case(name)
    if exporter == "onnxkit":
        import onnxkit

        def run():
            onnxkit.export(case.module, case.args, case.kwargs, dynamic_shapes=case.dynamic_shapes)
        return _measure(run, profile)
    import inspect

    from torch.export import Dim

    sig = list(inspect.signature(case.module.forward).parameters)
    named = dict(zip(sig, case.args))
    named.update(case.kwargs)
    dyn = {k: ({d: Dim.DYNAMIC for d in case.dynamic_shapes[k]} if k in case.dynamic_shapes else None)
           for k in named}

    def run():
        torch.onnx.export(case.module, case.args, kwargs=case.kwargs, dynamic_shapes=dyn, dynamo=True,
                          verbose=False)
    return _measure(run, profile)


def _measure(run, profile: str | None) -> dict:
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t0, c0 = time.perf_counter(), time.process_time()
    run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if profile:
        prof.disable()
        prof.dump_stats(profile)
    return {"seconds": wall, "cpu": cpu}


def timed(name: str, exporter: str, repeat: int) -> dict | None:
    """Median wall and CPU seconds of ``repeat`` fresh-process exports."""
    times, cpus = [], []
    for _ in range(repeat):
        r = subprocess.run([sys.executable, __file__, "--one", name, exporter], capture_output=True,
                           text=True, cwd=ROOT)
        line = [x for x in r.stdout.splitlines() if x.startswith("{")]
        if r.returncode != 0 or not line:
            print(f"  {exporter} on {name} failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
            return None
        got = json.loads(line[-1])
        times.append(got["seconds"])
        cpus.append(got["cpu"])
    return {"wall": statistics.median(times), "cpu": statistics.median(cpus)}


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
    ap.add_argument("--exporters", default="onnxkit,dynamo", help="which exporters to time")
    ap.add_argument("--profile", metavar="FILE",
                    help="with --one: write a cProfile of the export to FILE")
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one_run(*a.one, profile=a.profile)))
        return
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| model (batch 2, seq 128, dynamic) | dynamo=True CPU s | onnxkit CPU s | ratio (CPU) "
          "| dynamo=True wall s | onnxkit wall s | ratio (wall) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    exporters = a.exporters.split(",")
    for name in a.models.split(","):
        tk = timed(name, "onnxkit", a.repeat) if "onnxkit" in exporters else None
        td = timed(name, "dynamo", a.repeat) if "dynamo" in exporters else None
        cells = []
        for key in ("cpu", "wall"):
            k, d = (tk or {}).get(key), (td or {}).get(key)
            fmt = lambda t: f"{t:.2f}" if t else "-"
            cells += [fmt(d), fmt(k), f"{k / d:.2f}x" if k and d else "-"]
        print(f"| {name} | {' | '.join(cells)} |", flush=True)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if a.check:
        check_all()


if __name__ == "__main__":
    main()
