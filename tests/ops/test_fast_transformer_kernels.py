"""The fast paths of the transformer kernels against plain oracles: math.erf
on dense grids, float64 numpy references, the kernels' own general paths
(float64 inputs), onnxruntime on one-node models.

Covers: float32 erf/Erf and Gelu, Softmax/LogSoftmax, LayerNormalization,
MatMul/Gemm (flattened 3-D products, unaligned and transposed operands),
Attention's float32 path, ai.onnxkit FusedMatMul (every path against the spec
ops it stands for), and the plan's direct ufunc calls (runtime/_fast.py)
against the registered kernels."""

from __future__ import annotations

import itertools
import math

import ml_dtypes
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxkit
from onnxkit.ops import find_kernel
from onnxkit.ops.fused_matmul import fused_matmul
from onnxkit.ops.math_activation import erf_f32, gelu, gelu_inplace
from onnxkit.ops.math_matmul import gemm, matmul
from onnxkit.ops.nn_attention import attention
from onnxkit.ops import registered_fast
from onnxkit.runtime import _fast

RNG = np.random.default_rng(3)
_math_erf = np.vectorize(math.erf, otypes=[np.float64])


def _unaligned(values: np.ndarray) -> np.ndarray:
    """A copy of ``values`` at an odd address (a weight memory-mapped at an
    odd file offset)."""
    buf = np.zeros(values.nbytes + 1, np.uint8)
    buf[1:] = np.ascontiguousarray(values).reshape(-1).view(np.uint8)
    arr = buf[1:].view(values.dtype).reshape(values.shape)
    assert not arr.flags.aligned
    return arr


def _kernel(op, opset, domain=""):
    return find_kernel(op, opset, domain).fn


def _ort(nodes, inputs, outputs, feeds, inits=(), opset=17):
    ort = pytest.importorskip("onnxruntime")
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(None, feeds)


def _vi(name, shape, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, shape)


# --------------------------------------------------------------------- erf
def test_erf_f32_dense_grid():
    x = np.concatenate([np.linspace(-7, 7, 400001), np.logspace(-30, 2, 4001), -np.logspace(-30, 2, 4001)])
    x = x.astype(np.float32)
    want = _math_erf(x.astype(np.float64))
    got = erf_f32(x)
    assert got.dtype == np.float32
    err = np.abs(got - want)
    assert err.max() < 2.5e-7
    nz = np.abs(want) > 0
    assert (err[nz] / np.abs(want[nz])).max() < 4e-7


def test_erf_f32_special_values_and_layout():
    x = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1e30, -3e38, 1e-45], np.float32)
    got = erf_f32(x)
    assert got[0] == 1 and got[1] == -1 and np.isnan(got[2]) and got[3] == 0 and np.signbit(got[4])
    assert got[5] == 1 and got[6] == -1 and abs(got[7] - 1e-45 * 2 / math.sqrt(math.pi)) < 1e-44
    big = RNG.standard_normal((3, 70001)).astype(np.float32)[:, ::2]        # strided, several blocks
    np.testing.assert_allclose(erf_f32(big), _math_erf(big.astype(np.float64)), rtol=0, atol=2.5e-7)


@pytest.mark.parametrize("dtype,tol", [(np.float32, 2.5e-7), (np.float64, 2e-9), (np.float16, 1e-3),
                                       (ml_dtypes.bfloat16, 1e-2)])
def test_erf_kernel_types(dtype, tol):
    k = _kernel("Erf", 13)
    x = np.linspace(-5, 5, 1001).astype(dtype)
    got = k(x)
    assert got.dtype == np.dtype(dtype) and got.shape == x.shape
    np.testing.assert_allclose(got.astype(np.float64), _math_erf(x.astype(np.float64)), rtol=0, atol=tol)
    assert k(np.array(0.5, dtype)).shape == ()


