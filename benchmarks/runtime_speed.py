"""Inference speed: onnxkit vs onnxruntime vs onnx.reference, same models, same process.

    python benchmarks/runtime_speed.py [--models mlp,resnet50] [--batch 1,8]
        [--budget 20] [--no-reference] [--out DIR] [--png PATH] [--check]

Models (benchmarks/_models.py, exported once and cached): a tiny MLP, ResNet-50
and MobileNetV2 (plain torch), BERT-base (sequence 128), GPT-2 small with its
LM head (sequence 64), ViT-B/16; each at batch 1 and batch 8.

What is measured
----------------
Latency (one fresh child process per model, all runtimes side by side in it):

* ``onnxkit.Session(path)`` (default optimization level);
* ``onnxruntime.InferenceSession(path, so, providers=["CPUExecutionProvider"])``
  with ``so.intra_op_num_threads = 2`` and
  ``session.intra_op.allow_spinning = 0``: spinning onnxruntime threads would
  otherwise steal the cores numpy's BLAS needs when both share a process;
* ``onnx.reference.ReferenceEvaluator(path)``.

Each runtime is warmed up (at least two runs and 0.5 s), then timed in
rounds, round-robin (the runtime that goes first alternates), until the
budget for that (model, batch) is spent and each has at least 3 samples.  A
sample is a loop of as many runs as fill ~50 ms (one run for big models);
its time divided by the loop count is one latency.  The table shows the
medians and their ratio.  onnx.reference takes part in the first rounds only:
at most 3 samples when one run takes over 0.5 s, a budget of its own, one run
over --ref-limit seconds (default 60) abandons it, and a model whose batch-1
run exceeded that limit is skipped at batch 8.  A runtime that raises is
reported as ``fails: <reason>``.  "max abs diff" is the largest absolute
difference between onnxkit's and onnxruntime's outputs on the same feeds.
"GEMM GF/s" is numpy's speed on a 128x768x3072 float32 GEMM, timed once per
round between the runs: ~200-300 on an idle 2-core machine here; far below
that, other processes held the cores, numpy's 2-thread OpenBLAS (and so
onnxkit and onnx.reference) slowed down several times while onnxruntime's
non-spinning pool did not, and that row's ratio is inflated.

Session creation and peak memory (one fresh child process per runtime,
model and batch): numpy, the runtime and its op modules are imported and
warmed before the clock starts (each child first creates and runs a session
on the tiny MLP, so one-time import costs are not counted as creation); the
feeds are made; then the clock times ``Session(path)`` /
``InferenceSession(path, so, ...)`` alone, and the session is run once at
that batch.  "create s" is the wall time of that constructor (the median of
up to 5 creations in that child, fewer once they add up to 3 s), "1st run s"
that of the first run after it (work a runtime defers shows up there); "peak MB" is
the child's peak resident set size (``VmHWM`` of /proc/self/status; not
``ru_maxrss``, which a child started by fork and exec inherits from this
parent process) over its whole life, so it includes the interpreter, numpy and the runtime's
own import (the RSS at the clock start is printed too).  The model file is in
the page cache (the latency child read it just before), so these are
warm-cache numbers.

Output: a table printed as the runs finish, ``DIR/runtime_speed.md`` (the
markdown table and these notes; DIR is --out, default benchmarks/_out), and
a PNG chart of the onnxkit/onnxruntime ratios.  The chart goes to
``benchmarks/runtime_speed.png`` (committed) when every model runs at the
default batches and --out is left at its default; otherwise to
``DIR/runtime_speed.png``, so partial runs never overwrite the committed
chart; --png PATH overrides both.

Targets (--check exits 1 and lists the misses): onnxkit at most 1.3x
onnxruntime's latency at batch 1 and 1.1x at batch 8 (the MLP: 3x at both);
session creation faster than onnxruntime's; peak memory no higher.

Numbers are noisy on a shared 2-core machine; ratios measured in one process
with alternating runs are the figures to trust, absolute milliseconds less so.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import _models  # noqa: E402  (the benchmark model zoo, next to this file)

DEFAULT_OUT = os.path.join(HERE, "_out")
COMMITTED_PNG = os.path.join(HERE, "runtime_speed.png")
TAG = "@@RESULT "               # children print result lines with this prefix
SAMPLE_S = 0.05                 # a sample loops runs for about this long
MIN_SAMPLES = 3
REF_MAX_SAMPLES_SLOW = 3        # onnx.reference samples when one run takes > 0.5 s
BUSY_GFLOPS = 100               # below this numpy GEMM speed a row is flagged as measured on a busy machine
CREATE_REPEATS = 5              # session creations per child (fewer past 3 s in all)


def targets(model: str) -> dict[int, float]:
    """Latency ratio targets (onnxkit / onnxruntime) by batch."""
    return {1: 3.0, 8: 3.0} if model == "mlp" else {1: 1.3, 8: 1.1}


def emit(kind: str, **data) -> None:
    """A child's result line, read by the parent."""
    print(TAG + json.dumps({"kind": kind, **data}), flush=True)


