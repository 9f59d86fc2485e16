"""Reductions: sum, mean, amax, any/all, var, argmax, max.dim, topk, sort, cumsum, logsumexp, norms."""

from __future__ import annotations

from ...ir import DataType
from .._registry import conversion_rule
from ._util import aten, norm_dim


def _axes(ctx, x, dims):
    r = ctx.rank(x)
    if dims is None or (isinstance(dims, (list, tuple)) and len(dims) == 0):
        return None
    if isinstance(dims, int):
        dims = [dims]
    return ctx.axes(sorted(norm_dim(d, r) for d in dims)) if r else None


def _reduce(onnx_op: str):
    def rule(ctx, x, dims=None, keepdim=False, *, dtype=None, **kw):
        dt = ctx.out_dtype()
        axes = _axes(ctx, x, dims)
        if ctx.rank(x) == 0:
            return ctx.cast(x, dt)
        return getattr(ctx.o, onnx_op)(ctx.cast(x, dt), axes, keepdims=int(bool(keepdim)))
    return rule


conversion_rule(aten.sum.dim_IntList, aten.sum.default)(_reduce("ReduceSum"))
conversion_rule(aten.mean.dim, aten.mean.default)(_reduce("ReduceMean"))
conversion_rule(aten.prod.dim_int, aten.prod.default)(_reduce("ReduceProd"))


def _minmax(onnx_op: str):
    def rule(ctx, x, dims=None, keepdim=False):
        axes = _axes(ctx, x, dims)
        if ctx.rank(x) == 0:
            return x
        dt = ctx.dtype(x)
        if dt == DataType.BOOL:
            y = getattr(ctx.o, onnx_op)(ctx.cast(x, DataType.INT32), axes, keepdims=int(bool(keepdim)))
            return ctx.cast(y, DataType.BOOL)
        return getattr(ctx.o, onnx_op)(x, axes, keepdims=int(bool(keepdim)))
    return rule


conversion_rule(aten.amax.default, aten.max.default)(_minmax("ReduceMax"))
conversion_rule(aten.amin.default, aten.min.default)(_minmax("ReduceMin"))


def _anyall(onnx_op: str):
    def rule(ctx, x, dims=None, keepdim=False):
        if ctx.rank(x) == 0:
            return ctx.cast(x, DataType.BOOL)
        xi = ctx.cast(ctx.cast(x, DataType.BOOL), DataType.INT32)
        y = getattr(ctx.o, onnx_op)(xi, _axes(ctx, x, dims), keepdims=int(bool(keepdim)))
        return ctx.cast(y, DataType.BOOL)
    return rule


conversion_rule(aten.any.dim, aten.any.dims, aten.any.default)(_anyall("ReduceMax"))
conversion_rule(aten.all.dim, aten.all.dims, aten.all.default)(_anyall("ReduceMin"))


@conversion_rule(aten.max.dim, aten.min.dim)
def max_dim(ctx, x, dim, keepdim=False):
    is_max = ctx.node.target is aten.max.dim
    d = norm_dim(dim, ctx.rank(x))
    vals = (ctx.o.ReduceMax if is_max else ctx.o.ReduceMin)(x, ctx.axes([d]), keepdims=int(keepdim))
    idx = (ctx.o.ArgMax if is_max else ctx.o.ArgMin)(x, axis=d, keepdims=int(keepdim), select_last_index=0)
    return vals, idx


@conversion_rule(aten.argmax.default, aten.argmin.default)
def argmax(ctx, x, dim=None, keepdim=False):
    op = "ArgMax" if ctx.node.target is aten.argmax.default else "ArgMin"
    if dim is None:
        x = ctx.o.Reshape(x, ctx.ints([-1]))
        return getattr(ctx.o, op)(x, axis=0, keepdims=0)
    return getattr(ctx.o, op)(x, axis=norm_dim(dim, ctx.rank(x)), keepdims=int(keepdim))


