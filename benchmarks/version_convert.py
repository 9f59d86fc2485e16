"""onnxkit.convert against onnx.version_converter on the ONNX conformance
node tests and model tests (simple/, pytorch-converted/, pytorch-operator/):
for the same (model, target opset) pairs, how many each converts
correctly (valid at the target for onnxkit's checker, the expected outputs in
onnxkit.Session), how many each refuses, and how many come out wrong or
invalid.  Prints a table; not a timed test.

    python benchmarks/version_convert.py                  # targets 11 13 17 21 28
    python benchmarks/version_convert.py --targets 7-28   # every opset
    python benchmarks/version_convert.py --details wrong  # list onnx's wrong/invalid results
    python benchmarks/version_convert.py --onnxruntime    # also run onnxkit's conversions in onnxruntime
    python benchmarks/version_convert.py --bert-base      # BERT-base (random weights) 17 -> 13: time, weight reads
    python benchmarks/version_convert.py --for-onnxruntime 1.20   # the cases onnxruntime 1.20 refuses
                                                    # for their IR/opset, after convert --for onnxruntime

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
    case = h.all_cases()[index]
    return h.outcome(case, target, h.onnx_convert, refusal=(Exception,))


def _onnxkit_job(args: tuple[int, int]) -> tuple[str, str]:
    index, target = args
    return h.outcome(h.all_cases()[index], target)


def _ort_job(args: tuple[int, int]) -> str:
    """onnxkit's conversion of a case run in onnxruntime: "agrees", "differs",
    "cannot run" (onnxruntime lacks a kernel at the target), or "n/a"
    (onnxruntime does not give the expected outputs on the original either)."""
    import onnxruntime as ort
    ort.set_default_logger_severity(3)
    index, target = args
    case = h.all_cases()[index]

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


def _suite(index: int) -> str:
    return "model" if "/" in h.all_cases()[index].name else "node"


def _table(suite: str, pairs: list, targets: list[int], kit: dict, onnx_res: dict) -> None:
    print(f"\n{suite} tests")
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


def for_onnxruntime(version: str | None) -> None:
    """The cases whose IR or ai.onnx opset is newer than what onnxruntime
    ``version`` loads, converted with ``target="onnxruntime"`` (that
    version's limits): how many then run in the installed onnxruntime with
    the expected outputs."""
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    counts = collections.Counter()
    for case in h.all_cases():
        res = h.for_onnxruntime_outcome(case, version)
        counts[res[0]] += 1
        if res[0] not in ("loads", "runs right"):
            print(f"  {case.name}: {res[0]}: {res[1]}")
    ir, opset, ml = h.onnxruntime_limits(version)
    print(f"onnxruntime {version or ort.__version__} loads IR <= {ir}, ai.onnx <= {opset}, "
          f"ai.onnx.ml <= {ml}; run in onnxruntime {ort.__version__}")
    print(f"  {counts['loads']} cases within those limits (not converted)")
    refused = sum(v for k, v in counts.items() if k != "loads")
    print(f"  {refused} cases beyond them, after convert --for onnxruntime: "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k != "loads"))


def bert_base() -> None:
    """transformers' BertModel at its default (base) size, exported with
    torch.onnx (opset 17, weights in external data), converted to opset 13
    five times: the best time, and which external tensors were mapped."""
    import tempfile
    import warnings

    import torch
    import transformers

    import onnxkit
    from onnxkit.convert import convert_version
    from onnxkit.ir._tensor import ExternalFiles

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "bert.onnx")
        torch.manual_seed(0)
        from tests._real_models import _TextWrapper
        model = _TextWrapper(transformers.BertModel(transformers.BertConfig()).eval()).eval()
        ids = torch.randint(0, 1000, (1, 16))
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (ids, torch.ones_like(ids)), path, dynamo=False, opset_version=17,
                              input_names=["input_ids", "attention_mask"],
                              dynamic_axes={"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}})
        tmp = onnxkit.load(path)
        onnxkit.save(tmp, path, external_data=True)     # all weights into one external file
        read: list = []
        real = ExternalFiles.get

        def get(self, p, name):
            read.append(name)
            return real(self, p, name)
        ExternalFiles.get = get
        times = []
        try:
            for _ in range(5):
                m = onnxkit.load(path)
                t0 = time.perf_counter()
                out = convert_version(m, 13)
                times.append(time.perf_counter() - t0)
        finally:
            ExternalFiles.get = real
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        print(f"BERT-base ({size / 2**20:.0f} MiB, {len(list(out.graph))} nodes at 13) 17 -> 13: "
              f"best {min(times):.3f} s, median {sorted(times)[2]:.3f} s; external tensors mapped: "
              f"{len(read)} {sorted(set(read))[:12]}")


def _baseline_job(index: int) -> bool:
    return h.baseline_ok(h.all_cases()[index].name)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--targets", default="11 13 17 21 28")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--details", choices=["wrong", "all"], help="list the cases that are not ok")
    p.add_argument("--onnxruntime", action="store_true",
                   help="run onnxkit's correct conversions in onnxruntime too (a column per outcome)")
    p.add_argument("--for-onnxruntime", metavar="VERSION", nargs="?", const="",
                   help="count the cases an onnxruntime version (default: the installed one) refuses "
                        "for their IR or opset version, and how many run right in the installed "
                        "onnxruntime after convert --for onnxruntime")
    p.add_argument("--bert-base", action="store_true",
                   help="export BERT-base (random weights, external data) at opset 17 and time its "
                        "conversion to 13, counting the weight bytes read")
    args = p.parse_args()
    if args.bert_base:
        bert_base()
        return
    if args.for_onnxruntime is not None:
        for_onnxruntime(args.for_onnxruntime or None)
        return
    targets = _targets(args.targets)
    t0 = time.perf_counter()
    with cf.ProcessPoolExecutor(args.workers) as pool:
        n = len(h.all_cases())
        base = list(pool.map(_baseline_job, range(n), chunksize=32))
        pairs = [(i, t) for t in targets for i in range(n) if base[i] and h.all_cases()[i].opset != t]
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
    print(f"{sum(base)} of {len(base)} node and model tests give their expected outputs in onnxkit as written "
          f"(the rest left out); {time.perf_counter() - t0:.0f} s\n")
    for suite in ("node", "model"):
        _table(suite, [pr for pr in pairs if _suite(pr[0]) == suite], targets, kit, onnx_res)
    if args.onnxruntime:
        print("\nonnxkit's correct conversions run in onnxruntime (n/a: onnxruntime does not give the "
              "expected outputs on the original model either)")
        print(f"{'target':>6} | {'agrees':>8} {'differs':>8} {'cannot run':>10} {'n/a':>8}")
        for t in targets:
            c = collections.Counter(r for pr, r in ort_res.items() if pr[1] == t)
            print(f"{t:>6} | {c['agrees']:>8} {c['differs']:>8} {c['cannot run']:>10} {c['n/a']:>8}")
        for pr, r in sorted(ort_res.items()):
            if r in ("differs", "cannot run"):
                print(f"  onnxruntime {r}: {h.all_cases()[pr[0]].name} -> {pr[1]}")
    if args.details:
        for name, res in (("onnxkit", kit), ("onnx", onnx_res)):
            for pr, (r, d) in sorted(res.items()):
                if r not in ("ok", "refused") or args.details == "all" and r != "ok":
                    c = h.all_cases()[pr[0]]
                    print(f"{name}: {c.name} {c.opset}->{pr[1]}: {r}: {d}")


if __name__ == "__main__":
    main()