def short(exc: BaseException, n: int = 48) -> str:
    """A one-line, table-sized reason for a failure."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
    return text if len(text) <= n else text[: n - 1] + "…"


def ort_session(path: str):
    """onnxruntime's session with the settings this benchmark uses throughout."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


# ------------------------------------------------------------------ latency child


class GemmProbe:
    """numpy's speed on one BERT-sized GEMM, sampled once per round: a busy
    machine slows numpy's multi-threaded OpenBLAS far more than onnxruntime's
    non-spinning pool, so a low figure marks a row whose ratio is inflated."""

    def __init__(self):
        import numpy as np

        self.a = np.ones((128, 768), np.float32)
        self.b = np.ones((768, 3072), np.float32)
        self.times: list[float] = []

    def sample(self) -> None:
        t0 = time.perf_counter()
        self.a @ self.b
        self.times.append(time.perf_counter() - t0)

    def gflops(self) -> float:
        return 2 * 128 * 768 * 3072 / statistics.median(self.times) / 1e9


class _Timeout(Exception):
    pass


def _alarm(seconds: float):
    """Arm SIGALRM to raise _Timeout after ``seconds`` (0 disarms)."""
    def handler(signum, frame):
        raise _Timeout(f"one run over {seconds:g} s")
    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)


class Runner:
    """One runtime under test: a ``run(feeds)`` callable, its samples, and its state."""

    def __init__(self, name: str, run, budget: float | None = None, cap_when_slow: bool = False):
        self.name, self.run = name, run
        self.samples: list[float] = []
        self.reps = 1
        self.budget, self.cap_when_slow = budget, cap_when_slow
        self.max_samples: int | None = None
        self.spent = 0.0
        self.status = ""            # "" while fine, else "fails: ..." / "skipped: ..."

    def warm(self, feeds, limit: float | None = None):
        """Run until warm (>= 2 runs and 0.5 s); size the sample loop. Returns the output."""
        t0 = time.perf_counter()
        if limit:
            _alarm(limit)
        try:
            out = self.run(feeds)
        finally:
            if limit:
                signal.setitimer(signal.ITIMER_REAL, 0)
        first = time.perf_counter() - t0
        self.spent += first
        if self.cap_when_slow and first > 0.5:
            self.max_samples = REF_MAX_SAMPLES_SLOW
            self.samples.append(first)      # too slow to waste a run on warming
            return out
        runs, t0 = 0, time.perf_counter()
        while runs < 2 or time.perf_counter() - t0 < 0.5:
            self.run(feeds)
            runs += 1
        per = (time.perf_counter() - t0) / runs
        self.spent += per * runs
        self.reps = max(1, round(SAMPLE_S / per))
        return out

    @property
    def active(self) -> bool:
        if self.status:
            return False
        if self.max_samples is not None and len(self.samples) >= self.max_samples:
            return False
        return self.budget is None or self.spent < self.budget

    def sample(self, feeds):
        run, reps = self.run, self.reps
        t0 = time.perf_counter()
        for _ in range(reps):
            run(feeds)
        dt = time.perf_counter() - t0
        self.spent += dt
        self.samples.append(dt / reps)

    def median_ms(self):
        return statistics.median(self.samples) * 1e3 if self.samples else None


