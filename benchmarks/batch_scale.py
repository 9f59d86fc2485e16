"""Batch inference throughput on one machine: onnxkit batch (Ray Data, 1 and N workers) against
a plain single-process loop over onnxkit.Session and against the hand-written Ray Data +
onnxruntime script users write today.

    python benchmarks/ray_batch.py [--rows 200000] [--hidden 256] [--workers 2] [--batch-size 1024]

Writes an MLP (float[N,64] -> hidden -> hidden -> 10) and a Parquet folder of ``--rows`` rows
under a temporary folder, runs each way once and prints rows/s and the ratios the issue asks
for (N workers / 1 worker, 1 worker / plain loop).  Timings include Ray's start of the workers
(what a user waits for); Ray itself is started once, before the first timed run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import numpy as np


def write_mlp(path: str, features: int, hidden: int, seed: int = 0) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    sizes = [features, hidden, hidden, 10]
    nodes, inits, prev = [], [], "x"
    for k in range(3):
        w = (rng.standard_normal((sizes[k], sizes[k + 1])) / np.sqrt(sizes[k])).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"W{k}"), numpy_helper.from_array(np.zeros(sizes[k + 1], np.float32), f"b{k}")]
        nodes += [helper.make_node("MatMul", [prev, f"W{k}"], [f"m{k}"]), helper.make_node("Add", [f"m{k}", f"b{k}"], [f"a{k}"])]
        prev = f"a{k}"
        if k < 2:
            nodes.append(helper.make_node("Relu", [prev], [f"r{k}"]))
            prev = f"r{k}"
    nodes.append(helper.make_node("Identity", [prev], ["y"]))
    g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", features])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=10), path)


def write_rows(folder: str, rows: int, features: int, files: int = 8) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.parquet as pq
    x = np.random.default_rng(1).standard_normal((rows, features)).astype(np.float32)
    os.makedirs(folder)
    for k, part in enumerate(np.array_split(np.arange(rows), files)):
        pq.write_table(pa.table({"id": part, "x": pa.FixedSizeListArray.from_arrays(x[part].ravel(), features)}),
                       os.path.join(folder, f"part{k}.parquet"))
    return x


def plain_loop(model: str, x: np.ndarray, batch: int) -> float:
    import onnxkit
    sess = onnxkit.Session(model)
    t0 = time.perf_counter()
    for i in range(0, len(x), batch):
        sess.run(None, {"x": x[i:i + batch]})
    return time.perf_counter() - t0


def onnxkit_batch(model: str, folder: str, out: str, workers: int, batch: int) -> float:
    import onnxkit.ray
    shutil.rmtree(out, ignore_errors=True)
    s = onnxkit.ray.run_batch(model, folder, out, workers=workers, batch_size=batch, progress=False)
    return s.seconds


class OrtPredictor:
    """What users write today: an onnxruntime session per worker, built in the constructor."""

    def __init__(self, model: str, threads: int) -> None:
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        self.sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])

    def __call__(self, batch: dict) -> dict:
        x = np.stack(batch["x"]) if batch["x"].dtype == object else batch["x"]
        return {"id": batch["id"], "y": self.sess.run(None, {"x": x.astype(np.float32)})[0]}


def handwritten_ort(model: str, folder: str, out: str, workers: int, batch: int) -> float:
    import ray
    import ray.data
    cpus = int(ray.cluster_resources()["CPU"])
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    ray.data.read_parquet(folder).map_batches(
        OrtPredictor, fn_constructor_kwargs={"model": model, "threads": max(1, cpus // workers)},
        concurrency=workers, num_cpus=max(0.05, (cpus - 1) / workers), batch_size=batch,
        batch_format="numpy").write_parquet(out)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--features", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=1024)
    args = ap.parse_args()
    import ray
    from ray.data import DataContext
    tmp = tempfile.mkdtemp(prefix="onnxkit-ray-bench-")
    try:
        model = os.path.join(tmp, "mlp.onnx")
        write_mlp(model, args.features, args.hidden)
        x = write_rows(os.path.join(tmp, "rows"), args.rows, args.features)
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
        DataContext.get_current().enable_progress_bars = False
        rows = {"plain loop over onnxkit.Session (1 process)": plain_loop(model, x, args.batch_size)}
        for w in sorted({1, args.workers}):
            rows[f"onnxkit batch, {w} worker{'s' if w > 1 else ''}"] = onnxkit_batch(
                model, os.path.join(tmp, "rows"), os.path.join(tmp, "out"), w, args.batch_size)
        for w in sorted({1, args.workers}):
            rows[f"Ray Data + onnxruntime by hand, {w} worker{'s' if w > 1 else ''}"] = handwritten_ort(
                model, os.path.join(tmp, "rows"), os.path.join(tmp, "out"), w, args.batch_size)
        ray.shutdown()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{args.rows:,} rows, MLP {args.features}-{args.hidden}-{args.hidden}-10, batch {args.batch_size}")
    width = max(map(len, rows))
    for name, s in rows.items():
        print(f"{name:<{width}}  {s:8.2f} s  {args.rows / s:12,.0f} rows/s")
    one, many = rows["onnxkit batch, 1 worker"], rows.get(f"onnxkit batch, {args.workers} workers")
    plain = rows["plain loop over onnxkit.Session (1 process)"]
    if many:
        print(f"{args.workers} workers / 1 worker: {one / many:.2f}x (issue: >= 1.7x on 2 cores)")
    print(f"1 worker / plain loop: {plain / one:.2f}x (issue: >= 0.9x)")


if __name__ == "__main__":
    main()
