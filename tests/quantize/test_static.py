"""mode="static" on a small ResNet (plain torch, BatchNorm statistics
randomized), side by side with onnxruntime's ``quantize_static`` (QDQ, per
channel) on the same calibration data: the same QDQ layout, outputs at least
as close to float, run alike by onnxruntime and onnxkit."""

from __future__ import annotations

import collections

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("torch")
oq = pytest.importorskip("onnxruntime.quantization")

import onnxkit  # noqa: E402
from onnxkit.errors import QuantizeError  # noqa: E402

from ._helpers import check_with_onnx, cosine, ort_session, quiet_ort_quantizer, save  # noqa: E402


def _samples(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"pixels": rng.standard_normal((2, 3, 32, 32)).astype(np.float32)} for _ in range(n)]


class _Reader(oq.CalibrationDataReader):
    def __init__(self, data):
        self.it = iter(data)

    def get_next(self):
        return next(self.it, None)


@pytest.fixture(scope="module")
def resnet(exported):
    return exported("resnet", "torchscript")


_METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}


@pytest.mark.parametrize("method", ["minmax", "entropy", "percentile"])
def test_resnet_against_onnxruntime(resnet, tmp_path, method):
    calib, test = _samples(8, 0), _samples(4, 1)
    # a generator: read once, in a stream
    q = onnxkit.quantize(resnet, mode="static", calibration=(x for x in calib), method=method)
    path = save(q, tmp_path, "rn-q.onnx")
    check_with_onnx(path)
    ops = collections.Counter(n.op_type for n in q.graph)
    assert ops["BatchNormalization"] == 0                       # folded first
    quiet_ort_quantizer()
    theirs = str(tmp_path / "rn-ort.onnx")
    oq.quantize_static(resnet, theirs, _Reader(calib), quant_format=oq.QuantFormat.QDQ, per_channel=True,
                       weight_type=oq.QuantType.QInt8, activation_type=oq.QuantType.QUInt8,
                       calibrate_method=getattr(oq.CalibrationMethod, _METHODS[method]))
    ops_ort = collections.Counter(n.op_type for n in onnxkit.load(theirs).graph)
    # the layout onnxruntime's own quantizer gives (Relu folded into the pairs, the same pairs)
    for op in ("QuantizeLinear", "DequantizeLinear", "Conv", "Relu", "Add", "Gemm", "MaxPool"):
        assert ops[op] == ops_ort[op], (op, ops, ops_ort)
    f, mine, other = ort_session(resnet), ort_session(path), ort_session(theirs)
    kit = onnxkit.Session(path)
    ours, base, agree = [], [], []
    for x in test:
        want = f.run(None, x)[0]
        got = mine.run(None, x)[0]
        ours.append(cosine(want, got))
        base.append(cosine(want, other.run(None, x)[0]))
        agree.append(cosine(got, kit.run(None, x)[0]))
    assert np.mean(ours) >= np.mean(base) - 2e-5, (ours, base)
    assert min(ours) > 0.999
    assert min(agree) > 0.99995, agree


def test_int8_activations_and_per_tensor(resnet, tmp_path):
    q = onnxkit.quantize(resnet, mode="static", calibration=_samples(4, 0), activation_type="int8",
                         per_channel=False)
    zps = [n.inputs[2].const_value for n in q.graph if n.op_type == "QuantizeLinear"]
    assert zps and all(z.dtype == onnxkit.DataType.INT8 and not z.numpy().any() for z in zps)
    # with int8 (symmetric) activations Relu is not implied by the pair: it stays
    assert any(n.op_type == "Relu" for n in q.graph)
    for n in q.graph:
        if n.op_type == "DequantizeLinear" and n.inputs[0].const_value is not None \
                and n.inputs[0].const_value.dtype == onnxkit.DataType.INT8:
            assert n.inputs[1].const_value.shape == ()
    path = save(q, tmp_path, "rn-i8.onnx")
    x = _samples(1, 3)[0]
    want = onnxkit.run(resnet, x)[0]
    assert cosine(want, ort_session(path).run(None, x)[0]) > 0.999


def test_report_and_exclude(resnet):
    first = next(n.name for n in onnxkit.load(resnet).graph if n.op_type == "Conv")
    q, rep = onnxkit.quantize(resnet, mode="static", calibration=_samples(2, 0), exclude=[first], report=True)
    assert first not in rep.quantized and rep.excluded[first] == "excluded by the caller"
    conv = next(n for n in q.graph if n.name == first)
    assert conv.inputs[1].producer() is None                    # a float weight still
    table = rep.table()
    assert first in table and "sensitivity" in table.splitlines()[0]
    assert rep.samples == 2 and rep.metric > 0.999
    row = next(r for r in rep.nodes if r.op_type == "Gemm")
    assert 0.99 < row.sensitivity <= 1.0 and row.scale > 0 and row.clipped == 0.0


def test_bad_calibration(resnet):
    with pytest.raises(QuantizeError, match="empty"):
        onnxkit.quantize(resnet, mode="static", calibration=[])
    with pytest.raises(QuantizeError, match="sample 1"):
        onnxkit.quantize(resnet, mode="static", calibration=[_samples(1, 0)[0], {"pixels": np.zeros((2, 5))}])
    with pytest.raises(QuantizeError, match="sample 0: expected a dict"):
        onnxkit.quantize(resnet, mode="static", calibration=[np.zeros(3)])