def child_latency(model: str, batches: list[int], budget: float, reference: bool, ref_limit: float) -> None:
    """Time onnxkit, onnxruntime and onnx.reference on ``model``; emit one result per batch."""
    import numpy as np

    import onnxkit

    path = _models.get_model(model)
    with open(path, "rb") as f:          # warm the page cache for everyone
        while f.read(1 << 24):
            pass
    kit = onnxkit.Session(path)
    ort = ort_session(path)
    ref, ref_status = None, "skipped: --no-reference" if not reference else ""
    if reference:
        try:
            from onnx.reference import ReferenceEvaluator
            ref = ReferenceEvaluator(path)
        except Exception as e:          # noqa: BLE001 - reported, not raised
            ref_status = "fails: " + short(e)

    for batch in batches:
        feeds = _models.feeds(model, batch)
        runners = [Runner("onnxkit", lambda f: kit.run(None, f)),
                   Runner("onnxruntime", lambda f: ort.run(None, f))]
        ref_runner = Runner("onnx.reference", lambda f: ref.run(None, f), budget=budget / 2, cap_when_slow=True)
        ref_runner.status = ref_status
        result = {"model": model, "batch": batch}
        outs = {}
        for r in runners:
            try:
                outs[r.name] = r.warm(feeds)
            except Exception as e:      # noqa: BLE001
                r.status = "fails: " + short(e)
        if not ref_runner.status:
            try:
                ref_runner.warm(feeds, limit=ref_limit)
            except _Timeout as e:
                ref_runner.status = f"skipped: {e}"
                ref_status = f"skipped: batch {batch} over {ref_limit:g} s"
            except Exception as e:      # noqa: BLE001
                ref_runner.status = "fails: " + short(e)
        if "onnxkit" in outs and "onnxruntime" in outs:
            result["max_abs_diff"] = max(
                float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
                for a, b in zip(outs["onnxkit"], outs["onnxruntime"]))

        live = [r for r in runners if not r.status]
        probe = GemmProbe()
        t0, rnd = time.perf_counter(), 0
        while live and (time.perf_counter() - t0 < budget
                        or min(len(r.samples) for r in live) < MIN_SAMPLES):
            order = live if rnd % 2 == 0 else live[::-1]
            if ref_runner.active:
                order = order + [ref_runner]
            for r in order:
                try:
                    r.sample(feeds)
                except Exception as e:  # noqa: BLE001
                    r.status = "fails: " + short(e)
            live = [r for r in live if not r.status]
            probe.sample()
            rnd += 1
        result["gemm_gflops"] = probe.gflops() if probe.times else None
        gc.collect()

        for r in runners + [ref_runner]:
            result[r.name] = {"ms": r.median_ms(), "n": len(r.samples), "reps": r.reps,
                              "status": r.status,
                              "spread_ms": ([min(r.samples) * 1e3, max(r.samples) * 1e3]
                                            if r.samples else None)}
        emit("latency", **result)


# ------------------------------------------------------------------ creation child


def _peak_rss_mb() -> float:
    """This process image's RSS high-water mark (ru_maxrss keeps the parent's across exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024     # no /proc: KiB on Linux


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child_create(runtime: str, model: str, batch: int) -> None:
    """Time creating one session from the path, run it once; report time and peak RSS."""
    if runtime == "onnxkit":
        import onnxkit

        def make(p):
            return onnxkit.Session(p)
    else:
        make = ort_session
    warm = _models.get_model("mlp")          # imports the op modules and warms the runtime
    make(warm).run(None, _models.feeds("mlp", 1))
    path = _models.get_model(model)
    feeds = _models.feeds(model, batch)
    gc.collect()
    before = _rss_mb()
    t0 = time.perf_counter()
    sess = make(path)
    t1 = time.perf_counter()
    sess.run(None, feeds)
    t2 = time.perf_counter()
    peak = _peak_rss_mb()
    times = [t1 - t0]
    while len(times) < CREATE_REPEATS and sum(times) < 3.0:     # creation again, for the median
        del sess
        gc.collect()
        t0 = time.perf_counter()
        sess = make(path)
        times.append(time.perf_counter() - t0)
    emit("create", runtime=runtime, model=model, batch=batch, create_s=statistics.median(times),
         creations=len(times), first_run_s=t2 - t1, rss_before_mb=before, peak_mb=peak)


# ------------------------------------------------------------------ parent


def spawn(args: list[str], timeout: float | None = None):
    """Run this script as a child; yield its result records as they arrive."""
    cmd = [sys.executable, os.path.abspath(__file__), *args]
    err = tempfile.TemporaryFile("w+")        # a pipe could fill up and block the child
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        for line in proc.stdout:
            if line.startswith(TAG):
                yield json.loads(line[len(TAG):])
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err.seek(0)
    tail = err.read().strip().splitlines()[-3:]
    err.close()
    if proc.returncode:
        yield {"kind": "error", "args": args, "reason": " | ".join(tail) or f"exit {proc.returncode}"}


def machine_state() -> str:
    """Load average and numpy's GEMM speed now: how busy the shared machine was."""
    probe = GemmProbe()
    for _ in range(7):
        probe.sample()
    return f"load average {os.getloadavg()[0]:.1f}, numpy GEMM 128x768x3072 {probe.gflops():.0f} GFLOP/s"


