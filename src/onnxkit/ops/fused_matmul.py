"""ai.onnxkit FusedMatMul (domain version 1): ``act(A @ B' + bias)`` in one
kernel, made by the runtime pass ``passes/fuse_matmul_bias.py`` out of a
MatMul (or Gemm) with a constant 2-D weight, the Add of a constant bias after
it, and an activation after that.

Why: a transformer's dense layers are MatMul -> Add -> (Gelu): three kernels,
two of them full passes over a large activation, each with its own output
buffer.  Fused, the product is written once into a fresh buffer by BLAS
(leading dims flattened so a batch is one GEMM, not one per row block) and
the bias and the activation are applied in place on it, Gelu block by block
while the block is still in the cache.

Inputs: ``A`` (T, rank >= 1), ``B`` (T, 2-D: [K, N], or [N, K] with
``transB=1``), optional ``bias`` (T, broadcastable to the output without
changing its shape; in practice [N]).  Attributes: ``transB`` (0/1),
``activation`` ("" for none, "Relu", "Gelu", "Tanh", "Sigmoid"),
``approximate`` (Gelu's: "none" or "tanh").  Output: A @ B' as numpy's matmul
shapes it, plus bias, through the activation; same dtype as A.  float32 and
float64 take the fast path; other types compute as the spec ops do.
"""

from __future__ import annotations

import numpy as np

from . import _parallel
from ._registry import kernel, shape
from ._shape import InferenceContext
from .math_activation import gelu, gelu_inplace, relu, sigmoid
from .math_common import up
from .math_matmul import _matmul_dims, aligned, matmul, matmul_2d_weight

__all__ = ["ACTIVATIONS", "fused_matmul"]

DOMAIN = "ai.onnxkit"

#: activation attribute value -> the spec op it stands for
ACTIVATIONS = {"": None, "Relu": "Relu", "Gelu": "Gelu", "Tanh": "Tanh", "Sigmoid": "Sigmoid"}

_FAST = frozenset((np.dtype(np.float32), np.dtype(np.float64)))


def _activate_inplace(y: np.ndarray, activation: str, approximate: str) -> np.ndarray:
    """``activation`` applied over float ``y`` (C-contiguous, owned)."""
    if activation == "Relu":
        np.maximum(y, 0, out=y)
    elif activation == "Tanh":
        np.tanh(y, out=y)
    elif activation == "Sigmoid":
        with np.errstate(over="ignore"):
            np.negative(y, out=y)
            np.exp(y, out=y)
            y += 1
            np.reciprocal(y, out=y)
    elif activation == "Gelu":
        if y.dtype == np.float32:
            gelu_inplace(y, approximate)
        else:
            y[...] = gelu(y, approximate=approximate)
    elif activation:
        raise ValueError(f"FusedMatMul: unknown activation {activation!r}; "
                         f"expected one of {sorted(a for a in ACTIVATIONS if a)}")
    return y


def _activate_general(y: np.ndarray, activation: str, approximate: str) -> np.ndarray:
    if activation == "Relu":
        return relu(y)
    if activation == "Gelu":
        return gelu(y, approximate=approximate)
    if activation == "Sigmoid":
        return sigmoid(y)
    if activation == "Tanh":
        return np.tanh(up(y)).astype(y.dtype, copy=False)
    return _activate_inplace(y, activation, approximate)


@kernel("FusedMatMul", 1, domain=DOMAIN)
def fused_matmul(a: np.ndarray, b: np.ndarray, bias: np.ndarray | None = None, *, transB: int = 0,
                 activation: str = "", approximate: str = "none") -> np.ndarray:
    if b.ndim != 2:
        raise ValueError(f"FusedMatMul takes a 2-D B, got shape {list(b.shape)}")
    bt = b.T if transB else b
    if a.dtype in _FAST and b.dtype == a.dtype and (bias is None or bias.dtype == a.dtype):
        if a.ndim == 2 and a.flags.aligned and b.flags.aligned:     # the common small case, no reshapes
            y = _parallel.gemm(a, bt)
        elif a.ndim >= 2:
            y = matmul_2d_weight(a, bt)
        else:
            y = np.matmul(aligned(a), aligned(bt))
        if bias is not None:
            if bias.ndim <= y.ndim and bias.size == y.shape[-1]:
                y += aligned(bias).reshape(-1)
            else:
                y = y + bias                   # the general broadcast (may grow the shape)
        return _activate_inplace(y, activation, approximate)
    y = matmul(a, bt)
    if bias is not None:
        y = (y + bias).astype(a.dtype, copy=False)
    return _activate_general(y, activation, approximate)


@shape("FusedMatMul", 1, domain=DOMAIN)
def _fused_matmul_shape(ctx: InferenceContext) -> None:
    bs = ctx.input_shape(1)
    if bs is not None:
        if len(bs) != 2:
            ctx.fail(f"FusedMatMul takes a 2-D B, got rank {len(bs)}")
            return
        if ctx.attr("transB", 0):
            bs = [bs[1], bs[0]]
    ctx.set_output(0, ctx.input_dtype(0), _matmul_dims(ctx, ctx.input_shape(0), bs))
