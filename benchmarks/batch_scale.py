"""Batch inference on Ray, on one machine: how `onnxkit batch` scales with workers, how close
one worker comes to a plain loop over onnxkit.Session, what the hand-written Ray Data +
onnxruntime script users write today does, and what workers of one big model hold in memory.

    python benchmarks/batch_scale.py [--rows 200000] [--hidden 256,2048] [--images 10000]
        [--model-mb 400] [--only tabular,images,memory] [--png benchmarks/batch_scale.png]

Workloads (written under a temporary folder):
- tabular: ``--rows`` rows of 64 float features in 8 Parquet files, through an MLP
  64-H-H-10 for each H of ``--hidden`` (256: a small MLP, where Ray's fixed costs show;
  2048: one whose compute dominates);
- images: ``--images`` generated 256x256 JPEG files, decoded, resized to 224x224 and
  normalized in the workers, through a ResNet-style CNN (7x7/2 stem, max pool, three
  stages of two residual blocks, 8-16-32 channels, global pool, a linear head);
- memory: a ``--model-mb`` MLP (weights inline in the .onnx, as exporters write them) run
  by 1 and 2 workers; the summed proportional set size (PSS: a page shared by two
  processes counts half in each) of the worker processes, sampled every 50 ms.

Each worker holds one core (``threads=1``) so that adding a worker adds a core, as adding a
machine does on a cluster; "1 worker, all cores" is the default a user gets with
``--workers 1`` (its share: every core as BLAS threads).  The plain loop runs in this
process with the same thread count.  Timings include starting the workers (the time a user
waits for); Ray itself is started once before.  Prints a table and, with matplotlib, writes
a chart of rows/s against workers.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import tempfile
import threading
import time

import numpy as np


# ---------------------------------------------------------------- models and data

def _save(nodes, inits, inp, out, path: str, name: str) -> None:
    import onnx
    from onnx import helper
    g = helper.make_graph(nodes, name, [inp], [out], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=10), path)


def write_mlp(path: str, features: int, hidden: int, seed: int = 0, layers: int = 2) -> None:
    """x float[N,features] -> ``layers`` hidden layers of ``hidden`` (Relu) -> y float[N,10]."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    sizes = [features] + [hidden] * layers + [10]
    nodes, inits, prev = [], [], "x"
    for k in range(len(sizes) - 1):
        w = (rng.standard_normal((sizes[k], sizes[k + 1])) / np.sqrt(sizes[k])).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"W{k}"), numpy_helper.from_array(np.zeros(sizes[k + 1], np.float32), f"b{k}")]
        nodes += [helper.make_node("MatMul", [prev, f"W{k}"], [f"m{k}"]), helper.make_node("Add", [f"m{k}", f"b{k}"], [f"a{k}"])]
        prev = f"a{k}"
        if k < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [prev], [f"r{k}"]))
            prev = f"r{k}"
    nodes.append(helper.make_node("Identity", [prev], ["y"]))
    _save(nodes, inits, helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", features]),
          helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10]), path, "mlp")