def fmt_ms(v) -> str:
    if v is None:
        return "—"
    return f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:.0f}"


def ref_cell(row) -> str:
    ref, ort = row.get("onnx.reference", {}), row.get("onnxruntime", {})
    if ref.get("ms") is not None and ort.get("ms"):
        return f"{ref['ms'] / ort['ms']:.1f}x ({ref['n']} run{'s' if ref['n'] > 1 else ''})" if ref["n"] < MIN_SAMPLES \
            else f"{ref['ms'] / ort['ms']:.1f}x"
    return ref.get("status") or "—"


def kit_ratio(row):
    a, b = row.get("onnxkit", {}).get("ms"), row.get("onnxruntime", {}).get("ms")
    return a / b if a and b else None


COLUMNS = ["model", "batch", "onnxkit ms", "onnxruntime ms", "ratio", "target",
           "onnx.reference / ort", "create s kit / ort", "1st run s kit / ort", "peak MB kit / ort",
           "max abs diff", "GEMM GF/s"]


def table_row(row, create) -> list[str]:
    m, b = row["model"], row["batch"]
    kit, ort = row.get("onnxkit", {}), row.get("onnxruntime", {})
    r = kit_ratio(row)
    ck, co = create.get(("onnxkit", m, b), {}), create.get(("onnxruntime", m, b), {})

    def pair(key, f):
        a, c = ck.get(key), co.get(key)
        return f"{f(a) if a is not None else ck.get('reason', '—')} / {f(c) if c is not None else co.get('reason', '—')}"
    diff = row.get("max_abs_diff")
    return [m, str(b), kit.get("status") or fmt_ms(kit.get("ms")), ort.get("status") or fmt_ms(ort.get("ms")),
            f"{r:.2f}x" if r else "—", f"≤ {targets(m)[b if b in (1, 8) else 8]}x", ref_cell(row),
            pair("create_s", lambda v: f"{v:.3f}" if v < 0.1 else f"{v:.2f}"), pair("first_run_s", lambda v: f"{v:.2f}"), pair("peak_mb", lambda v: f"{v:.0f}"),
            f"{diff:.1e}" if diff is not None else "—",
            f"{row['gemm_gflops']:.0f}" if row.get("gemm_gflops") else "—"]


def markdown(rows, create, meta) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join(["---"] * len(COLUMNS)) + "|"]
    lines += ["| " + " | ".join(table_row(r, create)) + " |" for r in rows]
    notes = __doc__.split("What is measured\n----------------\n")[1].split("\nOutput:")[0].strip()
    return "\n".join([
        f"# onnxkit runtime speed ({meta['date']})", "",
        f"{meta['machine']}; onnxkit {meta['onnxkit']}, onnxruntime {meta['ort']}, onnx {meta['onnx']}, "
        f"numpy {meta['numpy']}; budget {meta['budget']:g} s per model and batch. "
        "Latencies are medians; ratio = onnxkit / onnxruntime (lower is better).", "",
        f"Machine state at the start: {meta['state_start']}; at the end: {meta['state_end']} "
        "(see \"GEMM GF/s\" below: a busy machine inflates the ratios).", "",
        *lines, "",
        "RSS at the clock start of each creation child (interpreter, numpy, runtime imported and warmed): "
        + ", ".join(f"{k} ~{v:.0f} MB" for k, v in meta["baseline_rss"].items()) + ".", "",
        notes, ""])


