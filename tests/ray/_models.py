"""Small models and input files for the Ray tests (written with the onnx package), and the
module-wide local Ray they share (starting Ray is the slow part: once per module)."""

from __future__ import annotations

import os

import numpy as np
import pytest


def mlp(path: str, seed: int = 0) -> str:
    """x float[N,4] -> y = x @ W + b (float[N,3]) and z = Unsqueeze(Relu(y), 2) (float[N,3,1])."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "b"),
             numpy_helper.from_array(np.array([2], np.int64), "ax")]
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Add", ["h", "b"], ["y"]),
         helper.make_node("Relu", ["y"], ["r"]), helper.make_node("Unsqueeze", ["r", "ax"], ["z"])], "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 3, 1])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=10), path)
    return path


def cnn(path: str, seed: int = 0) -> str:
    """x float[N,3,8,8] -> Conv(4 filters 3x3) -> Relu -> GlobalAveragePool -> Flatten: y float[N,4]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"]),
         helper.make_node("GlobalAveragePool", ["r"], ["p"]), helper.make_node("Flatten", ["p"], ["y"])], "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "W")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=10), path)
    return path


def tabular(folder: str, rows: int = 600, files: int = 3, seed: int = 1) -> tuple[str, np.ndarray, np.ndarray]:
    """Parquet files of columns id, f0..f3 (float32); returns (folder, ids, features)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 4)).astype(np.float32)
    ids = np.arange(1000, 1000 + rows)
    os.makedirs(folder, exist_ok=True)
    for k, part in enumerate(np.array_split(np.arange(rows), files)):
        pq.write_table(pa.table({"id": ids[part], **{f"f{i}": x[part, i] for i in range(4)}}),
                       os.path.join(folder, f"part{k}.parquet"))
    return folder, ids, x


def read_output(folder: str) -> dict[str, np.ndarray]:
    """The Parquet files onnxkit batch wrote, as numpy columns (tensor columns as arrays)."""
    import ray.data
    rows = ray.data.read_parquet(folder).to_pandas()
    return {c: np.stack(rows[c].to_numpy()) if rows[c].dtype == object else rows[c].to_numpy() for c in rows}


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module: 2 CPUs, 127.0.0.1, no dashboard; shut down after."""
    import ray
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             object_store_memory=256 << 20, configure_logging=False)
    from ray.data import DataContext
    DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()
