"""Shared by the quantization tests: running a model in onnxruntime, the
output cosine, and the check that a quantized model left every other node as
it was."""

from __future__ import annotations

import logging
import os

import numpy as np

import onnxkit


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def ort_session(path: str, config: dict | None = None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    for k, v in (config or {}).items():
        so.add_session_config_entry(k, v)
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def save(model, folder, name: str) -> str:
    path = os.path.join(str(folder), name)
    onnxkit.save(model, path)
    return path


def check_with_onnx(path: str) -> None:
    """The onnx package's full check (with its shape inference) accepts the file."""
    import onnx

    onnx.checker.check_model(onnx.load(path), full_check=True)


def untouched(before, after, quantized: set[str], rewired: set[str] = frozenset()) -> None:
    """Every node of ``before`` not in ``quantized`` is still in ``after``, by
    name, with the same op, inputs and outputs (the nodes in ``rewired`` may read
    other values in place of their float weights)."""
    now = {n.name: n for n in after.graph}
    for n in before.graph:
        if n.name in quantized:
            assert n.name not in now, f"{n.name} was quantized yet is still there"
            continue
        m = now.get(n.name)
        assert m is not None, f"node {n.name} ({n.op_type}) is gone"
        assert m.op_type == n.op_type
        ins = [v.name if v else "" for v in m.inputs]
        want = [v.name if v else "" for v in n.inputs]
        if n.name in rewired:
            keep = [i for i, v in enumerate(n.inputs) if v is None or not v.is_initializer()]
            ins, want = [ins[i] for i in keep], [want[i] for i in keep]
        assert ins == want, n.name
        assert [v.name for v in m.outputs] == [v.name for v in n.outputs], n.name
    assert [v.name for v in after.graph.outputs] == [v.name for v in before.graph.outputs]
    assert [v.name for v in after.graph.inputs] == [v.name for v in before.graph.inputs]


def quiet_ort_quantizer() -> None:
    logging.getLogger().setLevel(logging.ERROR)
