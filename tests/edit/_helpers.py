"""Shared by the edit tests: run a model with onnxruntime, check it with onnx."""

from __future__ import annotations

import numpy as np

import onnxkit


def ort_run(model_or_path, feeds: dict, outputs=None) -> dict:
    """{output name: array} from onnxruntime (the model serialized as onnxkit writes it)."""
    import onnxruntime as ort

    src = model_or_path if isinstance(model_or_path, str) else onnxkit.to_bytes(model_or_path)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()] if outputs is None else list(outputs)
    wanted = {i.name for i in s.get_inputs()}
    return dict(zip(names, s.run(names, {k: v for k, v in feeds.items() if k in wanted})))


def onnx_check(model) -> None:
    """onnx's full check (with its shape inference) of what onnxkit writes."""
    import onnx

    onnx.checker.check_model(onnx.load_from_string(onnxkit.to_bytes(model)), full_check=True)


def close(a, b) -> None:
    np.testing.assert_allclose(np.asarray(a, dtype=np.float64) if np.asarray(a).dtype != bool else a,
                               np.asarray(b, dtype=np.float64) if np.asarray(b).dtype != bool else b,
                               rtol=1e-4, atol=1e-5)
