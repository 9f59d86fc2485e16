"""Every real export optimized at "extended" is still a valid model (saved,
onnx's full check) that gives onnxruntime the original's outputs, onnxkit's
Session at "runtime" gives them too, and the fusions happened where the
export has the pattern.  The CNNs are also exported with their
BatchNormalizations kept (torch folds them itself by default), to prove the
Conv + BatchNormalization fusion on real weights."""

from __future__ import annotations

import os
import warnings
from collections import Counter

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

import onnxkit  # noqa: E402
from onnxkit.ir import clone_model  # noqa: E402
from onnxkit.passes import PassManager, optimize  # noqa: E402
from onnxkit.passes.fuse_attention import FuseAttention  # noqa: E402
from onnxkit.passes.fuse_conv_bn import FuseConvBatchNorm  # noqa: E402
from onnxkit.passes.fuse_gelu import FuseGelu  # noqa: E402
from onnxkit.passes.fuse_gemm import FuseMatMulAdd  # noqa: E402
from onnxkit.passes.fuse_layer_norm import FuseLayerNorm  # noqa: E402

from .._real_models import BATCH, EXPORTERS, RUN_MODELS, SEQ, _build, feeds_for  # noqa: E402

CASES = [pytest.param(m, e, id=f"{m}-{e}") for m in RUN_MODELS for e in EXPORTERS]
TRANSFORMERS = ("bert", "gpt2", "llama", "vit")
_FUSIONS = (FuseConvBatchNorm, FuseLayerNorm, FuseGelu, FuseAttention, FuseMatMulAdd)


def _close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * max(scale, 1.0))


def _ort(path_or_bytes):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(path_or_bytes, so, providers=["CPUExecutionProvider"])


def _ops(model) -> Counter:
    return Counter((n.domain or "", n.op_type) for n in model.graph.all_nodes())


def _check_preserved(path: str, tmp_path) -> tuple[Counter, Counter, Counter]:
    """Optimize ``path`` at "extended", check and compare it (and the Session at
    "runtime"); the op counts of the original, the "extended" result and the
    fusions of this family run at "runtime"."""
    original = onnxkit.load(path)
    opt = optimize(original, "extended")
    opt.ir_version = min(opt.ir_version, 10)
    out = str(tmp_path / "optimized.onnx")
    onnxkit.save(opt, out)
    onnx.checker.check_model(onnx.load(out), full_check=True)
    ref, new = _ort(path), _ort(out)
    sess = onnxkit.Session(path)                      # the "runtime" level
    names = [i.name for i in ref.get_inputs()]
    assert names == [i.name for i in new.get_inputs()]
    for seed, (batch, seq) in enumerate([(BATCH, SEQ), (3, 5)]):
        feeds = feeds_for(names, batch, seq, seed)
        want = ref.run(None, feeds)
        for got in (new.run(None, feeds), sess.run(None, feeds)):
            assert len(got) == len(want)
            for g, w in zip(got, want):
                _close(g, w)
    # the fusions of this level run at "runtime" too (and reach older opsets
    # there); counted without the runtime's own passes, which fuse further
    mine = clone_model(original)
    PassManager([p.create(level="runtime") for p in _FUSIONS])(mine)
    return _ops(original), _ops(opt), _ops(mine)


@pytest.mark.parametrize("name,exporter", CASES)
def test_extended_preserves_outputs(exported, tmp_path, name, exporter):
    path = exported(name, exporter)
    before, ext, run = _check_preserved(path, tmp_path)
    opset = onnxkit.load(path).opset_imports.get("", 0)
    assert ext[("", "BatchNormalization")] == 0 and run[("", "BatchNormalization")] == 0
    if name in TRANSFORMERS:
        # two attention layers each, fused into Attention (a spec op from 23)
        assert run[("ai.onnxkit" if opset < 23 else "", "Attention")] == 2
        assert run[("", "Softmax")] == 0
        if opset < 23:
            assert ext[("", "Attention")] == 0 and ext[("ai.onnxkit", "Attention")] == 0
    if name in ("bert", "gpt2", "vit"):
        # two MLPs with a GELU, three or five layer norms (written whole by the exporters)
        gelu = ("" if opset >= 20 else "ai.onnxkit", "Gelu")
        assert run[gelu] == 2
        assert ext[("", "Gelu")] == (2 if opset >= 20 else 0)
        assert run[("", "LayerNormalization")] >= 3
        assert run[("", "Erf")] == 0 and run[("", "Tanh")] == 0


@pytest.fixture(scope="module")
def bn_exports(tmp_path_factory):
    """The CNNs exported by TorchScript with constant folding off, so their
    BatchNormalizations stay in the file."""
    folder = tmp_path_factory.mktemp("bn_exports")
    paths = {}
    for name in ("resnet", "mobilenet"):
        module, args, names, dyn = _build(name)
        path = str(folder / f"{name}-bn.onnx")
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, args, path, dynamo=False, input_names=names, output_names=["out"],
                              dynamic_axes={**dyn, "out": {0: "batch"}}, opset_version=17,
                              do_constant_folding=False)
        paths[name] = path
    return paths


@pytest.mark.parametrize("name", ["resnet", "mobilenet"])
def test_conv_batchnorm_on_real_weights(bn_exports, tmp_path, name):
    path = bn_exports[name]
    assert os.path.exists(path)
    before, ext, run = _check_preserved(path, tmp_path)
    assert before[("", "BatchNormalization")] == before[("", "Conv")] > 0
    assert ext[("", "BatchNormalization")] == 0 and run[("", "BatchNormalization")] == 0
    assert ext[("", "Conv")] == before[("", "Conv")]