@conversion_rule(aten.var.correction, aten.var.dim, aten.var_mean.correction, aten.std.correction)
def var(ctx, x, dims=None, *args, correction=None, keepdim=False, **kw):
    target = ctx.node.target
    if target is aten.var.dim:  # var(x, dims, unbiased, keepdim)
        unbiased = args[0] if args else True
        keepdim = args[1] if len(args) > 1 else keepdim
        correction = 1 if unbiased else 0
    correction = 1 if correction is None else correction
    dt = ctx.dtype(x)
    axes = _axes(ctx, x, dims)
    mean = ctx.o.ReduceMean(x, axes, keepdims=1)
    dev = ctx.o.Sub(x, mean)
    sq = ctx.o.Mul(dev, dev)
    m = ctx.o.ReduceMean(sq, axes, keepdims=int(bool(keepdim)))
    if correction:
        shape = ctx.arg_meta(0).shape
        r = len(shape)
        ds = range(r) if axes is None else [norm_dim(d, r) for d in ([dims] if isinstance(dims, int) else dims)]
        n = 1
        static = True
        for d in ds:
            if isinstance(shape[d], int):
                n *= shape[d]
            else:
                static = False
        if static:
            m = ctx.o.Mul(m, ctx.const(n / max(n - correction, 1), dt))
        else:
            nv = ctx.cast(ctx.o.ReduceProd(ctx.o.Gather(ctx.shape(x), ctx.ints(list(ds)), axis=0), keepdims=0), dt)
            m = ctx.o.Div(ctx.o.Mul(m, nv), ctx.o.Sub(nv, ctx.const(float(correction), dt)))
    if target is aten.std.correction:
        return ctx.o.Sqrt(m)
    if target is aten.var_mean.correction:
        return m, mean if keepdim else ctx.o.ReduceMean(x, axes, keepdims=0)
    return m


@conversion_rule(aten.cumsum.default)
def cumsum(ctx, x, dim, dtype=None):
    dt = ctx.out_dtype()
    return ctx.o.CumSum(ctx.cast(x, dt), ctx.int_scalar(norm_dim(dim, ctx.rank(x))))


@conversion_rule(aten.logsumexp.default)
def logsumexp(ctx, x, dims, keepdim=False):
    return ctx.o.ReduceLogSumExp(x, _axes(ctx, x, dims), keepdims=int(keepdim))


@conversion_rule(aten.linalg_vector_norm.default)
def vector_norm(ctx, x, ord=2, dims=None, keepdim=False, *, dtype=None):
    axes = _axes(ctx, x, dims)
    k = int(bool(keepdim))
    if ord == 2:
        return ctx.o.ReduceL2(x, axes, keepdims=k)
    if ord == 1:
        return ctx.o.ReduceL1(x, axes, keepdims=k)
    if ord == float("inf"):
        return ctx.o.ReduceMax(ctx.o.Abs(x), axes, keepdims=k)
    dt = ctx.dtype(x)
    p = ctx.o.ReduceSum(ctx.o.Pow(ctx.o.Abs(x), ctx.const(float(ord), dt)), axes, keepdims=k)
    return ctx.o.Pow(p, ctx.const(1.0 / float(ord), dt))


@conversion_rule(aten.topk.default)
def topk(ctx, x, k, dim=-1, largest=True, sorted=True):
    d = norm_dim(dim, ctx.rank(x))
    return ctx.o.TopK(x, ctx.ints([k]), axis=d, largest=int(largest), sorted=int(sorted), outputs=2)


@conversion_rule(aten.sort.default, aten.sort.stable)
def sort(ctx, x, *args, **kwargs):
    if ctx.node.target is aten.sort.stable:
        dim = kwargs.get("dim", -1)
        descending = kwargs.get("descending", False)
    else:
        dim = args[0] if args else kwargs.get("dim", -1)
        descending = args[1] if len(args) > 1 else kwargs.get("descending", False)
    d = norm_dim(dim, ctx.rank(x))
    n = ctx.dim(x, d)
    return ctx.o.TopK(x, ctx.ints([n]), axis=d, largest=int(bool(descending)), sorted=1, outputs=2)
