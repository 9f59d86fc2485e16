"""onnxkit against onnxruntime at 1, 2, 4, 8, 16 threads (up to the cores this
process may use, and one setting above them), on ResNet-50 and BERT-base at
batch 1 and 8.

    python benchmarks/cores.py                      # the full table (minutes per model)
    python benchmarks/cores.py --models mlp --batches 1 --repeat 5     # a quick look

What is measured, in one process: for each model, batch and thread count an
``onnxkit.Session(path, threads=t)`` and an ``onnxruntime.InferenceSession``
with ``intra_op_num_threads=t`` (``inter_op_num_threads=1``, spinning as
onnxruntime's default unless ``--ort-no-spin``) run the same inputs,
alternating run by run after ``--warmup`` runs each; the table gives the
medians, their ratio, and for every thread count above the cores available
each side's slowdown against the run at the cores available (the issue's
"oversubscription" reach: onnxkit's slowdown no worse than 1.5x
onnxruntime's).  The cores available are onnxkit's
(``onnxkit.runtime._threads.machine_cores()``: affinity and cgroup quota).
Models come from ``benchmarks/_models.py`` (exported on first use: torch and
transformers build them from configs, nothing is downloaded, so the script
runs on a machine without network once those packages are installed).

On a 16-core machine without network (the GPU machines), as one command once
the environment is there (the models are exported on first use, ~1 min):

    python benchmarks/cores.py && python benchmarks/cores.py --gemm split \
        --out benchmarks/cores_split.md --chart benchmarks/cores_split.png && \
    python benchmarks/cores.py --split-from 64 \
        --out benchmarks/cores_nosplit.md --chart benchmarks/cores_nosplit.png

(the second run has onnxkit's pool run each GEMM's pieces with BLAS on one
thread; the third turns onnxkit's own pool off, so the tables show what each
brings at each thread count).

Writes a markdown table (``--out``, default ``benchmarks/cores.md``) and,
when matplotlib is installed, a chart of latency against threads
(``benchmarks/cores.png``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def _thread_counts(cores: int, asked: str | None) -> list[int]:
    if asked:
        return sorted({int(t) for t in asked.split(",")})
    counts = [t for t in (1, 2, 4, 8, 16) if t <= cores]
    above = next((t for t in (1, 2, 4, 8, 16, 32, 64) if t > cores), cores + 1)
    return counts + [above]      # one setting above the cores present


def _ort_session(path: str, threads: int, spin: bool):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    if not spin:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def _measure(kit, ort_sess, feeds: dict, warmup: int, repeat: int) -> tuple[float, float, float]:
    """(onnxkit median s, onnxruntime median s, max abs difference), alternating."""
    import numpy as np
    a = kit.run(None, feeds)[0]
    b = ort_sess.run(None, feeds)[0]
    diff = float(np.max(np.abs(a.astype(np.float64) - b)))
    for _ in range(warmup):
        kit.run(None, feeds)
        ort_sess.run(None, feeds)
    tk, to = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        kit.run(None, feeds)
        tk.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ort_sess.run(None, feeds)
        to.append(time.perf_counter() - t0)
    return statistics.median(tk), statistics.median(to), diff


def _chart(rows: list[dict], path: str) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    keys = sorted({(r["model"], r["batch"]) for r in rows})
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6), squeeze=False)
    for ax, (m, bt) in zip(axes[0], keys):
        sel = sorted((r for r in rows if r["model"] == m and r["batch"] == bt), key=lambda r: r["threads"])
        ts = [r["threads"] for r in sel]
        ax.plot(ts, [r["kit"] * 1e3 for r in sel], "o-", label="onnxkit")
        ax.plot(ts, [r["ort"] * 1e3 for r in sel], "s-", label="onnxruntime")
        ax.set_xscale("log", base=2)
        ax.set_xticks(ts)
        ax.set_xticklabels([str(t) for t in ts])
        ax.set_title(f"{m}, batch {bt}")
        ax.set_xlabel("threads")
        ax.set_ylabel("ms (median)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="resnet50,bert", help="comma-separated, from benchmarks/_models.py")
    p.add_argument("--batches", default="1,8")
    p.add_argument("--threads", default=None, help="comma-separated counts (default 1,2,4,8,16 up to the "
                                                    "cores available, and one above)")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--ort-no-spin", action="store_true", help="onnxruntime's pool without spinning")
    p.add_argument("--split-from", type=int, default=None, metavar="N",
                   help="onnxkit's own pool splits kernels from N threads on (default: the library's "
                        "MIN_WORKERS, 4); a large N turns the pool off, to measure what it brings")
    p.add_argument("--gemm", choices=["blas", "split"], default=None,
                   help="who runs a GEMM's threads: numpy's BLAS (the default) or onnxkit's pool with BLAS "
                        "on one thread (as ONNXKIT_GEMM=split)")
    p.add_argument("--out", default=os.path.join(HERE, "cores.md"))
    p.add_argument("--chart", default=os.path.join(HERE, "cores.png"))
    args = p.parse_args(argv)

    import numpy as np
    import onnxruntime as ort

    import onnxkit
    from onnxkit.runtime import _threads
    from _models import feeds, get_model

    from onnxkit.ops import _parallel
    if args.split_from is not None:
        _parallel.MIN_WORKERS = args.split_from
    if args.gemm is not None:
        _threads.GEMM = args.gemm
    cores = _threads.machine_cores()
    counts = _thread_counts(cores, args.threads)
    blas = _threads.blas_info()
    head = (f"cores available {cores} (os.cpu_count {os.cpu_count()}), numpy {np.__version__} BLAS "
            f"{blas['name']} (thread control: {'yes' if blas['controllable'] else 'no'}), onnxruntime "
            f"{ort.__version__}, load average {os.getloadavg()[0]:.1f}, threads {counts}, onnxkit splits "
            f"its own work from {_parallel.MIN_WORKERS} threads, GEMM threads by {_threads.GEMM}")
    print(head, flush=True)
    rows = []
    for model in args.models.split(","):
        path = get_model(model)
        for batch in (int(b) for b in args.batches.split(",")):
            x = feeds(model, batch)
            for t in counts:
                kit = onnxkit.Session(path, threads=t)
                o = _ort_session(path, t, not args.ort_no_spin)
                tk, to, diff = _measure(kit, o, x, args.warmup, args.repeat)
                rows.append({"model": model, "batch": batch, "threads": t, "kit": tk, "ort": to, "diff": diff})
                print(f"{model} batch {batch} threads {t}: onnxkit {tk * 1e3:.2f} ms, onnxruntime "
                      f"{to * 1e3:.2f} ms ({tk / to:.2f}x)", flush=True)
                del kit, o
    lines = [head, "", "| model | batch | threads | onnxkit ms | onnxruntime ms | ratio | slowdown kit / ort "
             "(vs threads = cores) | max abs diff |", "|---|---|---|---|---|---|---|---|"]
    base_t = max((c for c in counts if c <= cores), default=None)     # the runs at the cores available
    for r in rows:
        base = next((q for q in rows if q["model"] == r["model"] and q["batch"] == r["batch"]
                     and q["threads"] == base_t), None)
        slow = ""
        if r["threads"] > cores and base is not None:
            sk, so_ = r["kit"] / base["kit"], r["ort"] / base["ort"]
            slow = f"{sk:.2f}x / {so_:.2f}x ({'meets' if sk <= 1.5 * max(so_, 1.0) else 'misses'} <= 1.5x ort's)"
        lines.append(f"| {r['model']} | {r['batch']} | {r['threads']} | {r['kit'] * 1e3:.2f} | "
                     f"{r['ort'] * 1e3:.2f} | {r['kit'] / r['ort']:.2f}x | {slow} | {r['diff']:.1e} |")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(args.out, "w") as f:
        f.write(text)
    if _chart(rows, args.chart):
        print(f"chart: {args.chart}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
