"""DFT, STFT, windows and MelWeightMatrix against onnxruntime and onnx.reference
beyond the conformance cases; shape rules against onnx.shape_inference (with
the scalar inputs as initializers, so both can read them)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxkit
from onnxkit.infer import infer_shapes
from tests.ops.data_testutil import check_model, node_model

RNG = np.random.default_rng(0)


def check(op: str, feeds: dict, consts: dict | None = None, opset: int = 20, oracle: str = "ort",
          rtol: float = 1e-5, atol: float = 1e-4, **attrs) -> np.ndarray:
    m = node_model(op, feeds, consts, opset=opset, **attrs)
    return check_model(m, feeds, oracle, rtol=rtol, atol=atol)[0]


def i64(v: int) -> np.ndarray:
    return np.array(v, np.int64)


@pytest.mark.parametrize("axis", [0, 1, -2, -3])
@pytest.mark.parametrize("length", [None, 5, 12])
@pytest.mark.parametrize("inverse,onesided", [(0, 0), (1, 0), (0, 1)])
def test_dft_axis_length_modes(axis, length, inverse, onesided):
    comp = 1 if onesided else 2
    x = RNG.standard_normal((3, 8, 4, comp)).astype(np.float32)
    consts = {"axis": i64(axis)} | ({"len": i64(length)} if length else {})
    check("DFT", {"x": x}, consts, order=["x", "len" if length else "", "axis"],
          inverse=inverse, onesided=onesided)


@pytest.mark.parametrize("length", [None, 10])
def test_irfft(length):
    spec = RNG.standard_normal((2, 6, 2)).astype(np.float64)
    spec[:, 0, 1] = 0.0
    order = ["x", "len" if length else "", "axis"]
    consts = {"axis": i64(1)} | ({"len": i64(length)} if length else {})
    check("DFT", {"x": spec}, consts, order=order, oracle="reference", inverse=1, onesided=1)


def test_dft_17_attribute_axis():
    x = RNG.standard_normal((2, 6, 5, 2)).astype(np.float32)
    check("DFT", {"x": x}, opset=17, axis=2)
    check("DFT", {"x": x[..., :1].copy()}, {"n": i64(8)}, opset=17, axis=1, onesided=1)


@pytest.mark.parametrize("onesided", [0, 1])
@pytest.mark.parametrize("window,frame_length", [(True, None), (False, 16), (True, 16)])
def test_stft(onesided, window, frame_length):
    signal = RNG.standard_normal((2, 100, 1)).astype(np.float32)
    consts = {"step": i64(7)}
    order = ["signal", "step", "", ""]
    if window:
        consts["window"] = np.hanning(16).astype(np.float32)
        order[2] = "window"
    if frame_length:
        consts["fl"] = i64(frame_length)
        order[3] = "fl"
    check("STFT", {"signal": signal}, consts, opset=17, order=order, onesided=onesided)


def test_stft_complex_signal():
    signal = RNG.standard_normal((1, 64, 2)).astype(np.float32)
    check("STFT", {"signal": signal}, {"step": i64(8), "fl": i64(16)}, opset=17,
          order=["signal", "step", "", "fl"], onesided=0)


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
@pytest.mark.parametrize("periodic", [0, 1])
@pytest.mark.parametrize("dtype", [TensorProto.FLOAT, TensorProto.DOUBLE])
@pytest.mark.parametrize("size", [1, 2, 33])
def test_windows(op, periodic, dtype, size):
    check(op, {}, {"n": i64(size)}, opset=17, periodic=periodic, output_datatype=dtype, atol=1e-6)


@pytest.mark.parametrize("bins,n_fft,rate,lo,hi", [(8, 64, 16000, 0.0, 8000.0), (20, 512, 22050, 30.0, 11025.0),
                                                   (4, 16, 8000, 100.0, 3000.0)])
def test_mel_weight_matrix(bins, n_fft, rate, lo, hi):
    consts = {"b": i64(bins), "n": i64(n_fft), "r": i64(rate), "lo": np.array(lo, np.float32),
              "hi": np.array(hi, np.float32)}
    check("MelWeightMatrix", {}, consts, opset=17, oracle="reference", atol=1e-6)


def test_shape_rules_with_symbols():
    """Symbolic dims go through DFT and STFT; unknown lengths stay unknown."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", "T", 1])
    n = helper.make_tensor_value_info("n", TensorProto.INT64, [])
    nodes = [helper.make_node("DFT", ["x", "", "ax"], ["rfft"], onesided=1),
             helper.make_node("DFT", ["x", "n", "ax"], ["full"]),
             helper.make_node("STFT", ["x", "step", "", "fl"], ["spec"])]
    inits = [numpy_helper.from_array(i64(1), "ax"), numpy_helper.from_array(i64(4), "step"),
             numpy_helper.from_array(i64(16), "fl")]
    outs = [helper.make_empty_tensor_value_info(k) for k in ("rfft", "full", "spec")]
    g = helper.make_graph(nodes, "g", [x, n], outs, inits)
    m = onnxkit.load(helper.make_model(g, opset_imports=[helper.make_opsetid("", 20)]).SerializeToString())
    infer_shapes(m, strict=True)
    dims = {v.name: list(v.type.shape.dims) for v in m.graph.outputs}
    assert dims["rfft"] == ["B", "floor(T/2) + 1", 2]
    assert dims["full"] == ["B", None, 2]
    assert dims["spec"] == ["B", "floor((T - 16)/4) + 1", 9, 2]


@pytest.mark.parametrize("onesided", [0, 1])
def test_dft_axis_known_at_run_time_only(onesided):
    x = RNG.standard_normal((4, 6, 1)).astype(np.float32)
    feeds = {"x": x, "axis": i64(0)}
    check("DFT", feeds, order=["x", "", "axis"], onesided=onesided)
