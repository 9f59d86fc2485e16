"""The channels-last kernels (ai.onnxkit NhwcConv / NhwcMaxPool) against the
general NCHW kernels and onnxruntime, on random data: every fast path (1x1
GEMM, row im2col, full im2col, depthwise, grouped), strides, pads,
dilations, auto_pad, batch > 1, float64, fused bias / residual / activation;
and a full product of batch x kernel shape x strides x dilations x pads x
groups (pooling: x ceil_mode x dtype) in which every path is checked to have
met every value of every attribute."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools

import numpy as np
import pytest

import onnxkit.ops.fused_conv as fc
from onnxkit.ops.fused_conv import apply_activation, nhwc_conv, nhwc_max_pool
from onnxkit.ops.nn_conv import conv
from onnxkit.ops.nn_pool import max_pool

rng = np.random.default_rng(0)


def _nhwc(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def _nchw(a):
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2))


def _pack(w):
    """(M, C/g, KH, KW) -> (KH, KW, C/g, M), the pass's prepacking."""
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0))


CASES = [
    # n, c, h, w, m, k, attrs
    (1, 16, 9, 9, 8, (1, 1), {}),                                        # 1x1: one GEMM
    (2, 6, 7, 5, 4, (1, 1), dict(strides=[2, 2])),                       # strided 1x1
    (1, 8, 10, 10, 12, (3, 3), dict(pads=[1, 1, 1, 1])),                  # row im2col
    (3, 5, 9, 11, 7, (3, 3), dict(pads=[1, 1, 1, 1])),                    # batch > 1
    (1, 4, 12, 12, 6, (3, 3), dict(pads=[1, 1, 1, 1], strides=[2, 2])),   # full im2col
    (1, 3, 23, 23, 8, (7, 7), dict(pads=[3, 3, 3, 3], strides=[2, 2])),   # the stem
    (2, 4, 9, 8, 5, (3, 2), dict(pads=[2, 0, 1, 1], dilations=[2, 1])),   # asymmetric, dilated
    (1, 4, 9, 9, 5, (3, 3), dict(strides=[1, 2], dilations=[1, 2])),
    (1, 4, 9, 9, 5, (3, 3), dict(strides=[2, 1])),
    (1, 4, 7, 9, 5, (3, 3), dict(auto_pad="SAME_UPPER", strides=[2, 2])),
    (1, 4, 8, 8, 5, (2, 2), dict(auto_pad="SAME_LOWER")),
    (1, 4, 8, 8, 5, (3, 3), dict(auto_pad="VALID")),
    (1, 8, 10, 10, 8, (3, 3), dict(pads=[1, 1, 1, 1], group=8)),         # depthwise
    (2, 6, 11, 11, 6, (3, 3), dict(pads=[1, 1, 1, 1], strides=[2, 2], group=6)),
    (1, 6, 9, 9, 12, (3, 3), dict(pads=[1, 1, 1, 1], group=6)),          # depthwise, multiplier 2
    (2, 8, 7, 7, 12, (3, 3), dict(pads=[0, 1, 1, 0], group=4)),          # grouped
    (1, 8, 6, 6, 4, (1, 1), dict(group=2)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,c,h,w,m,k,attrs", CASES)
def test_nhwc_conv_matches_general_kernel(n, c, h, w, m, k, attrs, dtype):
    g = attrs.get("group", 1)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((m, c // g, *k)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    want = conv(x, wt, b, kernel_shape=list(k), **attrs)
    got = nhwc_conv(_nhwc(x), _pack(wt), b, kernel_shape=list(k), **attrs)
    assert got.dtype == dtype and got.shape == (want.shape[0], *want.shape[2:], want.shape[1])
    tol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(_nchw(got), want, rtol=tol, atol=tol)


ACTS = [("", []), ("Relu", []), ("Clip", [0.0, 6.0]), ("Clip", [-np.inf, 0.5]), ("LeakyRelu", [0.1]),
        ("Sigmoid", []), ("HardSigmoid", [0.2, 0.5]), ("HardSwish", [])]


def _reference_activation(y, act, params):
    if act == "Relu":
        return np.maximum(y, 0)
    if act == "Clip":
        return np.clip(y, *params)
    if act == "LeakyRelu":
        return np.where(y < 0, y * params[0], y)
    if act == "Sigmoid":
        return 1 / (1 + np.exp(-y))
    if act == "HardSigmoid":
        return np.clip(y * params[0] + params[1], 0, 1)
    if act == "HardSwish":
        return y * np.clip(y / 6 + 0.5, 0, 1)
    return y


@pytest.mark.parametrize("act,params", ACTS)
def test_fused_residual_and_activation(act, params):
    x = rng.standard_normal((2, 6, 8, 8)).astype(np.float32)
    wt = rng.standard_normal((6, 6, 3, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    z = rng.standard_normal((2, 6, 8, 8)).astype(np.float32)
    want = _reference_activation(conv(x, wt, b, pads=[1, 1, 1, 1]) + z, act, params)
    got = nhwc_conv(_nhwc(x), _pack(wt), b, _nhwc(z), pads=[1, 1, 1, 1], activation=act,
                    activation_params=params)
    np.testing.assert_allclose(_nchw(got), want, rtol=1e-4, atol=1e-4)


def test_residual_broadcasts_like_add():
    x = rng.standard_normal((1, 4, 5, 5)).astype(np.float32)
    wt = rng.standard_normal((3, 4, 1, 1)).astype(np.float32)
    z = rng.standard_normal((2, 3, 1, 5)).astype(np.float32)
    want = conv(x, wt) + z
    got = nhwc_conv(_nhwc(x), _pack(wt), None, _nhwc(z))
    np.testing.assert_allclose(_nchw(got), want, rtol=1e-5, atol=1e-5)


def test_activation_keeps_nan():
    y = np.array([np.nan, -1.0, 2.0], dtype=np.float32)
    assert np.isnan(apply_activation(y.copy(), "Relu", [])[0])


def test_im2col_in_pieces(monkeypatch):
    """A batch whose patches pass the copy budget goes a few images at a time, same result."""
    import onnxkit.ops.fused_conv as fc
    x = rng.standard_normal((5, 3, 15, 15)).astype(np.float32)
    wt = rng.standard_normal((8, 3, 7, 7)).astype(np.float32)
    attrs = dict(kernel_shape=[7, 7], pads=[3, 3, 3, 3], strides=[2, 2])
    whole = nhwc_conv(_nhwc(x), _pack(wt), **attrs)
    monkeypatch.setattr(fc, "_IM2COL_BYTES", 2 * 8 * 8 * 7 * 7 * 3 * 4)      # two images per piece
    pieces = nhwc_conv(_nhwc(x), _pack(wt), **attrs)
    np.testing.assert_allclose(pieces, whole, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_nchw(pieces), conv(x, wt, None, **attrs), rtol=1e-4, atol=1e-4)


def test_bad_weight_shape_is_an_error():
    with pytest.raises(ValueError, match="does not fit"):
        nhwc_conv(np.zeros((1, 4, 4, 3), np.float32), np.zeros((3, 3, 2, 4), np.float32))


POOLS = [
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    dict(kernel_shape=[2, 2], strides=[2, 2]),
    dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
    dict(kernel_shape=[3, 2], strides=[1, 2], dilations=[2, 1], pads=[2, 0, 1, 1]),
    dict(kernel_shape=[3, 3], auto_pad="SAME_UPPER", strides=[2, 2]),
    dict(kernel_shape=[1, 3]),
    dict(kernel_shape=[2, 2], pads=[2, 2, 2, 2]),                        # corner windows all padding
    dict(kernel_shape=[3, 3], strides=[3, 2], dilations=[2, 2], ceil_mode=1, pads=[1, 0, 2, 1]),
    dict(kernel_shape=[4, 4], strides=[3, 3], pads=[1, 1, 1, 1], ceil_mode=1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
@pytest.mark.parametrize("attrs", POOLS)
def test_nhwc_max_pool_matches_general_kernel(attrs, dtype):
    x = (rng.standard_normal((2, 3, 10, 9)) * 10).astype(dtype)

    class Ctx:
        def output_present(self, i):
            return False

    want = max_pool(Ctx(), x, **attrs)
    got = nhwc_max_pool(_nhwc(x), **attrs)
    np.testing.assert_array_equal(_nchw(got), want)


def test_against_onnxruntime():
    """A Conv + Relu as onnxruntime computes it, through NhwcConv."""
    import onnx
    import onnxruntime as ort
    from onnx import helper as oh, numpy_helper
    x = rng.standard_normal((2, 16, 14, 14)).astype(np.float32)
    wt = (rng.standard_normal((32, 16, 3, 3)) * 0.1).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    g = oh.make_graph([oh.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1], strides=[2, 2]),
                       oh.make_node("Relu", ["y"], ["z"])], "g",
                      [oh.make_tensor_value_info("x", onnx.TensorProto.FLOAT, x.shape)],
                      [oh.make_tensor_value_info("z", onnx.TensorProto.FLOAT, None)],
                      [numpy_helper.from_array(wt, "w"), numpy_helper.from_array(b, "b")])
    # ir_version 8: every onnxruntime the project accepts (>=1.20) reads it; onnx's default (14) not all
    model = oh.make_model(g, opset_imports=[oh.make_opsetid("", 17)], ir_version=8)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = nhwc_conv(_nhwc(x), _pack(wt), b, pads=[1, 1, 1, 1], strides=[2, 2], activation="Relu")
    np.testing.assert_allclose(_nchw(got), want, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------- every path x every attribute
# A full product of small cases, each run through the fast kernel with the path it took
# recorded, and through the general NCHW kernel in float64 (the two then agree to rounding).
# For each path the tests check the results, and that the path met every value of every
# attribute it can take (a path that only ever saw one dilation would let a bug in its
# dilated indexing through).

#: channel layouts: (C, M, group)
CONV_KINDS = {"dense": (3, 5, 1), "grouped": (4, 6, 2), "depthwise": (4, 4, 4), "depthwise x2": (3, 6, 3)}
KERNELS = {"1x1": (1, 1), "tall": (3, 1), "wide": (1, 3), "square": (3, 3)}
STRIDES = [(1, 1), (2, 1), (1, 2), (2, 2)]
DILATIONS = [(1, 1), (2, 1), (1, 2)]
PADS = [(0, 0, 0, 0), (1, 1, 1, 1), (2, 0, 1, 3)]            # (top, left, bottom, right)
#: a batch of small images takes the full im2col; large ones (over 400 output pixels at
#: stride 1) the row im2col, as one image does
SIZES = {"small": (7, 6), "large": (26, 23)}


@dataclasses.dataclass(frozen=True)
class ConvCase:
    batch: int
    size: str
    kind: str
    kernel: str
    strides: tuple
    dilations: tuple
    pads: tuple

    def attrs(self) -> dict:
        return dict(kernel_shape=list(KERNELS[self.kernel]), strides=list(self.strides),
                    dilations=list(self.dilations), pads=list(self.pads), group=CONV_KINDS[self.kind][2])


CONV_PRODUCT = [ConvCase(*c) for c in itertools.product([1, 2], SIZES, CONV_KINDS, KERNELS, STRIDES, DILATIONS,
                                                        PADS)]
CONV_DIMS = ("batch", "kind", "kernel", "strides", "dilations", "pads")


@contextlib.contextmanager
def _recording_conv_path():
    """Patch fused_conv's inner steps to note which of them ran; yields the notes list."""
    notes: list[str] = []
    real_as_strided, real_einsum = fc.as_strided, np.einsum

    def noting(note, fn):
        def wrapper(*args, **kwargs):
            notes.append(note)
            return fn(*args, **kwargs)
        return wrapper

    def as_strided(x, shape, *args, **kwargs):
        if len(shape) == 5:                          # (N, Hp, OW, KW, C): the row copy's patches
            notes.append("rows")
        return real_as_strided(x, shape, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fc, "_im2col_gemm", noting("im2col", fc._im2col_gemm))
        mp.setattr(fc, "_conv_grouped", noting("grouped", fc._conv_grouped))
        mp.setattr(fc, "as_strided", as_strided)
        mp.setattr(fc.np, "einsum", noting("einsum", real_einsum))
        yield notes


def _conv_path(notes: list[str], in_pieces: bool) -> str:
    if "einsum" in notes:
        return "depthwise einsum"
    if "grouped" in notes:
        return "grouped GEMM"
    if "im2col" in notes:
        return "full im2col in pieces" if in_pieces else "full im2col"
    if "rows" in notes:
        return "row im2col"
    return "1x1 GEMM"


@dataclasses.dataclass
class ConvRun:
    case: ConvCase
    path: str
    error: float                 # max |fast - general| / (1 + max |general|); inf: wrong shape


def _run_conv_case(case: ConvCase, rng, one_image_at_a_time: bool = False) -> ConvRun:
    c, m, g = CONV_KINDS[case.kind]
    x = rng.standard_normal((case.batch, c, *SIZES[case.size]))
    w = rng.standard_normal((m, c // g, *KERNELS[case.kernel]))
    b = rng.standard_normal(m)
    want = conv(x, w, b, **case.attrs())
    with pytest.MonkeyPatch.context() as mp, _recording_conv_path() as notes:
        if one_image_at_a_time:
            mp.setattr(fc, "_IM2COL_BYTES", 1)
        got = _nchw(nhwc_conv(_nhwc(x), _pack(w), b, **case.attrs()))
    err = float(np.abs(got - want).max() / (1 + np.abs(want).max())) if got.shape == want.shape else np.inf
    return ConvRun(case, _conv_path(notes, one_image_at_a_time and case.batch > 1), err)


@pytest.fixture(scope="module")
def conv_runs() -> list[ConvRun]:
    """Every case of CONV_PRODUCT run once; each batch case that took the full im2col is
    run again one image at a time (the copy budget cut to nothing)."""
    rng = np.random.default_rng(7)
    runs = []
    for case in CONV_PRODUCT:
        run = _run_conv_case(case, rng)
        runs.append(run)
        if run.path == "full im2col" and case.batch > 1:
            runs.append(_run_conv_case(case, rng, one_image_at_a_time=True))
    return runs


_ALL_CONV = dict(batch={1, 2}, kind=set(CONV_KINDS), kernel=set(KERNELS), strides=set(STRIDES),
                 dilations=set(DILATIONS), pads=set(PADS))
#: the attribute values each path can take (everything, but what decides the path)
CONV_PATHS = {
    "1x1 GEMM": {**_ALL_CONV, "kind": {"dense"}, "kernel": {"1x1"}, "strides": {(1, 1)}},
    "row im2col": {**_ALL_CONV, "kind": {"dense"}, "kernel": {"tall", "square"}, "strides": {(1, 1), (1, 2)}},
    "full im2col": {**_ALL_CONV, "kind": {"dense"}},
    "full im2col in pieces": {**_ALL_CONV, "kind": {"dense"}, "batch": {2}},
    "depthwise einsum": {**_ALL_CONV, "kind": {"depthwise"}},
    "grouped GEMM": {**_ALL_CONV, "kind": {"grouped", "depthwise x2"}},
}


@pytest.mark.parametrize("path", CONV_PATHS)
def test_conv_path_matches_general_kernel(conv_runs, path):
    runs = [r for r in conv_runs if r.path == path]
    bad = [r for r in runs if not r.error < 1e-12]
    assert runs and not bad, f"{len(bad)} of {len(runs)} cases differ, e.g.\n" + "\n".join(
        f"  {r.case} (error {r.error:.2g})" for r in bad[:8])


@pytest.mark.parametrize("path", CONV_PATHS)
def test_conv_path_meets_every_attribute(conv_runs, path):
    seen = {dim: {getattr(r.case, dim) for r in conv_runs if r.path == path} for dim in CONV_DIMS}
    assert seen == CONV_PATHS[path]


# MaxPool: separable, each axis either starts from a tap every output reads ("whole") or
# from the lowest value, for windows that begin in the padding ("filled"); taps that fall
# outside the input are skipped.
POOL_KERNELS = {"1x1": (1, 1), "tall": (3, 1), "wide": (1, 3), "square": (3, 3), "2x2": (2, 2)}
POOL_PADS = [(0, 0, 0, 0), (1, 1, 1, 1), (2, 1, 1, 2), (2, 0, 1, 0), (0, 1, 0, 2)]  # none, both, H or W only


@dataclasses.dataclass(frozen=True)
class PoolCase:
    batch: int
    dtype: str
    kernel: str
    strides: tuple
    dilations: tuple
    pads: tuple
    ceil_mode: int

    def attrs(self) -> dict:
        return dict(kernel_shape=list(POOL_KERNELS[self.kernel]), strides=list(self.strides),
                    dilations=list(self.dilations), pads=list(self.pads), ceil_mode=self.ceil_mode)


POOL_PRODUCT = [PoolCase(*c) for c in itertools.product([1, 2], ["float32", "int32"], POOL_KERNELS, STRIDES,
                                                        DILATIONS, POOL_PADS, [0, 1])]
POOL_DIMS = ("batch", "dtype", "kernel", "strides", "dilations", "pads", "ceil_mode")


class _NoIndices:
    def output_present(self, i):
        return False


@contextlib.contextmanager
def _recording_pool_starts():
    """Patch fused_conv so that each axis notes how its max started; yields
    {axis (1: H, 2: W): "whole" or "filled"}."""
    starts: dict[int, str] = {}
    reducing = [None]                                 # the axis _axis_max is working on
    real_axis_max, real_full = fc._axis_max, np.full

    def axis_max(x, axis, *args):
        reducing[0] = axis
        starts[axis] = "whole"
        return real_axis_max(x, axis, *args)

    def full(*args, **kwargs):                        # called by _axis_max only to start "filled"
        starts[reducing[0]] = "filled"
        return real_full(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fc, "_axis_max", axis_max)
        mp.setattr(fc.np, "full", full)
        yield starts


@pytest.fixture(scope="module")
def pool_runs() -> list[tuple[PoolCase, str, bool]]:
    """(case, path, equal to the general kernel) for every case of POOL_PRODUCT; the path
    says how each axis started, height first: "H whole, W filled"."""
    rng = np.random.default_rng(8)
    runs = []
    for case in POOL_PRODUCT:
        x = (rng.standard_normal((case.batch, 3, 9, 8)) * 10).astype(case.dtype)
        want = max_pool(_NoIndices(), x, **case.attrs())
        with _recording_pool_starts() as starts:
            got = _nchw(nhwc_max_pool(_nhwc(x), **case.attrs()))
        runs.append((case, f"H {starts[1]}, W {starts[2]}", got.shape == want.shape and np.array_equal(got, want)))
    return runs


_ALL_POOL = dict(batch={1, 2}, dtype={"float32", "int32"}, kernel=set(POOL_KERNELS), strides=set(STRIDES),
                 dilations=set(DILATIONS), pads=set(POOL_PADS), ceil_mode={0, 1})
_H_PADDED = {p for p in POOL_PADS if p[0] or p[2]}
_W_PADDED = {p for p in POOL_PADS if p[1] or p[3]}
#: a window starts in the padding only along an axis that has some
POOL_PATHS = {
    "H whole, W whole": _ALL_POOL,
    "H filled, W whole": {**_ALL_POOL, "pads": _H_PADDED},
    "H whole, W filled": {**_ALL_POOL, "pads": _W_PADDED},
    "H filled, W filled": {**_ALL_POOL, "pads": _H_PADDED & _W_PADDED},
}


@pytest.mark.parametrize("path", POOL_PATHS)
def test_max_pool_path_matches_general_kernel(pool_runs, path):
    runs = [(case, ok) for case, p, ok in pool_runs if p == path]
    bad = [case for case, ok in runs if not ok]
    assert runs and not bad, f"{len(bad)} of {len(runs)} cases differ, e.g.\n" + "\n".join(f"  {c}" for c in bad[:8])


@pytest.mark.parametrize("path", POOL_PATHS)
def test_max_pool_path_meets_every_attribute(pool_runs, path):
    seen = {dim: {getattr(case, dim) for case, p, _ in pool_runs if p == path} for dim in POOL_DIMS}
    assert seen == POOL_PATHS[path]
