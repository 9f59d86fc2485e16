"""Shared checks: export, validate with onnx's and onnxkit's checkers, compare with eager in onnxruntime."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch

import onnxkit
from onnxkit.export._api import flatten_outputs

RTOL, ATOL = 1e-3, 1e-4


def session(model: onnxkit.Model) -> ort.InferenceSession:
    data = onnxkit.to_bytes(model)
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def onnxkit_check(model: onnxkit.Model) -> None:
    try:
        from onnxkit.check import check_model
    except ImportError:  # the checker is another package of this project
        return
    check_model(model)


def run_and_compare(sess: ort.InferenceSession, fn: Any, args: tuple, kwargs: dict | None = None,
                    rtol: float = RTOL, atol: float = ATOL) -> list[np.ndarray]:
    kwargs = kwargs or {}
    flat = [t for t in list(args) + list(kwargs.values()) if isinstance(t, torch.Tensor)]
    feeds = {i.name: t.numpy() for i, t in zip(sess.get_inputs(), flat)}
    got = sess.run(None, feeds)
    with torch.no_grad():
        want = [t.numpy() for _, t in flatten_outputs(fn(*args, **kwargs))]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape, (g.shape, w.shape)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return got


def if_nodes(model: onnxkit.Model) -> list:
    return [n for n in model.graph.all_nodes() if n.op_type == "If"]
