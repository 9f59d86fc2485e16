"""ImageDecoder against onnx.reference (both use Pillow) beyond the
conformance cases, images with alpha or a palette, the error without Pillow,
and the shape rule against onnx.shape_inference."""

from __future__ import annotations

import io
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import onnxkit
from tests.infer.agreement import compare

Image = pytest.importorskip("PIL.Image")
RNG = np.random.default_rng(0)


def _model(fmt: str) -> onnx.ModelProto:
    node = helper.make_node("ImageDecoder", ["data"], ["y"], pixel_format=fmt)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("data", TensorProto.UINT8, [None])],
                          [helper.make_empty_tensor_value_info("y")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 20)])


def _encode(pixels: np.ndarray, fmt: str, mode: str | None = None) -> np.ndarray:
    buf = io.BytesIO()
    img = Image.fromarray(pixels)
    if mode:
        img = img.convert(mode)
    img.save(buf, format=fmt)
    return np.frombuffer(buf.getvalue(), np.uint8)


def decode(data: np.ndarray, fmt: str) -> np.ndarray:
    return onnxkit.Session(_model(fmt).SerializeToString()).run(None, {"data": data})[0]


@pytest.mark.parametrize("fmt", ["RGB", "BGR", "Grayscale"])
@pytest.mark.parametrize("codec", ["PNG", "BMP", "TIFF", "PPM"])
def test_like_reference(fmt, codec):
    data = _encode(RNG.integers(0, 256, (13, 7, 3), dtype=np.uint8), codec)
    want = ReferenceEvaluator(_model(fmt)).run(None, {"data": data})[0]
    got = decode(data, fmt)
    assert got.dtype == np.uint8 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    n, gaps = compare("ImageDecoder", _model(fmt))
    assert n and not gaps, gaps


@pytest.mark.parametrize("mode", ["RGBA", "P", "L"])
def test_other_source_modes_become_three_channels(mode):
    pixels = RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    data = _encode(pixels, "PNG", mode)
    want = np.asarray(Image.open(io.BytesIO(data.tobytes())).convert("RGB"))
    np.testing.assert_array_equal(decode(data, "RGB"), want)
    np.testing.assert_array_equal(decode(data, "BGR"), want[:, :, ::-1])
    assert decode(data, "Grayscale").shape == (6, 5, 1)


def test_undecodable_bytes_name_the_node():
    with pytest.raises(onnxkit.errors.RunError, match="ImageDecoder.*cannot decode"):
        decode(np.arange(20, dtype=np.uint8), "RGB")


def test_without_pillow_a_run_error_says_so(monkeypatch):
    data = _encode(np.zeros((2, 2, 3), np.uint8), "PNG")
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(onnxkit.errors.RunError, match="needs Pillow"):
        decode(data, "RGB")
