"""Real exported models run in onnxkit and match onnxruntime (rtol 1e-3, atol
1e-4 relative to the output's scale), at the traced size and at other batch
and sequence sizes (the exports are dynamic)."""

from __future__ import annotations

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

import onnxkit  # noqa: E402

from .._real_models import BATCH, EXPORTERS, RUN_MODELS, SEQ, feeds_for  # noqa: E402

CASES = [pytest.param(m, e, id=f"{m}-{e}") for m in RUN_MODELS for e in EXPORTERS]


def _close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * max(scale, 1.0))


@pytest.mark.parametrize("name,exporter", CASES)
def test_matches_onnxruntime(exported, name, exporter):
    path = exported(name, exporter)
    sess = onnxkit.Session(path)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    ref = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    assert names == [i.name for i in ref.get_inputs()]
    for seed, (batch, seq) in enumerate([(BATCH, SEQ), (3, 5), (1, 11)]):
        feeds = feeds_for(names, batch, seq, seed)
        want = ref.run(None, feeds)
        got = sess.run(None, feeds)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _close(g, w)