def chart(rows, path: str, meta) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in rows))
    batches = sorted({r["batch"] for r in rows})
    width = 0.8 / len(batches)
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=90)
    colors = ["#4c72b0", "#dd8452", "#55a868", "#c44e52"]
    for j, b in enumerate(batches):
        xs, ys = [], []
        for i, m in enumerate(models):
            r = next((kit_ratio(x) for x in rows if x["model"] == m and x["batch"] == b), None)
            x = i - 0.4 + width * (j + 0.5)
            busy = any(x_["model"] == m and x_["batch"] == b and (x_.get("gemm_gflops") or 1e9) < BUSY_GFLOPS
                       for x_ in rows)
            if r:
                xs.append(x)
                ys.append(r)
            label = (f"{r:.2f}" if r else "n/a") + ("\nbusy" if busy else "")
            ax.text(x, r or 1.0, label, ha="center", va="bottom", fontsize=7)
            t = targets(m).get(b, targets(m)[8])
            ax.hlines(t, x - width / 2, x + width / 2, colors="black", linestyles="--", linewidth=1.2)
        ax.bar(xs, ys, width * 0.95, label=f"batch {b}", color=colors[j % len(colors)])
    ax.axhline(1.0, color="gray", linewidth=0.8)
    ax.plot([], [], "k--", label="target (b1 1.3x, b8 1.1x; MLP 3x)")
    # "busy": numpy's GEMM ran below BUSY_GFLOPS during that row, its ratio is inflated
    ax.set_xticks(range(len(models)), models)
    ax.set_yscale("log")
    ax.set_ylabel("latency onnxkit / onnxruntime")
    shown = [kit_ratio(r) for r in rows if kit_ratio(r)] + [3.0]
    ax.set_ylim(min(0.5, min(shown) / 1.5), max(shown) * 3)     # headroom for labels and legend
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
    ax.yaxis.set_major_locator(FixedLocator([0.25, 0.5, 1, 2, 3, 5, 10, 20, 50, 100, 200, 500]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_title(f"onnxkit vs onnxruntime latency (lower is better) — "
                 f"{os.cpu_count()} cores, {meta['date']}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", ncol=3)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def check(rows, create) -> list[str]:
    """The targets missed, one line each."""
    missed = []
    for row in rows:
        m, b = row["model"], row["batch"]
        r, t = kit_ratio(row), targets(m).get(b, targets(m)[8])
        if r is None or r > t:
            missed.append(f"{m} b{b}: latency ratio {f'{r:.2f}' if r else 'n/a'}x > {t}x")
        ck, co = create.get(("onnxkit", m, b), {}), create.get(("onnxruntime", m, b), {})
        for key, what, strict in (("create_s", "session creation", True), ("peak_mb", "peak memory", False)):
            a, c = ck.get(key), co.get(key)
            if a is None or c is None:
                missed.append(f"{m} b{b}: {what} not measured")
            elif (a >= c) if strict else (a > c):
                missed.append(f"{m} b{b}: {what} onnxkit {a:.4g} vs onnxruntime {c:.4g}")
    return missed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(_models.MODELS))
    p.add_argument("--batch", default="1,8")
    p.add_argument("--budget", type=float, default=20.0, help="seconds of timed rounds per model and batch")
    p.add_argument("--no-reference", action="store_true", help="leave out onnx.reference")
    p.add_argument("--ref-limit", type=float, default=60.0, help="abandon onnx.reference past one run this long")
    p.add_argument("--out", default=None, help=f"folder for runtime_speed.md (default {DEFAULT_OUT})")
    p.add_argument("--png", default=None, help="where the chart goes (see the module docstring)")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    p.add_argument("--child", choices=["latency", "create"], help=argparse.SUPPRESS)
    p.add_argument("--runtime", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    models = [m.strip() for m in a.models.split(",") if m.strip()]
    batches = [int(b) for b in a.batch.split(",")]
    unknown = [m for m in models if m not in _models.MODELS]
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(_models.MODELS)}")

    if a.child == "latency":
        child_latency(models[0], batches, a.budget, not a.no_reference, a.ref_limit)
        return 0
    if a.child == "create":
        child_create(a.runtime, models[0], batches[0])
        return 0

    import numpy
    import onnx
    import onnxruntime

    import onnxkit
    out = a.out or DEFAULT_OUT
    full = models == list(_models.MODELS) and batches == [1, 8] and a.out is None
    png = a.png or (COMMITTED_PNG if full else os.path.join(out, "runtime_speed.png"))
    meta = {"date": datetime.date.today().isoformat(),
            "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
            "onnxkit": getattr(onnxkit, "__version__", "?"), "ort": onnxruntime.__version__,
            "onnx": onnx.__version__, "numpy": numpy.__version__, "budget": a.budget, "baseline_rss": {}}
    meta["state_start"] = machine_state()
    print(f"{meta['machine']}; {meta['state_start']}; budget {a.budget:g} s per model and batch; creation/memory "
          "children import and warm their runtime on the MLP before the clock (import cost not counted)", flush=True)
    widths = [12, 5, 10, 14, 7, 7, 20, 19, 19, 18, 12, 9]
    print("  ".join(c[:w].ljust(w) for c, w in zip(COLUMNS, widths)), flush=True)

    rows, create = [], {}
    t_start = time.perf_counter()
    for m in models:
        _models.get_model(m)            # export here if missing, not inside a timed child
        got = []
        base = ["--models", m, "--batch", ",".join(map(str, batches)), "--budget", str(a.budget),
                "--ref-limit", str(a.ref_limit)] + (["--no-reference"] if a.no_reference else [])
        for rec in spawn(["--child", "latency", *base]):
            if rec["kind"] == "error":
                print(f"  {m}: latency child failed: {rec['reason']}", flush=True)
                continue
            got.append(rec)
            k, o = rec["onnxkit"], rec["onnxruntime"]
            print(f"  .. {m} b{rec['batch']}: onnxkit {fmt_ms(k['ms'])} ms ({k['n']}x{k['reps']}), "
                  f"onnxruntime {fmt_ms(o['ms'])} ms ({o['n']}x{o['reps']}), "
                  f"reference {ref_cell(rec)}, GEMM {rec.get('gemm_gflops') or 0:.0f} GFLOP/s", flush=True)
        if not got:
            got = [{"model": m, "batch": b, "onnxkit": {"status": "fails: child died"},
                    "onnxruntime": {}} for b in batches]
        for b in batches:
            for rt in ("onnxkit", "onnxruntime"):
                recs = list(spawn(["--child", "create", "--runtime", rt, "--models", m, "--batch", str(b)],
                                  timeout=600))
                rec = next((r for r in recs if r["kind"] == "create"), None)
                if rec is None:
                    reason = recs[-1]["reason"] if recs else "no result"
                    create[(rt, m, b)] = {"reason": "fails"}
                    print(f"  {m} b{b}: {rt} creation child failed: {reason}", flush=True)
                    continue
                create[(rt, m, b)] = rec
                meta["baseline_rss"].setdefault(rt, rec["rss_before_mb"])
        for rec in got:
            rows.append(rec)
            print("  ".join(c.ljust(w) for c, w in zip(table_row(rec, create), widths)), flush=True)

    meta["state_end"] = machine_state()
    print(f"machine at the end: {meta['state_end']}", flush=True)
    os.makedirs(out, exist_ok=True)
    md = os.path.join(out, "runtime_speed.md")
    with open(md, "w") as f:
        f.write(markdown(rows, create, meta))
    chart(rows, png, meta)
    print(f"\nwrote {md} and {png} in {time.perf_counter() - t_start:.0f} s", flush=True)
    busy = [f"{r['model']} b{r['batch']}" for r in rows if (r.get("gemm_gflops") or 1e9) < BUSY_GFLOPS]
    if busy:
        print(f"WARNING: numpy's GEMM ran below {BUSY_GFLOPS} GFLOP/s during {', '.join(busy)}: the machine was "
              "busy and those ratios are inflated; rerun them on an idle machine", flush=True)
    if a.check:
        missed = check(rows, create)
        print("\ntargets: " + ("all met" if not missed else f"{len(missed)} missed"), flush=True)
        for line in missed:
            print("  MISSED " + line, flush=True)
        return 1 if missed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
