"""Resize, Upsample, CenterCropPad, GridSample, AffineGrid, RoiAlign,
MaxRoiPool and NonMaxSuppression against onnxruntime / onnx.reference beyond
the conformance cases, and their shape rules."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

from tests.ops.nn_testutil import check_op, check_shapes, node_model, run_onnxkit

rng = np.random.default_rng(5)
F = TensorProto.FLOAT
E = np.zeros(0, np.float32)


def r(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("attrs, scales, sizes", [
    (dict(mode="linear", coordinate_transformation_mode="pytorch_half_pixel"), [1, 1, 0.6, 1.7], None),
    (dict(mode="cubic", coordinate_transformation_mode="align_corners", cubic_coeff_a=-0.5), [1, 1, 2.0, 0.5], None),
    (dict(mode="cubic", exclude_outside=1), None, [1, 2, 7, 3]),
    (dict(mode="nearest", nearest_mode="ceil", coordinate_transformation_mode="asymmetric"), [1, 1, 1.5, 0.7], None),
    (dict(mode="linear", antialias=1), None, [1, 2, 3, 4]),
    (dict(mode="nearest", keep_aspect_ratio_policy="not_smaller", axes=[2, 3]), None, [7, 7]),
])
def test_resize(attrs, scales, sizes):
    x = r(1, 2, 5, 6)
    ins = [("x", x), ("roi", E), ("s", np.array(scales, np.float32) if scales else E)]
    if sizes:
        ins = [("x", x), ("", None), ("", None), ("z", np.array(sizes, np.int64))]
    check_op("Resize", ins, opset=19, initializers={k: v for k, v in ins[1:] if k}, **attrs)


def test_resize_uint8_and_tf_crop():
    x = rng.integers(0, 255, (1, 1, 4, 5), dtype=np.uint8)
    # integers are rounded (onnx.reference; onnxruntime truncates)
    check_op("Resize", [("x", x), ("roi", E), ("s", np.array([1, 1, 1.5, 1.5], np.float32))], opset=13,
             mode="linear", oracle="ref", atol=1)
    roi = np.array([0, 0, 0.2, 0.1, 1, 1, 1.3, 0.8], np.float32)
    check_op("Resize", [("x", r(1, 1, 4, 5)), ("roi", roi), ("", None), ("z", np.array([1, 1, 3, 3], np.int64))],
             opset=13, mode="linear", coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=-1.0)


def test_resize_10_upsample_and_center_crop_pad():
    check_op("Resize", [("x", r(1, 1, 3, 4)), ("s", np.array([1, 1, 2, 1.5], np.float32))], opset=10)
    check_op("Upsample", [("x", r(1, 2, 3, 3)), ("s", np.array([1, 1, 2, 3], np.float32))], opset=9)
    check_op("Upsample", [("x", r(1, 2, 3, 3))], opset=7, mode="linear", scales=[1.0, 1.0, 2.0, 2.0])
    check_op("CenterCropPad", [("x", r(5, 4, 3)), ("s", np.array([4, 7], np.int64))], opset=18, axes=[0, -2],
             oracle="ref")


@pytest.mark.parametrize("mode", ["linear", "nearest", "cubic"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
def test_grid_sample(mode, padding_mode):
    grid = rng.uniform(-1.3, 1.3, (2, 3, 4, 2)).astype(np.float32)
    for ac in (0, 1):
        check_op("GridSample", [("x", r(2, 3, 5, 4)), ("g", grid)], opset=20, mode=mode,
                 padding_mode=padding_mode, align_corners=ac, rtol=1e-4, atol=1e-4)


def test_grid_sample_3d_and_affine_grid():
    grid = rng.uniform(-1.2, 1.2, (1, 2, 3, 2, 3)).astype(np.float32)
    check_op("GridSample", [("x", r(1, 2, 3, 4, 5)), ("g", grid)], opset=20, mode="linear",
             padding_mode="reflection", oracle="ref")
    theta = r(2, 3, 4)
    check_op("AffineGrid", [("t", theta), ("s", np.array([2, 1, 2, 3, 4], np.int64))], opset=20, align_corners=1)
    check_op("AffineGrid", [("t", r(2, 2, 3)), ("s", np.array([2, 1, 3, 4], np.int64))], opset=20)


def test_roi_align_max_roi_pool_nms():
    x = r(2, 3, 10, 12)
    rois = np.array([[0, 0, 5, 6], [2.3, 1.1, 9.7, 8.2], [1, 1, 1.5, 2]], np.float32)
    bi = np.array([0, 1, 1], np.int64)
    for mode in ("avg", "max"):
        check_op("RoiAlign", [("x", x), ("r", rois), ("b", bi)], opset=16, mode=mode, output_height=3,
                 output_width=2, sampling_ratio=0 if mode == "avg" else 2, spatial_scale=0.8,
                 coordinate_transformation_mode="output_half_pixel" if mode == "avg" else "half_pixel")
    mrois = np.array([[0, 0, 0, 5, 6], [1, 2, 1, 11, 8]], np.float32)
    check_op("MaxRoiPool", [("x", x), ("r", mrois)], pooled_shape=[2, 3], spatial_scale=0.9, opset=1)
    boxes = rng.uniform(0, 10, (2, 20, 4)).astype(np.float32)
    scores = rng.random((2, 3, 20)).astype(np.float32)
    check_op("NonMaxSuppression", [("b", boxes), ("s", scores), ("m", np.array([4], np.int64)),
                                   ("i", np.array([0.3], np.float32)), ("t", np.array([0.2], np.float32))],
             center_point_box=1, opset=11)


def test_resize_family_shapes():
    def resize(x, scales=None, sizes=None, **attrs):
        ins = [("x", (F, x)), ("roi", E)] + ([("s", np.array(scales, np.float32))] if scales else [("", None)])
        init = {"roi": E}
        if scales:
            init["s"] = np.array(scales, np.float32)
        if sizes:
            ins.append(("z", np.array(sizes, np.int64)))
            init["z"] = np.array(sizes, np.int64)
        return check_shapes(node_model("Resize", ins, opset=19, initializers=init, **attrs))[0]
    assert resize(["N", 3, "H", "W"], scales=[1, 1, 2, 2]) == "float[N,3,2*H,2*W]"
    assert resize(["N", 3, "H", "W"], scales=[1, 1, 0.5, 0.5]).startswith("float[N,3,")
    assert resize(["N", 3, 10, 20], scales=[1, 1, 0.6, 1.5]) == "float[N,3,6,30]"
    assert resize(["N", 3, "H", "W"], sizes=[32, 48], axes=[2, 3]) == "float[N,3,32,48]"
    assert resize(["N", 3, 10, 20], sizes=[15, 15], axes=[2, 3], keep_aspect_ratio_policy="not_larger") \
        == "float[N,3,8,15]"
    m = node_model("GridSample", [("x", (F, ["N", 3, "H", "W"])), ("g", (F, ["N", 5, 7, 2]))], opset=20)
    assert check_shapes(m) == ["float[N,3,5,7]"]
    m = node_model("RoiAlign", [("x", (F, ["N", 3, "H", "W"])), ("r", (F, ["R", 4])),
                                ("b", (TensorProto.INT64, ["R"]))], opset=16, output_height=4, output_width=5)
    assert check_shapes(m) == ["float[R,3,4,5]"]
    m = node_model("CenterCropPad", [("x", (F, ["N", 5, 6])), ("s", np.array([3, 9], np.int64))], opset=18,
                   axes=[1, 2], initializers={"s": np.array([3, 9], np.int64)})
    assert check_shapes(m) == ["float[N,3,9]"]
    m = node_model("NonMaxSuppression", [("b", (F, [1, "B", 4])), ("s", (F, [1, 2, "B"]))], opset=11)
    assert check_shapes(m) == ["int64[?,3]"]


def test_any_element_type():
    x = rng.integers(-100, 100, (1, 1, 3, 4)).astype(np.int32)
    sc = ("s", np.array([1, 1, 1.5, 2], np.float32))
    for dt in (np.int32, np.uint8, np.complex64):
        xv = (np.abs(x) if dt == np.uint8 else x).astype(dt)
        near = check_op("Resize", [("x", xv), ("roi", E), sc], opset=19, mode="nearest", oracle="ref")[0]
        if dt in (np.int32, np.uint8):    # rounded: a tie may fall either way in float arithmetic
            check_op("Resize", [("x", xv), ("roi", E), sc], opset=19, mode="linear", oracle="ref", atol=1)
    xb = (x > 0)
    got = run_onnxkit(node_model("Resize", [("x", xb), ("roi", E), sc], opset=19), {"x": xb, "roi": E,
                                                                                   "s": sc[1]})[0]
    np.testing.assert_array_equal(got, near.real > 0)      # onnx.reference cannot resize booleans
    grid = rng.uniform(-1, 1, (1, 2, 3, 2)).astype(np.float32)
    check_op("GridSample", [("x", x.astype(np.int8)), ("g", grid)], opset=22, mode="nearest", oracle="ref")
    check_op("CenterCropPad", [("x", np.array([["a", "b"], ["c", "d"]], dtype=object)),
                               ("s", np.array([1, 3], np.int64))], opset=18, oracle="ref")
    check_op("Col2Im", [("x", rng.integers(0, 9, (1, 4, 4)).astype(np.int64)), ("i", np.array([3, 3], np.int64)),
                        ("b", np.array([2, 2], np.int64))], opset=18, oracle="ref")
