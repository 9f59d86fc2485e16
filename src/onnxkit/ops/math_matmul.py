"""Matrix products: MatMul, Gemm, MatMulInteger, Einsum, Det.  Products go
straight to numpy's matmul (BLAS); narrow floats are computed in float32."""

from __future__ import annotations

import numpy as np

from ..ir import DataType, aligned
from . import _parallel
from ._registry import kernel, shape
from ._shape import Dim, InferenceContext, broadcast
from .math_common import up


_BLAS = frozenset((np.dtype(np.float32), np.dtype(np.float64)))


def matmul_2d_weight(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for a float ``a`` of rank >= 2 and a 2-D ``b`` of the same
    dtype: the leading dims flattened into one GEMM (numpy's matmul would run
    one GEMM per leading index), written into a fresh C-contiguous buffer."""
    k = a.shape[-1]
    a2 = a.reshape(-1, k)                       # a view when a is contiguous
    out = np.empty((a2.shape[0], b.shape[1]), dtype=a.dtype)
    _parallel.gemm(aligned(a2), aligned(b), out=out)
    return out.reshape(a.shape[:-1] + (b.shape[1],))


@kernel("MatMul", 1)
def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype in _BLAS and b.dtype == a.dtype:
        if b.ndim == 2 and a.ndim >= 2:
            return matmul_2d_weight(a, b)
        return np.matmul(aligned(a), aligned(b))
    return np.asarray(np.matmul(up(a), up(b))).astype(a.dtype, copy=False)


@kernel("Gemm", 1)
def gemm(a: np.ndarray, b: np.ndarray, c: np.ndarray | None = None, *, alpha: float = 1.0,
         beta: float = 1.0, transA: int = 0, transB: int = 0, broadcast: int = 0) -> np.ndarray:
    """alpha * A' @ B' + beta * C, C broadcast to [M, N].  Transposed operands
    stay views (BLAS reads them transposed); float results are scaled and
    biased in place."""
    af, bf = aligned(up(a)), aligned(up(b))
    af, bf = (af.T if transA else af), (bf.T if transB else bf)
    if af.dtype in _BLAS and bf.dtype == af.dtype:
        y = np.empty((af.shape[0], bf.shape[1]), dtype=af.dtype)
        np.matmul(af, bf, out=y)
    else:
        y = np.matmul(af, bf)
    if y.dtype.kind != "f" and (alpha != 1 or (c is not None and beta not in (0, 1))):
        y = y.astype(np.float64)          # integer Gemm with float coefficients
    if alpha != 1:
        y *= alpha
    if c is not None and beta != 0:
        cf = up(c)
        if beta == 1:
            y += cf
        else:
            y += beta * cf
    return y.astype(a.dtype, copy=False)


@kernel("MatMulInteger", 10)
def matmul_integer(a: np.ndarray, b: np.ndarray, a_zero_point: np.ndarray | None = None,
                   b_zero_point: np.ndarray | None = None) -> np.ndarray:
    """(A - a_zp) @ (B - b_zp) in int32; computed in float64 through BLAS,
    exact for 8-bit operands."""
    af = a.astype(np.float64)
    bf = b.astype(np.float64)
    if a_zero_point is not None:
        zp = a_zero_point.astype(np.float64)
        af -= zp.reshape(-1, 1) if zp.ndim == 1 and zp.size > 1 and a.ndim >= 2 else zp
    if b_zero_point is not None:
        bf -= b_zero_point.astype(np.float64)
    return np.matmul(af, bf).astype(np.int32)


@kernel("Einsum", 12)
def einsum(*inputs: np.ndarray, equation: str) -> np.ndarray:
    xs = [up(x) for x in inputs]
    r = np.einsum(equation.replace(" ", ""), *xs, optimize=len(xs) > 1)
    return np.asarray(r).astype(inputs[0].dtype, copy=False)


@kernel("Det", 11)
def det(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.linalg.det(up(x))).astype(x.dtype, copy=False)


# ------------------------------------------------------------ shape rules
def _matmul_dims(ctx: InferenceContext, a, b) -> list[Dim] | None:
    """numpy matmul's output shape (1-D operands promoted then dropped)."""
    if a is None or b is None:
        return None
    if not a or not b:
        ctx.fail("MatMul inputs must have rank >= 1")
        return None
    aa = (1,) + tuple(a) if len(a) == 1 else tuple(a)
    bb = tuple(b) + (1,) if len(b) == 1 else tuple(b)
    k1, k2 = aa[-1], bb[-2]
    if isinstance(k1, int) and isinstance(k2, int) and k1 != k2:
        ctx.fail(f"inner dims differ: {k1} and {k2} (shapes {list(a)} and {list(b)})")
        return None
    try:
        batch = broadcast(aa[:-2], bb[:-2])
    except ValueError as e:
        ctx.fail(f"batch dims cannot broadcast: {e}")
        return None
    out = list(batch) + ([aa[-2]] if len(a) > 1 else []) + ([bb[-1]] if len(b) > 1 else [])
    return out


@shape("MatMul", 1)
def _matmul_shape(ctx: InferenceContext) -> None:
    ctx.set_output(0, ctx.input_dtype(0), _matmul_dims(ctx, ctx.input_shape(0), ctx.input_shape(1)))


@shape("MatMulInteger", 10)
def _matmul_integer_shape(ctx: InferenceContext) -> None:
    ctx.set_output(0, DataType.INT32, _matmul_dims(ctx, ctx.input_shape(0), ctx.input_shape(1)))


@shape("Gemm", 1)
def _gemm_shape(ctx: InferenceContext) -> None:
    a, b = ctx.input_shape(0), ctx.input_shape(1)
    out = None
    if a is not None and b is not None:
        if len(a) != 2 or len(b) != 2:
            ctx.fail(f"Gemm takes 2-D A and B, got ranks {len(a)} and {len(b)}")
            return
        ta, tb = ctx.attr("transA", 0), ctx.attr("transB", 0)
        k1, k2 = a[0 if ta else 1], b[1 if tb else 0]
        if isinstance(k1, int) and isinstance(k2, int) and k1 != k2:
            ctx.fail(f"inner dims differ: {k1} and {k2}")
            return
        out = [a[1 if ta else 0], b[0 if tb else 1]]
    ctx.set_output(0, ctx.input_dtype(0), out)


@shape("Det", 11)
def _det_shape(ctx: InferenceContext) -> None:
    s = ctx.input_shape(0)
    if s is not None and len(s) < 2:
        ctx.fail(f"Det takes a tensor of rank >= 2, got rank {len(s)}")
        return
    ctx.set_output(0, ctx.input_dtype(0), None if s is None else s[:-2])


def _merge(dims: list[Dim]) -> Dim:
    """One label's dim from its occurrences: a known int, else a symbol all agree on."""
    ints = {d for d in dims if isinstance(d, int) and d != 1}
    if ints:
        return ints.pop()
    known = [d for d in dims if d is not None]
    if known and all(d == known[0] for d in known) and len(known) == len(dims):
        return known[0]
    if dims and all(d == 1 for d in dims):
        return 1
    return None


@shape("Einsum", 12)
def _einsum_shape(ctx: InferenceContext) -> None:
    eq = str(ctx.attr("equation", "")).replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    dtype = ctx.input_dtype(0)
    if len(terms) != ctx.n_inputs:
        ctx.fail(f"equation {eq!r} has {len(terms)} terms for {ctx.n_inputs} inputs")
        return
    labels: dict[str, list[Dim]] = {}
    ell_shapes: list[tuple[Dim, ...]] = []
    ell_rank: int | None = 0
    for i, term in enumerate(terms):
        shp = ctx.input_shape(i)
        letters = term.replace("...", "")
        if shp is None:
            if "..." in term:
                ell_rank = None
            for ch in letters:
                labels.setdefault(ch, []).append(None)
            continue
        n_ell = len(shp) - len(letters)
        if n_ell < 0 or (n_ell and "..." not in term):
            ctx.fail(f"term {term!r} does not match input {i}'s rank {len(shp)}")
            return
        head = term.index("...") if "..." in term else len(letters)
        ell_shapes.append(tuple(shp[head:head + n_ell]))
        for ch, d in zip(letters, list(shp[:head]) + list(shp[head + n_ell:])):
            labels.setdefault(ch, []).append(d)
    if not arrow:
        counts = {ch: lhs.count(ch) for ch in labels}
        rhs = ("..." if "..." in lhs else "") + "".join(sorted(ch for ch, n in counts.items() if n == 1))
    if ell_rank is None and "..." in rhs:
        ctx.set_output(0, dtype, None)
        return
    try:
        ell = broadcast(*ell_shapes) if ell_shapes else ()
    except ValueError as e:
        ctx.fail(f"ellipsis dims cannot broadcast: {e}")
        return
    out: list[Dim] = []
    for part in rhs.split("..."):
        out.extend(_merge(labels.get(ch, [None])) for ch in part)
        out.extend(ell)
    del out[len(out) - len(ell):]
    ctx.set_output(0, dtype, out)