# -------------------------------------------------------------------- Gelu
def _gelu_ref(x, approximate="none"):
    x = x.astype(np.float64)
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + _math_erf(x / math.sqrt(2)))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_float32(approximate):
    x = np.concatenate([np.linspace(-12, 12, 300001), [np.inf, -np.inf]]).astype(np.float32)
    got = gelu(x, approximate=approximate)
    want = _gelu_ref(x, approximate)
    assert got.dtype == np.float32
    fin = np.isfinite(x)
    # error relative to max(|x|, 1): x * Phi(x) is computed as 0.5x + 0.5x * erf
    scale = np.maximum(np.abs(x[fin]), 1)
    assert (np.abs(got[fin] - want[fin]) / scale).max() < 3e-7
    assert got[-2] == np.inf
    y = x[fin].copy()
    assert gelu_inplace(y, approximate) is y
    np.testing.assert_array_equal(y, got[fin])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_against_onnxruntime(approximate):
    x = (3 * RNG.standard_normal((2, 50, 33))).astype(np.float32)
    want = _ort([helper.make_node("Gelu", ["x"], ["y"], approximate=approximate)], [_vi("x", list(x.shape))],
                [_vi("y", None)], {"x": x}, opset=20)[0]
    np.testing.assert_allclose(_kernel("Gelu", 20)(x, approximate=approximate), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float16, ml_dtypes.bfloat16])
def test_gelu_other_types(dtype):
    x = np.linspace(-6, 6, 97).astype(dtype)
    got = gelu(x)
    assert got.dtype == np.dtype(dtype)
    tol = {np.dtype(np.float64): 1e-9, np.dtype(np.float16): 1e-2}.get(np.dtype(dtype), 5e-2)
    np.testing.assert_allclose(got.astype(np.float64), _gelu_ref(x), rtol=tol, atol=tol)
    assert gelu(np.array(1.0, np.float32)).shape == ()


# ----------------------------------------------------------------- softmax
def _softmax_ref(x, axis):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("axis", [-1, 0, 1, 2])
def test_softmax_logsoftmax(axis):
    x = (4 * RNG.standard_normal((3, 4, 5))).astype(np.float32)
    x[0, 0, 0] = -np.inf
    sm = _kernel("Softmax", 13)(x, axis=axis)
    lsm = _kernel("LogSoftmax", 13)(x, axis=axis)
    want = _softmax_ref(x, axis)
    assert sm.dtype == lsm.dtype == np.float32
    np.testing.assert_allclose(sm, want, rtol=1e-6, atol=1e-7)
    fin = want > 0
    np.testing.assert_allclose(lsm[fin], np.log(want[fin]), rtol=1e-6, atol=1e-6)
    assert np.isneginf(lsm[~fin]).all()
    assert x[0, 0, 0] == -np.inf                      # the input is left as it was


def test_softmax_opset1_flattens():
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    got = _kernel("Softmax", 1)(x, axis=1)
    np.testing.assert_allclose(got, _softmax_ref(x.reshape(2, 12), 1).reshape(2, 3, 4), rtol=1e-6, atol=1e-7)


# -------------------------------------------------------------- LayerNorm
class _Ctx:
    def __init__(self, n):
        self.n_outputs = n


def _ln_ref(x, scale, b, axis, eps):
    axes = tuple(range(axis % x.ndim, x.ndim))
    xd = x.astype(np.float64)
    m = xd.mean(axis=axes, keepdims=True)
    v = ((xd - m) ** 2).mean(axis=axes, keepdims=True)
    y = (xd - m) / np.sqrt(v + eps) * scale
    return y + b if b is not None else y


