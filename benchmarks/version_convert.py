"""onnxkit.convert against onnx.version_converter on the ONNX conformance
node tests: for the same (model, target opset) pairs, how many each converts
correctly (valid at the target for onnxkit's checker, the expected outputs in
onnxkit.Session), how many each refuses, and how many come out wrong or
invalid.  Prints a table; not a timed test.

    python benchmarks/version_convert.py                  # targets 11 13 17 21 28
    python benchmarks/version_convert.py --targets 7-28   # every opset
    python benchmarks/version_convert.py --details wrong  # list onnx's wrong/invalid results
    python benchmarks/version_convert.py --onnxruntime    # also run onnxkit's conversions in onnxruntime

onnx's converter runs in worker processes (it can abort the process on some
models); a worker that dies counts as a crash.  Cases whose original model
does not give the expected outputs in onnxkit are left out (see
tests/convert/_harness.py).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures as cf
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from tests.convert import _harness as h  # noqa: E402

COLUMNS = ("ok", "refused", "wrong", "invalid", "crash")
#: a case whose original model is not right in onnxkit counts for neither converter


def _targets(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.replace(",", " ").split():
        if "-" in part:
            a, b = part.split("-")
            out += range(int(a), int(b) + 1)
        else:
            out.append(int(part))
    return out


def _onnx_job(args: tuple[int, int]) -> tuple[str, str]:
    index, target = args
    case = h.cases()[index]
    return h.outcome(case, target, h.onnx_convert, refusal=(Exception,))


def _onnxkit_job(args: tuple[int, int]) -> tuple[str, str]:
    index, target = args
    return h.outcome(h.cases()[index], target)


def _ort_job(args: tuple[int, int]) -> str:
    """onnxkit's conversion of a case run in onnxruntime: "agrees", "differs",
    "cannot run" (onnxruntime lacks a kernel at the target), or "n/a"
    (onnxruntime does not give the expected outputs on the original either)."""
    import onnxruntime as ort
    ort.set_default_logger_severity(3)
    index, target = args
    case = h.cases()[index]

    def right(data: bytes) -> bool:
        try:
            return h.run_onnxruntime(data, case)
        except Exception:   # noqa: BLE001
            return False
    if not right(case.data):
        return "n/a"
    try:
        return "agrees" if h.run_onnxruntime(h.onnxkit_convert(case.data, target), case) else "differs"
    except Exception:   # noqa: BLE001
        return "cannot run"


def _baseline_job(index: int) -> bool:
    return h.baseline_ok(h.cases()[index].name)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--targets", default="11 13 17 21 28")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--details", choices=["wrong", "all"], help="list the cases that are not ok")
    p.add_argument("--onnxruntime", action="store_true",
                   help="run onnxkit's correct conversions in onnxruntime too (a column per outcome)")
    args = p.parse_args()
    targets = _targets(args.targets)
    t0 = time.perf_counter()
    with cf.ProcessPoolExecutor(args.workers) as pool:
        n = len(h.cases())
        base = list(pool.map(_baseline_job, range(n), chunksize=32))
        pairs = [(i, t) for t in targets for i in range(n) if base[i] and h.cases()[i].opset != t]
        kit = dict(zip(pairs, pool.map(_onnxkit_job, pairs, chunksize=16)))
        ok_pairs = [pr for pr in pairs if kit[pr][0] == "ok"] if args.onnxruntime else []
        ort_res = dict(zip(ok_pairs, pool.map(_ort_job, ok_pairs, chunksize=16)))
    onnx_res = {}
    pending = list(pairs)
    while pending:          # a worker killed by onnx's converter breaks the pool: restart after it
        with cf.ProcessPoolExecutor(args.workers) as pool:
            futs = {pool.submit(_onnx_job, pr): pr for pr in pending}
            for f in cf.as_completed(futs):
                pr = futs[f]
                try:
                    onnx_res[pr] = f.result()
                except cf.process.BrokenProcessPool:
                    pass
                except Exception as e:   # noqa: BLE001
                    onnx_res[pr] = ("crash", repr(e))
        left = [pr for pr in pending if pr not in onnx_res]
        if len(left) == len(pending):
            for pr in left:
                onnx_res[pr] = ("crash", "the converter killed its process")
            break
        pending = left
    print(f"{sum(base)} of {len(base)} node tests give their expected outputs in onnxkit as written "
          f"(the rest left out); {time.perf_counter() - t0:.0f} s\n")
    head = f"{'target':>6} {'pairs':>6} | " + " ".join(f"{c:>8}" for c in COLUMNS) + " | " + \
        " ".join(f"{c:>8}" for c in COLUMNS)
    print(f"{'':>15} | {'onnxkit':^44} | {'onnx.version_converter':^44}")
    print(head)
    print("-" * len(head))
    totals = {"kit": collections.Counter(), "onnx": collections.Counter()}
    for t in targets:
        ps = [pr for pr in pairs if pr[1] == t]
        k = collections.Counter(kit[pr][0] for pr in ps)
        o = collections.Counter(onnx_res[pr][0] for pr in ps)
        totals["kit"].update(k)
        totals["onnx"].update(o)
        print(f"{t:>6} {len(ps):>6} | " + " ".join(f"{k[c]:>8}" for c in COLUMNS) + " | "
              + " ".join(f"{o[c]:>8}" for c in COLUMNS))
    k, o = totals["kit"], totals["onnx"]
    print("-" * len(head))
    print(f"{'all':>6} {len(pairs):>6} | " + " ".join(f"{k[c]:>8}" for c in COLUMNS) + " | "
          + " ".join(f"{o[c]:>8}" for c in COLUMNS))
    if args.onnxruntime:
        print("\nonnxkit's correct conversions run in onnxruntime (n/a: onnxruntime does not give the "
              "expected outputs on the original model either)")
        print(f"{'target':>6} | {'agrees':>8} {'differs':>8} {'cannot run':>10} {'n/a':>8}")
        for t in targets:
            c = collections.Counter(r for pr, r in ort_res.items() if pr[1] == t)
            print(f"{t:>6} | {c['agrees']:>8} {c['differs']:>8} {c['cannot run']:>10} {c['n/a']:>8}")
        for pr, r in sorted(ort_res.items()):
            if r in ("differs", "cannot run"):
                print(f"  onnxruntime {r}: {h.cases()[pr[0]].name} -> {pr[1]}")
    if args.details:
        for name, res in (("onnxkit", kit), ("onnx", onnx_res)):
            for pr, (r, d) in sorted(res.items()):
                if r not in ("ok", "refused") or args.details == "all" and r != "ok":
                    c = h.cases()[pr[0]]
                    print(f"{name}: {c.name} {c.opset}->{pr[1]}: {r}: {d}")


if __name__ == "__main__":
    main()