def write_cnn(path: str, widths=(8, 16, 32), seed: int = 0) -> None:
    """x float[N,3,224,224] -> a ResNet-style CNN -> y float[N,10]."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    nodes, inits = [], []

    def conv(x, cin, cout, k, stride, relu=True):
        n = len(nodes)
        w = (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
        inits.extend([numpy_helper.from_array(w, f"w{n}"), numpy_helper.from_array(np.zeros(cout, np.float32), f"b{n}")])
        nodes.append(helper.make_node("Conv", [x, f"w{n}", f"b{n}"], [f"c{n}"], strides=[stride] * 2,
                                      pads=[k // 2] * 4))
        if not relu:
            return f"c{n}"
        nodes.append(helper.make_node("Relu", [f"c{n}"], [f"r{n}"]))
        return f"r{n}"

    h = conv("x", 3, widths[0], 7, 2)
    nodes.append(helper.make_node("MaxPool", [h], ["pool"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4))
    h, cin = "pool", widths[0]
    for stage, c in enumerate(widths):
        for block in range(2):
            stride = 2 if stage and not block else 1
            skip = h if stride == 1 and cin == c else conv(h, cin, c, 1, stride, relu=False)
            y = conv(conv(h, cin, c, 3, stride), c, c, 3, 1, relu=False)
            nodes += [helper.make_node("Add", [y, skip], [f"s{len(nodes)}"])]
            nodes += [helper.make_node("Relu", [nodes[-1].output[0]], [f"o{len(nodes)}"])]
            h, cin = nodes[-1].output[0], c
    inits += [numpy_helper.from_array((rng.standard_normal((cin, 10)) / np.sqrt(cin)).astype(np.float32), "fc"),
              numpy_helper.from_array(np.zeros(10, np.float32), "fcb")]
    nodes += [helper.make_node("GlobalAveragePool", [h], ["gap"]), helper.make_node("Flatten", ["gap"], ["flat"]),
              helper.make_node("Gemm", ["flat", "fc", "fcb"], ["y"])]
    _save(nodes, inits, helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 224, 224]),
          helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10]), path, "cnn")


def write_rows(folder: str, rows: int, features: int, files: int = 8) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.parquet as pq
    x = np.random.default_rng(1).standard_normal((rows, features)).astype(np.float32)
    os.makedirs(folder)
    for k, part in enumerate(np.array_split(np.arange(rows), files)):
        pq.write_table(pa.table({"id": part, "x": pa.FixedSizeListArray.from_arrays(x[part].ravel(), features)}),
                       os.path.join(folder, f"part{k}.parquet"))
    return x


def write_images(folder: str, n: int, size: int = 256) -> list[str]:
    """``n`` smooth random RGB JPEGs (noise at 16x16, scaled up), as a camera folder would hold."""
    from PIL import Image
    os.makedirs(folder)
    rng = np.random.default_rng(2)
    paths = []
    for k in range(n):
        small = Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
        p = os.path.join(folder, f"img{k:06d}.jpg")
        small.resize((size, size), Image.BILINEAR).save(p, quality=90)
        paths.append(p)
    return paths


IMAGE_OPTS = dict(size=(224, 224), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


# ---------------------------------------------------------------- the ways to run

def plain_rows(model: str, x: np.ndarray, batch: int, threads: int) -> float:
    import onnxkit
    t0 = time.perf_counter()
    sess = onnxkit.Session(model, threads=threads)
    for i in range(0, len(x), batch):
        sess.run(None, {"x": x[i:i + batch]})
    return time.perf_counter() - t0


def plain_images(model: str, files: list[str], batch: int, threads: int) -> float:
    import onnxkit
    from onnxkit.ray import ImageOptions, decode_image
    opts = ImageOptions(**IMAGE_OPTS)
    t0 = time.perf_counter()
    sess = onnxkit.Session(model, threads=threads)
    for i in range(0, len(files), batch):
        sess.run(None, {"x": np.stack([decode_image(f, opts) for f in files[i:i + batch]])})
    return time.perf_counter() - t0


def onnxkit_batch(model: str, data: str, out: str, workers: int, batch: int, threads: int | None,
                  images: bool) -> float:
    import onnxkit.ray
    shutil.rmtree(out, ignore_errors=True)
    kw = IMAGE_OPTS if images else {}
    t0 = time.perf_counter()
    onnxkit.ray.run_batch(model, data, out, workers=workers, batch_size=batch, progress=False, threads=threads, **kw)
    return time.perf_counter() - t0


class OrtPredictor:
    """What users write today: an onnxruntime session per worker, built in the constructor."""

    def __init__(self, model: str, threads: int, images: bool) -> None:
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        self.sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        self.images = images

    def __call__(self, batch: dict) -> dict:
        if self.images:     # read_images gives uint8 NHWC
            x = (batch["image"].astype(np.float32) / 255 - np.array(IMAGE_OPTS["mean"], np.float32)) \
                / np.array(IMAGE_OPTS["std"], np.float32)
            return {"path": batch["path"], "y": self.sess.run(None, {"x": x.transpose(0, 3, 1, 2)})[0]}
        x = np.stack(batch["x"]) if batch["x"].dtype == object else batch["x"]
        return {"id": batch["id"], "y": self.sess.run(None, {"x": x.astype(np.float32)})[0]}


def handwritten_ort(model: str, data: str, out: str, workers: int, batch: int, images: bool) -> float:
    import ray
    import ray.data
    cpus = int(ray.cluster_resources()["CPU"])
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    ds = ray.data.read_images(data, size=IMAGE_OPTS["size"], mode="RGB", include_paths=True) if images \
        else ray.data.read_parquet(data)
    ds.map_batches(OrtPredictor, fn_constructor_kwargs={"model": model, "threads": 1, "images": images},
                   concurrency=workers, num_cpus=max(0.05, (cpus - 1) / workers), batch_size=batch,
                   batch_format="numpy").write_parquet(out)
    return time.perf_counter() - t0


# ---------------------------------------------------------------- memory

def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _workers() -> list[int]:
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if f.read(64).startswith(b"ray::MapWorker"):
                        pids.append(int(d))
            except OSError:
                pass
    return pids


def memory(model_mb: int, tmp: str, batch: int) -> list[tuple[int, float, float]]:
    """(workers, peak summed PSS of the workers in MB, seconds) for 1 and 2 workers."""
    import onnxkit.ray
    model = os.path.join(tmp, "big.onnx")
    write_mlp(model, 64, 2048, layers=max(1, model_mb * 2 ** 20 // (4 * 2048 * 2048)))
    folder = os.path.join(tmp, "big-rows")
    write_rows(folder, 4000, 64, files=4)
    out = []
    for w in (1, 2):
        peak, done = [0], threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], sum(_pss_kb(p) for p in _workers()))
                time.sleep(0.05)
        t = threading.Thread(target=sample, daemon=True)
        t.start()
        t0 = time.perf_counter()
        onnxkit.ray.run_batch(model, folder, os.path.join(tmp, f"big-out{w}"), workers=w, batch_size=batch,
                              progress=False, threads=1)
        done.set()
        t.join()
        out.append((w, peak[0] / 1024, time.perf_counter() - t0))
    return out


# ---------------------------------------------------------------- report

def chart(rows: dict, path: str, cores: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for workload, runs in rows.items():
        xs = sorted(w for (kind, w) in runs if kind == "onnxkit")
        if len(xs) < 2:
            continue
        base = runs[("onnxkit", 1)]
        ax.plot(xs, [runs[("onnxkit", 1)] / runs[("onnxkit", w)] for w in xs], "o-", label=f"onnxkit batch: {workload}")
        if ("ort", 1) in runs and ("ort", max(xs)) in runs:
            ax.plot(xs, [base / runs[("ort", w)] for w in xs], "x--", alpha=0.7,
                    label=f"Ray Data + onnxruntime by hand: {workload}")
    ax.plot([1, cores], [1, cores], ":", color="grey", label="linear")
    ax.set_xlabel("workers (one core each)")
    ax.set_ylabel("throughput / onnxkit batch with 1 worker")
    ax.set_xticks(range(1, cores + 1))
    ax.set_title(f"Batch inference on one {cores}-core machine")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def parse_tables(text: str) -> dict:
    """The runs of an earlier run's printed tables (--chart-from), as ``main`` keeps them."""
    import re
    results, runs = {}, None
    kinds = [(r"plain loop over onnxkit\.Session, (\d+) threads?", "plain"),
             (r"onnxkit batch, all cores, 1 worker x \d+ threads", "onnxkit-all"),
             (r"onnxkit batch, (\d+) workers?", "onnxkit"),
             (r"Ray Data \+ onnxruntime by hand, (\d+) workers?", "ort")]
    for line in text.splitlines():
        m = re.match(r"^(\S.*?) \(batch \d+\), \d+ cores:$", line)
        if m:
            runs = results[m.group(1)] = {}
            continue
        for pattern, kind in kinds:
            m = re.match(r"^  " + pattern + r"\s+([\d.]+) s", line)
            if m and runs is not None:
                w = int(m.group(1)) if m.lastindex == 2 else 1
                runs[(kind, w)] = float(m.group(m.lastindex))
                break
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--hidden", default="256,2048", help="MLP widths, comma-separated")
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--model-mb", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--image-batch-size", type=int, default=64)
    ap.add_argument("--only", default="tabular,images,memory")
    ap.add_argument("--no-ort", action="store_true", help="skip the hand-written onnxruntime script")
    ap.add_argument("--png", default=None, help="chart path (default: none)")
    ap.add_argument("--chart-from", nargs="+", metavar="LOG",
                    help="draw --png from the printed output of earlier runs (no run)")
    args = ap.parse_args()
    if args.chart_from:
        from onnxkit.runtime._threads import available_cores
        results = {}
        for log in args.chart_from:
            with open(log) as f:
                results.update(parse_tables(f.read()))
        chart(results, args.png, available_cores())
        print(f"chart: {args.png} ({', '.join(results)})")
        return
    import ray
    from ray.data import DataContext
    from onnxkit.runtime._threads import available_cores
    cores = available_cores()
    only = set(args.only.split(","))
    tmp = tempfile.mkdtemp(prefix="onnxkit-batch-bench-")
    results: dict[str, dict] = {}
    lines = []
    try:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
        DataContext.get_current().enable_progress_bars = False
        workloads = []
        if "tabular" in only:
            x = write_rows(os.path.join(tmp, "rows"), args.rows, 64)
            write_rows(os.path.join(tmp, "one-row"), 1, 64, files=1)
            for h in map(int, args.hidden.split(",")):
                model = os.path.join(tmp, f"mlp{h}.onnx")
                write_mlp(model, 64, h)
                workloads.append((f"MLP 64-{h}-{h}-10, {args.rows:,} rows", model, os.path.join(tmp, "rows"),
                                  os.path.join(tmp, "one-row"), args.rows, args.batch_size, False,
                                  lambda t, m=model: plain_rows(m, x, args.batch_size, t)))
        if "images" in only:
            files = write_images(os.path.join(tmp, "images"), args.images)
            os.makedirs(os.path.join(tmp, "one-image"))
            shutil.copy(files[0], os.path.join(tmp, "one-image"))
            model = os.path.join(tmp, "cnn.onnx")
            write_cnn(model)
            workloads.append((f"ResNet-style CNN, {args.images:,} JPEGs", model, os.path.join(tmp, "images"),
                              os.path.join(tmp, "one-image"), args.images, args.image_batch_size, True,
                              lambda t, m=model: plain_images(m, files, args.image_batch_size, t)))
        for name, model, data, one, n, batch, images, plain in workloads:
            runs = results[name] = {}
            out = os.path.join(tmp, "out")
            fixed = onnxkit_batch(model, one, out, 1, batch, 1, images)     # a run of one row: its fixed cost
            runs[("plain", 1)] = plain(1)
            runs[("plain", cores)] = plain(cores)
            for w in range(1, cores + 1):
                runs[("onnxkit", w)] = onnxkit_batch(model, data, out, w, batch, 1, images)
            runs[("onnxkit-all", 1)] = onnxkit_batch(model, data, out, 1, batch, None, images)
            if not args.no_ort:
                for w in range(1, cores + 1):
                    runs[("ort", w)] = handwritten_ort(model, data, out, w, batch, images)
            lines.append(f"\n{name} (batch {batch}), {cores} cores:")
            label = {"plain": "plain loop over onnxkit.Session", "onnxkit": "onnxkit batch",
                     "onnxkit-all": "onnxkit batch, all cores", "ort": "Ray Data + onnxruntime by hand"}
            for (kind, w), s in runs.items():
                what = f"{w} thread{'s' if w > 1 else ''}" if kind == "plain" else \
                    f"{w} worker{'s' if w > 1 else ''}" + (f" x {cores} threads" if kind == "onnxkit-all" else "")
                lines.append(f"  {label[kind] + ', ' + what:<52} {s:8.2f} s {n / s:12,.0f} rows/s")
            lines.append(f"  {cores} workers / 1 worker: {runs[('onnxkit', 1)] / runs[('onnxkit', cores)]:.2f}x; "
                         f"1 worker / plain loop (1 thread): {runs[('plain', 1)] / runs[('onnxkit', 1)]:.2f}x; "
                         f"{cores} workers / plain loop ({cores} threads): "
                         f"{runs[('plain', cores)] / runs[('onnxkit', cores)]:.2f}x")
            past = {w: runs[("onnxkit", w)] - fixed for w in (1, cores)}
            if min(past.values()) > 0.1 * fixed:    # else the run is all fixed cost: too short to tell
                lines.append(f"  a run of 1 row takes {fixed:.2f} s (workers started, the row read, run, written); "
                             f"past it {n / past[1]:,.0f} rows/s with 1 worker, {n / past[cores]:,.0f} with {cores} "
                             f"({past[1] / past[cores]:.2f}x); plain loop {n / runs[('plain', 1)]:,.0f} rows/s "
                             f"on 1 thread")
        if "memory" in only:
            mem = memory(args.model_mb, tmp, 256)
            one = mem[0][1]
            lines.append(f"\n{args.model_mb} MB model (weights inline in the .onnx), peak PSS of the workers:")
            for w, mb, s in mem:
                lines.append(f"  {w} worker{'s' if w > 1 else ''}: {mb:8.0f} MB ({mb / one:.2f}x one worker's), {s:.1f} s")
        ray.shutdown()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n".join(lines))
    if args.png and results:
        chart(results, args.png, cores)
        print(f"chart: {args.png}")


if __name__ == "__main__":
    main()