@pytest.mark.parametrize("shape,axis", [((2, 7, 768), -1), ((3, 4, 5), -2), ((6, 10), 1), ((4, 9), 0)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_layer_norm_float32(shape, axis, with_bias):
    k = _kernel("LayerNormalization", 17)
    x = (3 * RNG.standard_normal(shape) + 2).astype(np.float32)
    nshape = shape[axis % len(shape):]
    scale = RNG.standard_normal(nshape).astype(np.float32)
    b = RNG.standard_normal(nshape).astype(np.float32) if with_bias else None
    y = k(_Ctx(1), x, scale, b, axis=axis, epsilon=1e-5)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, _ln_ref(x, scale, b, axis, 1e-5), rtol=1e-5, atol=2e-5)
    # three outputs (mean, inv std) go the general way and agree
    y3, mean, inv = k(_Ctx(3), x, scale, b, axis=axis, epsilon=1e-5)
    np.testing.assert_allclose(y3, y, rtol=1e-5, atol=2e-5)
    assert mean.shape == inv.shape == shape[:axis % len(shape)] + (1,) * len(nshape)


def test_layer_norm_against_onnxruntime_and_broadcast_scale():
    x = RNG.standard_normal((2, 5, 16)).astype(np.float32)
    scale, b = RNG.standard_normal(16).astype(np.float32), RNG.standard_normal(16).astype(np.float32)
    want = _ort([helper.make_node("LayerNormalization", ["x", "s", "b"], ["y"], epsilon=1e-3)],
                [_vi("x", [2, 5, 16])], [_vi("y", None)], {"x": x},
                [numpy_helper.from_array(scale, "s"), numpy_helper.from_array(b, "b")])[0]
    k = _kernel("LayerNormalization", 17)
    np.testing.assert_allclose(k(_Ctx(1), x, scale, b, epsilon=1e-3), want, rtol=1e-5, atol=1e-5)
    # scale [1, 16] (broadcast, not the fast path's exact shape) and float16 still work
    np.testing.assert_allclose(k(_Ctx(1), x, scale.reshape(1, 16), b, epsilon=1e-3), want, rtol=1e-5, atol=1e-5)
    h = k(_Ctx(1), x.astype(np.float16), scale.astype(np.float16), b.astype(np.float16), epsilon=1e-3)
    assert h.dtype == np.float16
    np.testing.assert_allclose(h.astype(np.float32), want, rtol=2e-2, atol=2e-2)


# ------------------------------------------------------------ MatMul / Gemm
@pytest.mark.parametrize("a_shape,b_shape", [((2, 3, 4), (4, 5)), ((2, 2, 3, 4), (4, 5)), ((3, 4), (4, 5)),
                                             ((4,), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((2, 3, 4), (4,)),
                                             ((1, 3, 4), (2, 4, 5))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_float(a_shape, b_shape, dtype):
    a = RNG.standard_normal(a_shape).astype(dtype)
    b = RNG.standard_normal(b_shape).astype(dtype)
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    for aa, bb in [(a, b), (_unaligned(a), _unaligned(b))]:
        got = matmul(aa, bb)
        assert got.dtype == np.dtype(dtype) and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_matmul_views_and_other_types():
    a = RNG.standard_normal((2, 6, 4)).astype(np.float32)[:, ::2]           # non-contiguous activation
    w = RNG.standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(matmul(a, w.T), a.astype(np.float64) @ w.T.astype(np.float64), rtol=1e-5, atol=1e-5)
    wt = _unaligned(w).T                                                     # unaligned and transposed
    np.testing.assert_allclose(matmul(a, wt), a.astype(np.float64) @ w.T.astype(np.float64), rtol=1e-5, atol=1e-5)
    ai = RNG.integers(-9, 9, (2, 3, 4)).astype(np.int32)
    bi = RNG.integers(-9, 9, (4, 5)).astype(np.int32)
    got = matmul(ai, bi)
    assert got.dtype == np.int32 and np.array_equal(got, ai @ bi)
    h = matmul(a.astype(np.float16), w.T.astype(np.float16))
    assert h.dtype == np.float16


@pytest.mark.parametrize("transA,transB,alpha,beta,c_shape", [(0, 0, 1.0, 1.0, (5,)), (1, 0, 1.0, 1.0, (3, 5)),
                                                              (0, 1, 0.5, 2.0, (1, 5)), (1, 1, 2.0, 0.0, (3, 1)),
                                                              (0, 0, 1.0, 1.0, None)])
def test_gemm(transA, transB, alpha, beta, c_shape):
    a = RNG.standard_normal((4, 3) if transA else (3, 4)).astype(np.float32)
    b = RNG.standard_normal((5, 4) if transB else (4, 5)).astype(np.float32)
    c = None if c_shape is None else RNG.standard_normal(c_shape).astype(np.float32)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    want = alpha * ((a64.T if transA else a64) @ (b64.T if transB else b64))
    if c is not None:
        want = want + beta * c
    for aa, bb in [(a, b), (_unaligned(a), _unaligned(b))]:
        got = gemm(aa, bb, c, alpha=alpha, beta=beta, transA=transA, transB=transB)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------- Attention
def _general(*args, **kw):
    """The general path: float64 inputs (the fast path is float32 only)."""
    return attention(*[a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype == np.float32 else a
                       for a in args], **kw)


def _r(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("case", ["plain", "float_mask", "bool_mask", "dead_rows", "causal", "causal_mask",
                                  "window", "three_d", "probs", "strided"])
def test_attention_float32_path(case):
    q, k, v = _r(2, 3, 5, 8), _r(2, 3, 7, 8), _r(2, 3, 7, 6)
    args, kw = [q, k, v], {}
    if case == "float_mask":
        args.append(_r(5, 7))
    elif case == "bool_mask":
        args.append(RNG.random((2, 1, 5, 7)) > 0.3)
    elif case == "dead_rows":
        m = _r(2, 3, 5, 7)
        m[1, 2, 3, :] = -np.inf
        args.append(m)
        kw["qk_matmul_output_mode"] = 3
    elif case == "causal":
        kw.update(is_causal=1, scale=0.3)
    elif case == "causal_mask":
        args.append(_r(1, 1, 5, 4))                  # padded to kv_len with -inf
        kw["is_causal"] = 1
    elif case == "window":
        kw.update(left_window_size=2, right_window_size=1)
    elif case == "three_d":
        args = [_r(2, 5, 12), _r(2, 7, 12), _r(2, 7, 6)]
        kw.update(q_num_heads=3, kv_num_heads=3)
    elif case == "probs":
        kw["qk_matmul_output_mode"] = 3
    elif case == "strided":                          # heads as transposed views, as exported models give them
        x = _r(2, 5, 3 * 8)
        args = [x.reshape(2, 5, 3, 8).transpose(0, 2, 1, 3)] * 2 + [_r(2, 5, 3, 8).transpose(0, 2, 1, 3)]
    fast = attention(*args, **kw)
    slow = _general(*args, **kw)
    for f, s in zip(fast, slow):
        assert f.dtype == np.float32 and f.shape == s.shape
        np.testing.assert_allclose(f, s, rtol=1e-5, atol=1e-6)
    if case == "dead_rows":
        assert not fast[0][1, 2, 3].any() and not fast[3][1, 2, 3].any()


def test_attention_against_onnxruntime():
    q, k, v = _r(1, 4, 6, 8), _r(1, 4, 6, 8), _r(1, 4, 6, 8)
    mask = _r(1, 1, 6, 6)
    node = helper.make_node("Attention", ["q", "k", "v", "m"], ["y"], is_causal=1)
    try:
        want = _ort([node], [_vi(n, [1, 4, 6, 8]) for n in "qkv"] + [_vi("m", [1, 1, 6, 6])], [_vi("y", None)],
                    {"q": q, "k": k, "v": v, "m": mask}, opset=23)[0]
    except Exception as e:               # noqa: BLE001 - an onnxruntime without Attention-23
        if "Attention" not in str(e) and "opset" not in str(e).lower():
            raise
        want = _general(q, k, v, mask, is_causal=1)[0]
    np.testing.assert_allclose(attention(q, k, v, mask, is_causal=1)[0], want, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------- FusedMatMul
def _fmm_ref(a, b, bias, transB, activation, approximate):
    y = a.astype(np.float64) @ (b.T if transB else b).astype(np.float64)
    if bias is not None:
        y = y + bias
    if activation == "Relu":
        y = np.maximum(y, 0)
    elif activation == "Tanh":
        y = np.tanh(y)
    elif activation == "Sigmoid":
        y = 1 / (1 + np.exp(-y))
    elif activation == "Gelu":
        y = _gelu_ref(y, approximate)
    return y


@pytest.mark.parametrize("activation,approximate", [("", "none"), ("Relu", "none"), ("Tanh", "none"),
                                                    ("Sigmoid", "none"), ("Gelu", "none"), ("Gelu", "tanh")])
@pytest.mark.parametrize("transB", [0, 1])
def test_fused_matmul(activation, approximate, transB):
    a = (2 * RNG.standard_normal((2, 9, 16))).astype(np.float32)
    b = RNG.standard_normal((40, 16) if transB else (16, 40)).astype(np.float32)
    bias = RNG.standard_normal(40).astype(np.float32)
    want = _fmm_ref(a, b, bias, transB, activation, approximate)
    k = _kernel("FusedMatMul", 1, "ai.onnxkit")
    for args in [(a, b, bias), (a, _unaligned(b), _unaligned(bias))]:
        got = k(*args, transB=transB, activation=activation, approximate=approximate)
        assert got.dtype == np.float32 and got.shape == (2, 9, 40) and got.flags.c_contiguous
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    got = fused_matmul(a, b, transB=transB, activation=activation, approximate=approximate)
    np.testing.assert_allclose(got, _fmm_ref(a, b, None, transB, activation, approximate), rtol=1e-5, atol=1e-5)


def test_fused_matmul_shapes_and_types():
    b = RNG.standard_normal((4, 5)).astype(np.float32)
    bias = RNG.standard_normal(5).astype(np.float32)
    a1 = RNG.standard_normal(4).astype(np.float32)                           # 1-D A: MatMul's rule
    np.testing.assert_allclose(fused_matmul(a1, b, bias, activation="Relu"), _fmm_ref(a1, b, bias, 0, "Relu", ""),
                               rtol=1e-5, atol=1e-5)
    a = RNG.standard_normal((3, 4)).astype(np.float32)
    big = RNG.standard_normal((2, 1, 5)).astype(np.float32)                  # a bias that grows the rank
    got = fused_matmul(a, b, big)
    assert got.shape == (2, 3, 5)
    np.testing.assert_allclose(got, _fmm_ref(a, b, big, 0, "", ""), rtol=1e-5, atol=1e-5)
    h = fused_matmul(a.astype(np.float16), b.astype(np.float16), bias.astype(np.float16), activation="Gelu")
    assert h.dtype == np.float16
    np.testing.assert_allclose(h.astype(np.float64), _fmm_ref(a, b, bias, 0, "Gelu", "none"), rtol=2e-2, atol=2e-2)
    a64 = a.astype(np.float64)
    d = fused_matmul(a64, b.astype(np.float64), bias.astype(np.float64), activation="Gelu")
    assert d.dtype == np.float64
    np.testing.assert_allclose(d, _fmm_ref(a64, b, bias, 0, "Gelu", "none"), rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="activation"):
        fused_matmul(a, b, activation="Swish")


def test_fused_matmul_shape_rule():
    from onnxkit.ir import DataType, Graph, Model, Node, TensorType, Value
    a = Value("A", TensorType(DataType.FLOAT, ("n", 7, 16)))
    w = Value("W", TensorType(DataType.FLOAT, (40, 16)))
    node = Node("FusedMatMul", [a, w], [Value("y")], domain="ai.onnxkit", attributes={"transB": 1})
    model = Model(Graph([a, w], [node.outputs[0]], [node]), opset_imports={"": 17, "ai.onnxkit": 1})
    onnxkit.infer_shapes(model)
    y = model.graph.outputs[0]
    assert y.dtype == DataType.FLOAT and list(y.shape.dims) == ["n", 7, 40]


@pytest.mark.parametrize("mask", ["none", "float", "bool", "dead_rows"])
def test_attention_without_qk_output_computes_in_place_the_same(mask):
    """keep_qk=False (nobody reads output 3) runs the softmax in the product's
    buffer; Y must equal the path that keeps the product, to the bit pattern of
    the same operations."""
    from onnxkit.ops.nn_attention import attention
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal((2, 3, 5, 8)).astype(np.float32) for _ in range(3))
    m = None
    if mask == "float":
        m = rng.standard_normal((2, 1, 1, 5)).astype(np.float32)
    elif mask == "bool":
        m = rng.random((5, 5)) > 0.3
    elif mask == "dead_rows":
        m = np.zeros((1, 1, 5, 5), np.float32)
        m[..., 2, :] = -np.inf                   # a fully masked query row gives zeros
    kept = attention(q, k, v, m)
    y, _, _, qk = attention(q, k, v, m, keep_qk=False)
    assert qk is None
    np.testing.assert_allclose(y, kept[0], rtol=1e-6, atol=1e-7)
    s = q @ k.swapaxes(-1, -2) / np.sqrt(8)
    if m is not None:
        s = s + (np.where(m, 0, -np.inf) if m.dtype == bool else m)
    mx = s.max(-1, keepdims=True)
    p = np.exp(s - np.where(np.isneginf(mx), 0, mx))
    tot = p.sum(-1, keepdims=True)
    want = (p / np.where(tot == 0, 1, tot)) @ v
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


# ------------------------------------- FusedMatMul: every path x every attribute
# A product of small cases against the spec ops it stands for (MatMul, Add, the
# activation), those computed in float64 for the float fast paths and at the same dtype
# for the general one.  The path each case took is recorded, and each path must meet
# every value of every attribute it can take.

FMM_LAYOUTS = {"1-D": (16,), "2-D": (7, 16), "2-D unaligned": (7, 16), "3-D": (2, 7, 16),
               "3-D strided": (2, 7, 16), "4-D": (2, 2, 3, 16)}
FMM_BIASES = {"none": None, "[N]": (40,), "[1, N]": (1, 40), "[2, 1, N]": (2, 1, 40)}
FMM_ACTIVATIONS = [("", "none"), ("Relu", "none"), ("Tanh", "none"), ("Sigmoid", "none"), ("Gelu", "none"),
                   ("Gelu", "tanh")]
FMM_DTYPES = ["float32", "float64", "float16"]


def _fmm_a(layout, dtype):
    shape = FMM_LAYOUTS[layout]
    if layout == "3-D strided":                     # every other row of a bigger buffer
        return (2 * RNG.standard_normal((2, 14, 16))).astype(dtype)[:, ::2]
    a = (2 * RNG.standard_normal(shape)).astype(dtype)
    return _unaligned(a) if layout == "2-D unaligned" else a


def _spec_ops(a, b, bias, transB, activation, approximate):
    y = _kernel("MatMul", 13)(a, b.T if transB else b)
    if bias is not None:
        y = _kernel("Add", 14)(y, bias)
    if activation == "Gelu":
        return _kernel("Gelu", 20)(y, approximate=approximate)
    return _kernel(activation, 14)(y) if activation else y


def _as_float64(t):
    return None if t is None else t.astype(np.float64)


@pytest.fixture(scope="module")
def fused_matmul_runs():
    """(case dict, path, error) for the whole product; the path is told by which of
    math_matmul's functions the kernel called (none: its own 2-D or 1-D product)."""
    import onnxkit.ops.fused_matmul as fm
    runs = []
    for layout, dtype, transB, bias_kind, (act, approx) in itertools.product(
            FMM_LAYOUTS, FMM_DTYPES, [0, 1], FMM_BIASES, FMM_ACTIVATIONS):
        a = _fmm_a(layout, dtype)
        b = RNG.standard_normal((40, 16) if transB else (16, 40)).astype(dtype)
        shape = FMM_BIASES[bias_kind]
        bias = None if shape is None else RNG.standard_normal(shape).astype(dtype)
        called = []
        with pytest.MonkeyPatch.context() as mp:
            for name in ("matmul_2d_weight", "matmul"):
                mp.setattr(fm, name, _noting(called, name, getattr(fm, name)))
            got = fm.fused_matmul(a, b, bias, transB=transB, activation=act, approximate=approx)
        path = "general" if "matmul" in called else "flattened GEMM" if called else "direct GEMM"
        if path == "general":
            want = _spec_ops(a, b, bias, transB, act, approx)
        else:
            want = _spec_ops(_as_float64(a), _as_float64(b), _as_float64(bias), transB, act, approx)
        err = np.inf
        if got.dtype == a.dtype and got.shape == want.shape:
            err = float(np.abs(got.astype(np.float64) - want).max() / (1 + np.abs(want).max()))
        case = dict(layout=layout, dtype=dtype, transB=transB, bias=bias_kind, activation=(act, approx))
        runs.append((case, path, err))
    return runs


def _noting(notes: list, note: str, fn):
    """``fn``, appending ``note`` to ``notes`` at each call."""
    def wrapper(*args, **kwargs):
        notes.append(note)
        return fn(*args, **kwargs)
    return wrapper


_ALL_FMM = dict(layout=set(FMM_LAYOUTS), dtype=set(FMM_DTYPES), transB={0, 1}, bias=set(FMM_BIASES),
                activation=set(FMM_ACTIVATIONS))
#: the attribute values each path can take
FMM_PATHS = {
    "direct GEMM": {**_ALL_FMM, "layout": {"1-D", "2-D"}, "dtype": {"float32", "float64"}},
    "flattened GEMM": {**_ALL_FMM, "layout": set(FMM_LAYOUTS) - {"1-D", "2-D"}, "dtype": {"float32", "float64"}},
    "general": {**_ALL_FMM, "dtype": {"float16"}},
}
#: the error allowed, relative to the result's scale: float32 rounding against float64,
#: and none where the general path must compute exactly as the spec ops
FMM_TOLERANCE = {"float32": 2e-6, "float64": 1e-13, "float16": 0.0}


@pytest.mark.parametrize("path", FMM_PATHS)
def test_fused_matmul_path_matches_spec_ops(fused_matmul_runs, path):
    runs = [(case, err) for case, p, err in fused_matmul_runs if p == path]
    bad = [(case, err) for case, err in runs if not err <= FMM_TOLERANCE[case["dtype"]]]
    assert runs and not bad, f"{len(bad)} of {len(runs)} cases differ, e.g.\n" + "\n".join(
        f"  {c} (error {e:.2g})" for c, e in bad[:8])


@pytest.mark.parametrize("path", FMM_PATHS)
def test_fused_matmul_path_meets_every_attribute(fused_matmul_runs, path):
    seen = {dim: {case[dim] for case, p, _ in fused_matmul_runs if p == path} for dim in _ALL_FMM}
    assert seen == FMM_PATHS[path]


# ------------------------------------ the plan's direct ufunc calls (runtime/_fast.py)
# fast_call gives the plan a direct numpy call (and an in-place form) for hot element-wise
# ops; each must give exactly what the registered kernel gives -- the same dtype, shape,
# values and errors -- for every dtype, the fast ones and those it hands back to the
# kernel, and write in place only when the result has the first operand's shape and dtype.

_FAST_DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16, "int32": np.int32}
_BINARY_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 4), (3, 1)), ((3, 4), ()), ((4,), (3, 4)),
                  ((3, 1), (1, 4))]


def _operand(shape, dtype):
    v = RNG.uniform(0.5, 3, shape) * RNG.choice([-1, 1], shape)      # no zeros: integer Div is defined
    return np.asarray(v).astype(dtype)


def _same_behaviour(fn, want_fn, *args):
    """fn(*args) equals want_fn(*args) exactly, or both raise the same kind of error."""
    try:
        want = want_fn(*[a.copy() for a in args])
    except Exception as e:                  # noqa: BLE001 - an op the dtype does not have
        with pytest.raises(type(e)):
            fn(*args)
        return None
    got = fn(*args)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    return want


@pytest.mark.parametrize("dtype", _FAST_DTYPES)
@pytest.mark.parametrize("op", sorted(op for (d, op), f in registered_fast().items() if f.arity == 1))
def test_fast_unary_call_is_the_kernel(op, dtype):
    kernel = _kernel(op, 21)
    call, inplace, commutative = _fast.fast_call(op, kernel, 1)
    assert not commutative
    x = _operand((3, 4), _FAST_DTYPES[dtype])
    with np.errstate(all="ignore"):
        want = _same_behaviour(call, kernel, x)
        buf = x.copy()
        out = inplace(buf)
    if dtype in ("float32", "float64"):
        assert out is buf
        np.testing.assert_array_equal(out, want)
    else:
        assert out is None and np.array_equal(buf, x)            # left for the kernel, untouched


@pytest.mark.parametrize("dtypes", [("float32", "float32"), ("float64", "float64"), ("float16", "float16"),
                                    ("int32", "int32"), ("float32", "float64")])
@pytest.mark.parametrize("shapes", _BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("op", sorted(op for (d, op), f in registered_fast().items() if f.arity == 2))
def test_fast_binary_call_is_the_kernel(op, shapes, dtypes):
    kernel = _kernel(op, 21)
    call, inplace, commutative = _fast.fast_call(op, kernel, 2)
    assert commutative == (op in ("Add", "Mul"))
    a, b = (_operand(s, _FAST_DTYPES[d]) for s, d in zip(shapes, dtypes))
    want = _same_behaviour(call, kernel, a, b)
    buf = a.copy()
    out = inplace(buf, b)
    fast = dtypes[0] == dtypes[1] and dtypes[0] in ("float32", "float64")
    if fast and want.shape == a.shape:
        assert out is buf
        np.testing.assert_array_equal(out, want)
    else:
        assert out is None and np.array_equal(buf, a)


def test_fast_call_declines_what_it_has_no_direct_form_for():
    assert _fast.fast_call("Relu", _kernel("Relu", 21), 2) is None      # wrong arity
    assert _fast.fast_call("Add", _kernel("Add", 21), 1) is None
    assert _fast.fast_call("Pow", _kernel("Pow", 21), 2) is None        # no direct form
    assert _fast.fast_call("Add", _kernel("Add", 1), 2, opset=6) is None  # legacy broadcast attributes


def test_every_fast_form_is_registered_beside_its_kernel():
    forms = registered_fast()
    assert {op for _, op in forms} >= {"Relu", "Sigmoid", "Tanh", "Exp", "Sqrt", "Neg", "Abs", "Reciprocal",
                                        "Add", "Sub", "Mul", "Div"}
    for (domain, op), form in forms.items():
        assert find_kernel(op, 21, domain) is not None and form.since >= 7, op
