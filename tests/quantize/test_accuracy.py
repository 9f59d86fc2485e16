"""accuracy_target on a model where plain static quantization loses accuracy:
a LayerNorm written out as ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div
between two Linear layers whose activations have outlier channels (as real
transformers do).  onnxruntime's ``quantize_static`` falls below 0.99 on it;
with ``accuracy_target=0.99`` onnxkit measures each node's sensitivity and
leaves the culprit (the variance + epsilon Add, quantized to 0 for every
ordinary row) in float."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
oq = pytest.importorskip("onnxruntime.quantization")

import onnxkit  # noqa: E402

from ._helpers import check_with_onnx, cosine, ort_session, quiet_ort_quantizer, save  # noqa: E402

C = 64


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(C, C)
        self.fc2 = torch.nn.Linear(C, C)
        self.g = torch.nn.Parameter(torch.rand(C) + 0.5)
        self.b = torch.nn.Parameter(torch.randn(C) * 0.1)
        with torch.no_grad():
            self.fc1.weight[:2] *= 100.0        # two outlier channels

    def forward(self, x):
        h = self.fc1(x)
        d = h - h.mean(-1, keepdim=True)
        var = d.pow(2).mean(-1, keepdim=True)
        return self.fc2(d / torch.sqrt(var + 1e-5) * self.g + self.b)


def _samples(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"x": rng.standard_normal((2, 8, C)).astype(np.float32)} for _ in range(n)]


@pytest.fixture(scope="module")
def layer_norm_model(tmp_path_factory):
    torch.manual_seed(0)
    path = str(tmp_path_factory.mktemp("qacc") / "ln.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Net().eval(), (torch.randn(2, 8, C),), path, dynamo=False, input_names=["x"],
                          output_names=["y"], opset_version=17, dynamic_axes={"x": {0: "b"}, "y": {0: "b"}})
    ops = [n.op_type for n in onnxkit.load(path).graph]
    assert "LayerNormalization" not in ops and {"ReduceMean", "Pow", "Sqrt", "Div"} <= set(ops)
    return path


def _mean_cosine(float_path: str, path: str, samples) -> float:
    f, q = ort_session(float_path), ort_session(path)
    return float(np.mean([cosine(f.run(None, x)[0], q.run(None, x)[0]) for x in samples]))


def test_accuracy_target_reached_by_excluding(layer_norm_model, tmp_path):
    calib, test = _samples(16, 0), _samples(8, 1)
    # the oracle: onnxruntime's own static quantizer falls below 0.99 on the calibration data
    # (rows whose variance rounds to 0 at the scale the outlier rows set)
    quiet_ort_quantizer()
    theirs = str(tmp_path / "ln-ort.onnx")
    oq.quantize_static(layer_norm_model, theirs, _Reader(calib), quant_format=oq.QuantFormat.QDQ,
                       per_channel=True, weight_type=oq.QuantType.QInt8, activation_type=oq.QuantType.QUInt8)
    assert _mean_cosine(layer_norm_model, theirs, calib) < 0.99
    plain = save(onnxkit.quantize(layer_norm_model, mode="static", calibration=calib), tmp_path, "plain.onnx")
    assert _mean_cosine(layer_norm_model, plain, calib) < 0.99

    q, rep = onnxkit.quantize(layer_norm_model, mode="static", calibration=iter(calib), accuracy_target=0.99,
                              report=True)
    path = save(q, tmp_path, "ln-q.onnx")
    check_with_onnx(path)
    # reached on the held calibration samples, measured again in onnxruntime, and on unseen data
    assert rep.metric >= 0.99 and rep.samples == 16
    assert _mean_cosine(layer_norm_model, path, calib) >= 0.99
    assert _mean_cosine(layer_norm_model, path, test) >= 0.99
    # what was excluded and why: the variance + epsilon Add, the most sensitive node
    assert list(rep.excluded) == ["/Add"], rep.excluded
    assert "sensitivity" in rep.excluded["/Add"]
    sens = {r.name: r.sensitivity for r in rep.nodes}
    assert min(sens, key=sens.get) == "/Add"
    assert all(v > 0.99 for k, v in sens.items() if k != "/Add")
    # the rest is still quantized
    assert len(rep.quantized) >= 5 and "/Add" not in rep.quantized
    add = next(n for n in q.graph if n.name == "/Add")
    assert all(v.producer() is None or v.producer().op_type != "DequantizeLinear" for v in add.inputs)
    assert "float: sensitivity" in rep.table()


class _Reader(oq.CalibrationDataReader):
    def __init__(self, data):
        self.it = iter(data)

    def get_next(self):
        return next(self.it, None)


def test_sensitivity_equals_one_model_per_node(layer_norm_model):
    """Each node's sensitivity (measured on the changed part of the model only,
    fed the float run's values) is what running the whole model quantized at
    that node alone gives: quantize with every other node excluded, run it
    with onnxkit's Session on the held samples."""
    calib = _samples(16, 0)
    _, rep = onnxkit.quantize(layer_norm_model, mode="static", calibration=iter(calib), report=True)
    sens = {r.name: r.sensitivity for r in rep.nodes if r.sensitivity is not None}
    assert len(sens) >= 5 and rep.samples == 16
    f = onnxkit.Session(layer_norm_model)
    want = [f.run(None, x)[0] for x in calib]
    for name, s in sens.items():
        alone = onnxkit.quantize(layer_norm_model, mode="static", calibration=calib,
                                 exclude=[n for n in sens if n != name])
        sess = onnxkit.Session(alone)
        got = [sess.run(None, x)[0] for x in calib]
        # a sample whose output is not finite (a variance quantized to 0, divided by) counts -1
        whole = float(np.mean([cosine(w, y) if np.isfinite(y).all() else -1.0 for w, y in zip(want, got)]))
        assert abs(whole - s) < 1e-6, (name, whole, s)
