"""Real exports (tests/_real_models.py: transformers BERT, GPT-2, LLaMA-style,
ViT; a ResNet, a MobileNet-style CNN, an LSTM; torchscript at opset 17,
dynamo at its default opset) converted down to 11, up to the newest opset,
and each back to where it came from: every conversion passes onnx's checker
and gives the original's outputs (run in onnxruntime) in onnxruntime and in
onnxkit.  Below 11 the transformers are refused, every node in the way
listed with its reason and the lowest opset it converts to."""

from __future__ import annotations

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

import onnxkit  # noqa: E402
from onnxkit.convert import ConversionError, convert_version  # noqa: E402
from onnxkit.defs import max_opset  # noqa: E402

from .._real_models import BATCH, EXPORTERS, RUN_MODELS, SEQ, feeds_for  # noqa: E402

CASES = [pytest.param(m, e, id=f"{m}-{e}") for m in RUN_MODELS for e in EXPORTERS]
TRANSFORMERS = ("bert", "gpt2", "llama")


def _ort(model_or_path, feeds):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    src = model_or_path if isinstance(model_or_path, str) else onnxkit.to_bytes(model_or_path)
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"]).run(None, feeds)


def _same(got, want, label):
    assert len(got) == len(want), label
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, label
        scale = float(np.max(np.abs(w))) if w.size else 0.0
        np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-4 * max(scale, 1.0), err_msg=label)


def _runs_like(m, opset, feeds, want, label):
    assert m.opset == opset, label
    proto = onnx.load_from_string(onnxkit.to_bytes(m))
    onnx.checker.check_model(proto, full_check=True)
    _same(_ort(m, feeds), want, f"{label} in onnxruntime")
    _same(onnxkit.Session(m).run(None, feeds), want, f"{label} in onnxkit")


@pytest.mark.parametrize("name,exporter", CASES)
def test_real_export_down_to_11_up_and_back(exported, name, exporter):
    path = exported(name, exporter)
    m = onnxkit.load(path)
    src = m.opset
    names = [v.name for v in m.graph.inputs if v.name not in m.graph.initializers]
    feeds = feeds_for(names, BATCH + 1, SEQ - 3, seed=1)     # not the traced sizes
    want = _ort(path, feeds)
    for target in (11, max_opset()):
        there = convert_version(m, target)
        _runs_like(there, target, feeds, want, f"{name}-{exporter} {src} -> {target}")
        back = convert_version(there, src)
        _runs_like(back, src, feeds, want, f"{name}-{exporter} {src} -> {target} -> {src}")


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_real_transformer_below_11_is_refused_with_reasons(exported, name):
    m = onnxkit.load(exported(name, "torchscript"))
    with pytest.raises(ConversionError) as info:
        convert_version(m, 10)
    refusals = info.value.refusals
    assert refusals and all(r.lowest == 11 and r.reason for r in refusals)
    ops = {r.op_type for r in refusals}
    # Range's function body holds a Loop; Gather's indices may be negative
    # (position ids counted from the end) before opset 11
    assert {"Range", "Gather"} <= ops, ops
    msg = str(info.value)
    assert f"{len(refusals)} nodes" in msg and "lowest opset it converts to: 11" in msg
    nodes = list(m.graph)
    for r in refusals:
        assert r.where == "main graph" and nodes[r.index].op_type == r.op_type
    assert m.opset == 17     # left as it was


@pytest.mark.parametrize("name", ["resnet", "mobilenet"])
def test_real_cnn_goes_down_to_7(exported, name):
    m = onnxkit.load(exported(name, "torchscript"))
    feeds = feeds_for(["pixels"], BATCH, SEQ, seed=2)
    want = _ort(exported(name, "torchscript"), feeds)
    _runs_like(convert_version(m, 7), 7, feeds, want, f"{name} 17 -> 7")
