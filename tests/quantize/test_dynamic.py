"""mode="dynamic" on a small BERT (transformers config, random weights) and
on Linear layers exported as Gemm: onnxruntime and onnxkit run the result,
its outputs stay close to float, at least as close as onnxruntime's own
``quantize_dynamic`` gets, and nothing but the MatMuls changes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxruntime.quantization")
torch = pytest.importorskip("torch")

import onnxkit  # noqa: E402
from onnxkit.errors import QuantizeError  # noqa: E402

from .._real_models import feeds_for  # noqa: E402
from ._helpers import check_with_onnx, cosine, ort_session, quiet_ort_quantizer, save, untouched  # noqa: E402


@pytest.fixture(scope="module")
def bert(exported, tmp_path_factory):
    src = exported("bert", "torchscript")
    folder = tmp_path_factory.mktemp("qdyn")
    float_model = onnxkit.load(src)
    q = onnxkit.quantize(float_model, mode="dynamic")
    path = save(q, folder, "bert-dyn.onnx")
    from onnxruntime.quantization import QuantType, quantize_dynamic
    quiet_ort_quantizer()
    ort_path = str(folder / "bert-ort.onnx")
    quantize_dynamic(src, ort_path, weight_type=QuantType.QInt8)
    feeds = [feeds_for(["input_ids", "attention_mask"], 2, 8, seed) for seed in range(6)]
    return src, float_model, q, path, ort_path, feeds


def _const_matmuls(model) -> set[str]:
    return {n.name for n in model.graph if n.op_type == "MatMul" and n.inputs[1].is_initializer()
            and len(n.inputs[1].shape) == 2}


def test_bert_structure(bert):
    src, float_model, q, path, _, _ = bert
    check_with_onnx(path)
    mm = _const_matmuls(float_model)
    assert len(mm) == 12                                    # 2 layers x (q, k, v, out, fc1, fc2)
    ops = [n.op_type for n in q.graph]
    assert ops.count("MatMulInteger") == len(mm)
    # q, k and v read one activation: it is quantized once
    assert ops.count("DynamicQuantizeLinear") == 8
    assert ops.count("MatMul") == 4                         # the attention products stay float
    for n in q.graph:
        if n.op_type == "MatMulInteger":
            w = n.inputs[1].const_value
            assert w.dtype == onnxkit.DataType.INT8
    # the float weights are gone, the file shrinks
    assert not any(v.name in q.graph.initializers for n in float_model.graph if n.name in mm
                   for v in n.inputs[1:])
    untouched(float_model, q, mm)
    assert q.ir_version <= 13


def test_bert_close_to_float_and_to_onnxruntime_quantizer(bert):
    src, _, _, path, ort_path, feeds = bert
    f, mine, theirs = ort_session(src), ort_session(path), ort_session(ort_path)
    kit = onnxkit.Session(path)
    ours, ref, base = [], [], []
    for x in feeds:
        want = f.run(None, x)[0]
        got = mine.run(None, x)[0]
        ours.append(cosine(want, got))
        base.append(cosine(want, theirs.run(None, x)[0]))
        # onnxkit's runtime computes the same quantized model (uint8 x int8 products
        # may saturate in onnxruntime's AVX2 kernels: compare by cosine)
        ref.append(cosine(got, kit.run(None, x)[0]))
    assert min(ours) > 0.999, ours
    assert np.mean(ours) >= np.mean(base) - 1e-6, (ours, base)
    assert min(ref) > 0.9999, ref


def test_input_model_not_changed_and_exclude(bert):
    src, float_model, _, _, _, feeds = bert
    before = [n.op_type for n in float_model.graph]
    one = sorted(_const_matmuls(float_model))[0]
    q = onnxkit.quantize(float_model, mode="dynamic", exclude=[one], per_channel=False)
    assert [n.op_type for n in float_model.graph] == before
    assert any(n.name == one and n.op_type == "MatMul" for n in q.graph)
    assert [n.op_type for n in q.graph].count("MatMulInteger") == 11
    for n in q.graph:
        if n.op_type == "MatMulInteger":
            assert n.inputs[1].const_value is not None
    scales = [v.const_value.shape for k, v in q.graph.initializers.items() if k.endswith("_Ws")]
    assert scales and all(s == () for s in scales)        # per tensor
    x = feeds[0]
    assert cosine(onnxkit.run(float_model, x)[0], onnxkit.run(q, x)[0]) > 0.999


def test_gemm(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8)).eval()
    x = torch.randn(4, 32)
    src = str(tmp_path / "mlp.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), src, dynamo=False, input_names=["x"], output_names=["y"], opset_version=17,
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    m = onnxkit.load(src)
    assert [n.op_type for n in m.graph].count("Gemm") == 2
    q = onnxkit.quantize(m, mode="dynamic")
    assert [n.op_type for n in q.graph].count("Gemm") == 0
    path = save(q, tmp_path, "mlp-q.onnx")
    check_with_onnx(path)
    xs = np.random.default_rng(1).standard_normal((16, 32)).astype(np.float32)
    want = net(torch.from_numpy(xs)).detach().numpy()
    got = ort_session(path).run(None, {"x": xs})[0]
    assert cosine(want, got) > 0.999
    np.testing.assert_allclose(onnxkit.run(q, {"x": xs})[0], got, rtol=0.02, atol=0.02 * np.abs(want).max())


def test_bad_arguments(bert):
    _, float_model, *_ = bert
    with pytest.raises(QuantizeError, match="unknown mode"):
        onnxkit.quantize(float_model, mode="fast")
    with pytest.raises(QuantizeError, match="calibration"):
        onnxkit.quantize(float_model, mode="static")
    with pytest.raises(QuantizeError, match="accuracy_target"):
        onnxkit.quantize(float_model, mode="dynamic", accuracy_target=0.99)
    with pytest.raises(QuantizeError, match="bits"):
        onnxkit.quantize(float_model, mode="weight-only", bits=3)


def test_conv_becomes_conv_integer(exported, tmp_path):
    src = exported("resnet", "torchscript")
    m = onnxkit.load(src)
    convs = {n.name for n in m.graph if n.op_type == "Conv"}
    q = onnxkit.quantize(m, mode="dynamic")
    ops = [n.op_type for n in q.graph]
    assert ops.count("ConvInteger") == len(convs) and "Conv" not in ops
    path = save(q, tmp_path, "rn-dyn.onnx")
    check_with_onnx(path)
    untouched(m, q, convs | {n.name for n in m.graph if n.op_type == "Gemm"})
    f, mine, kit = ort_session(src), ort_session(path), onnxkit.Session(path)
    for seed in range(3):
        x = {"pixels": np.random.default_rng(seed).standard_normal((2, 3, 32, 32)).astype(np.float32)}
        got = mine.run(None, x)[0]
        assert cosine(f.run(None, x)[0], got) > 0.9999
        np.testing.assert_allclose(kit.run(None, x)[0], got, rtol=1e-4, atol=1e-4 * np.abs(got).max())
