"""An imported real model against onnxruntime on the same file, at the exported
size and at another batch/sequence size (shared by the tests of each exporter)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import torch

from onnxkit.to_torch import to_torch

from .._real_models import feeds_for


def run(module, feeds) -> list[np.ndarray]:
    """The module on numpy feeds (in its ONNX input order), outputs as numpy."""
    with torch.no_grad():
        out = module(*[torch.from_numpy(feeds[n]) for n in module.onnx_inputs])
    return [out.numpy()] if isinstance(out, torch.Tensor) else [o.numpy() for o in out]


def import_matching_onnxruntime(path: str):
    """``to_torch(path)``, checked against onnxruntime at (2, 8) and (3, 5): same
    inputs in the same order, same outputs (shapes, dtypes, values to 1e-4), and
    no numpy fallback."""
    module = to_torch(path)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    assert module.onnx_inputs == names
    for batch, seq in ((2, 8), (3, 5)):          # the exported size, and another one
        feeds = feeds_for(names, batch, seq, seed=batch)
        want = sess.run(None, feeds)
        got = run(module, feeds)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == w.dtype
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=2e-5)
    assert module.onnx_fallbacks == []          # every node runs in torch ops
    return module
