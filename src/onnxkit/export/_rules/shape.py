"""Views and shape changes: reshape, permute, expand, slice, select, cat, split, ..."""

from __future__ import annotations

from ...ir import DataType, TensorType, Value
from .._registry import conversion_rule
from ._util import INT64_MAX, aten, norm_dim, same_dim


@conversion_rule(aten.view.default, aten.view_copy.default, aten._unsafe_view.default,
                 aten.reshape.default, aten._reshape_alias.default, aten._reshape_copy.default)
def view(ctx, x, size, *rest):
    out = ctx.meta()
    if len(out.shape) == len(ctx.arg_meta(0).shape) and all(map(same_dim, out.shape, ctx.arg_meta(0).shape)):
        return x
    if all(isinstance(d, int) for d in out.shape):  # static result: constant shape
        return ctx.o.Reshape(x, ctx.ints([int(d) for d in out.shape]))
    return ctx.o.Reshape(x, ctx.ints(size))


@conversion_rule(aten.permute.default, aten.permute_copy.default)
def permute(ctx, x, dims):
    r = len(dims)
    perm = [norm_dim(d, r) for d in dims]
    if perm == list(range(r)):
        return x
    return ctx.o.Transpose(x, perm=perm)


@conversion_rule(aten.t.default, aten.t_copy.default, aten.numpy_T.default)
def t(ctx, x):
    r = ctx.rank(x)
    return x if r < 2 else ctx.o.Transpose(x, perm=[1, 0])


@conversion_rule(aten.transpose.int, aten.transpose_copy.int)
def transpose(ctx, x, d0, d1):
    r = ctx.rank(x)
    perm = list(range(r))
    d0, d1 = norm_dim(d0, r), norm_dim(d1, r)
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return x if d0 == d1 else ctx.o.Transpose(x, perm=perm)


@conversion_rule(aten.expand.default, aten.expand_copy.default)
def expand(ctx, x, size, implicit=False):
    r = ctx.rank(x)
    n = len(size)
    src = ctx.arg_meta(0).shape
    target = []
    for i, s in enumerate(size):
        j = i - (n - r)
        if isinstance(s, int) and s == -1:
            target.append(1)
        elif j >= 0 and isinstance(s, Value) and same_dim(src[j], ctx.meta().shape[i]):
            target.append(1)  # unchanged symbolic dim: keep it without reading the shape
        else:
            target.append(s)
    if n == r and all(isinstance(s, int) and s == 1 for s in target):
        return x
    return ctx.o.Expand(x, ctx.ints(target))


@conversion_rule(aten.unsqueeze.default, aten.unsqueeze_copy.default)
def unsqueeze(ctx, x, dim):
    r = ctx.rank(x) + 1
    return ctx.o.Unsqueeze(x, ctx.axes([norm_dim(dim, r)]))


@conversion_rule(aten.squeeze.dims, aten.squeeze.dim, aten.squeeze.default, aten.squeeze_copy.dims,
                 aten.squeeze_copy.dim, aten.squeeze_copy.default)
def squeeze(ctx, x, dims=None):
    shape = ctx.arg_meta(0).shape
    r = len(shape)
    if dims is None:
        dims = range(r)
    elif isinstance(dims, int):
        dims = [dims]
    axes = [norm_dim(d, r) for d in dims if r and isinstance(shape[norm_dim(d, r)], int)
            and shape[norm_dim(d, r)] == 1]
    if not axes:
        return x
    return ctx.o.Squeeze(x, ctx.axes(axes))


@conversion_rule(aten.slice.Tensor, aten.slice_copy.Tensor)
def slice_(ctx, x, dim=0, start=None, end=None, step=1):
    r = ctx.rank(x)
    dim = norm_dim(dim, r)
    size = ctx.arg_meta(0).shape[dim]
    start = 0 if start is None else start
    end = INT64_MAX if end is None else end
    if isinstance(end, int) and end >= INT64_MAX // 2:
        end = INT64_MAX
    if (isinstance(start, int) and start == 0 and step == 1 and not isinstance(end, Value)
            and (end == INT64_MAX or (isinstance(size, int) and end >= size))):
        return x
    return ctx.o.Slice(x, ctx.ints([start]), ctx.ints([end]), ctx.axes([dim]), ctx.ints([step]))


@conversion_rule(aten.select.int, aten.select_copy.int)
def select(ctx, x, dim, index):
    r = ctx.rank(x)
    return ctx.o.Gather(x, ctx.int_scalar(index), axis=norm_dim(dim, r))


@conversion_rule(aten.narrow.default, aten.narrow_copy.default)
def narrow(ctx, x, dim, start, length):
    from . import sym
    end = sym.add(ctx, start, length)
    return slice_(ctx, x, dim, start, end)


@conversion_rule(aten.cat.default, aten.concat.default)
def cat(ctx, tensors, dim=0):
    dt = ctx.out_dtype()
    r = ctx.out_rank()
    metas = ctx.arg_meta(0)
    keep = [ctx.cast(t, dt) for t, m in zip(tensors, metas)
            if not (m.dim() == 1 and isinstance(m.shape[0], int) and m.shape[0] == 0 and r > 1)]
    if len(keep) == 1:
        return keep[0]
    return ctx.o.Concat(*keep, axis=norm_dim(dim, r))


@conversion_rule(aten.stack.default)
def stack(ctx, tensors, dim=0):
    dt = ctx.out_dtype()
    r = ctx.out_rank()
    d = norm_dim(dim, r)
    parts = [ctx.o.Unsqueeze(ctx.cast(t, dt), ctx.axes([d])) for t in tensors]
    return parts[0] if len(parts) == 1 else ctx.o.Concat(*parts, axis=d)


def _split(ctx, x, dim):
    outs = ctx.meta()
    r = ctx.rank(x)
    d = norm_dim(dim, r)
    if len(outs) == 1:
        return [x]
    sizes = [o.shape[d] for o in outs]
    if all(isinstance(s, int) for s in sizes):
        split = ctx.ints(sizes)
    else:
        # symbolic sizes: only the equal-chunks case is expressible without the values
        return list(ctx.o.Split(x, axis=d, num_outputs=len(outs), outputs=len(outs)))
    res = ctx.o.Split(x, split, axis=d, outputs=len(outs))
    return list(res) if isinstance(res, tuple) else [res]


@conversion_rule(aten.split_with_sizes.default, aten.split_with_sizes_copy.default)
def split_with_sizes(ctx, x, sizes, dim=0):
    if any(isinstance(s, Value) for s in sizes):
        res = ctx.o.Split(x, ctx.ints(sizes), axis=norm_dim(dim, ctx.rank(x)), outputs=len(sizes))
        return list(res) if isinstance(res, tuple) else [res]
    return _split(ctx, x, dim)


@conversion_rule(aten.split.Tensor, aten.split_copy.Tensor)
def split(ctx, x, size, dim=0):
    return _split(ctx, x, dim)


@conversion_rule(aten.unbind.int, aten.unbind_copy.int)
def unbind(ctx, x, dim=0):
    r = ctx.rank(x)
    d = norm_dim(dim, r)
    n = len(ctx.meta())
    if n == 1:
        return [ctx.o.Squeeze(x, ctx.axes([d]))]
    parts = ctx.o.Split(x, ctx.ints([1] * n), axis=d, outputs=n)
    return [ctx.o.Squeeze(p, ctx.axes([d])) for p in parts]


@conversion_rule(aten.flip.default)
def flip(ctx, x, dims):
    r = ctx.rank(x)
    axes = [norm_dim(d, r) for d in dims]
    n = len(axes)
    return ctx.o.Slice(x, ctx.ints([-1] * n), ctx.ints([-INT64_MAX] * n), ctx.axes(axes), ctx.ints([-1] * n))


@conversion_rule(aten.roll.default)
def roll(ctx, x, shifts, dims=()):
    if not dims:  # over the flattened tensor
        flat = ctx.o.Reshape(x, ctx.ints([-1]))
        flat.type = TensorType(ctx.dtype(x), [None])
        return ctx.o.Reshape(roll(ctx, flat, shifts, [0]), ctx.shape(x))
    r = ctx.rank(x)
    for s, d in zip(shifts, dims):
        d = norm_dim(d, r)
        n = ctx.dim(x, d)
        if isinstance(n, int) and isinstance(s, int):
            k = s % n
            if k == 0:
                continue
            a = ctx.o.Slice(x, ctx.ints([n - k]), ctx.ints([INT64_MAX]), ctx.axes([d]))
            b = ctx.o.Slice(x, ctx.ints([0]), ctx.ints([n - k]), ctx.axes([d]))
        else:
            from . import sym
            k = sym.mod(ctx, s, n)
            cut = sym.sub(ctx, n, k)
            a = ctx.o.Slice(x, ctx.ints([cut]), ctx.ints([INT64_MAX]), ctx.axes([d]))
            b = ctx.o.Slice(x, ctx.ints([0]), ctx.ints([cut]), ctx.axes([d]))
        x = ctx.o.Concat(a, b, axis=d)
    return x


@conversion_rule(aten.repeat.default)
def repeat(ctx, x, repeats):
    r = ctx.rank(x)
    n = len(repeats)
    if n > r:
        x = ctx.o.Reshape(x, ctx.o.Concat(ctx.ints([1] * (n - r)), ctx.shape(x), axis=0))
    return ctx.o.Tile(x, ctx.ints(repeats))


@conversion_rule(aten.constant_pad_nd.default)
def constant_pad_nd(ctx, x, pad, value=0):
    r = ctx.rank(x)
    begins, ends = [0] * r, [0] * r
    for i in range(len(pad) // 2):
        d = r - 1 - i
        begins[d], ends[d] = pad[2 * i], pad[2 * i + 1]
    dt = ctx.out_dtype()
    return ctx.o.Pad(x, ctx.ints(begins + ends), ctx.const(value, dt), mode="constant")


@conversion_rule(aten.reflection_pad2d.default, aten.reflection_pad1d.default, aten.replication_pad2d.default,
                 aten.replication_pad1d.default)
def pad_mode(ctx, x, pad):
    mode = "reflect" if "reflection" in str(ctx.node.target) else "edge"
    r = ctx.rank(x)
    begins, ends = [0] * r, [0] * r
    for i in range(len(pad) // 2):
        d = r - 1 - i
        begins[d], ends[d] = pad[2 * i], pad[2 * i + 1]
    return ctx.o.Pad(x, ctx.ints(begins + ends), mode=mode)


@conversion_rule(aten.tril.default, aten.triu.default)
def trilu(ctx, x, diagonal=0):
    upper = 1 if ctx.node.target is aten.triu.default else 0
    return ctx.o.Trilu(x, ctx.int_scalar(diagonal), upper=upper)


@conversion_rule(aten.pixel_shuffle.default)
def pixel_shuffle(ctx, x, factor):
    return ctx.o.DepthToSpace(x, blocksize=int(factor), mode="CRD")


@conversion_rule(aten.pixel_unshuffle.default)
def pixel_unshuffle(ctx, x, factor):
    return ctx.o.SpaceToDepth(x, blocksize=int(factor))


@conversion_rule(aten.diagonal.default, aten.diagonal_copy.default)
def diagonal(ctx, x, offset=0, dim1=0, dim2=1):
    """The diagonal of dims (dim1, dim2), as a last dim (``torch.diagonal``,
    ``einsum('bii->bi')``): those dims moved last and flattened, then a Gather of
    positions ``i * (m + 1) + shift`` for i < length."""
    from . import sym

    r = ctx.rank(x)
    d1, d2 = norm_dim(dim1, r), norm_dim(dim2, r)
    rest = [d for d in range(r) if d not in (d1, d2)]
    perm = rest + [d1, d2]
    xt = x if perm == list(range(r)) else ctx.o.Transpose(x, perm=perm)
    n, m = ctx.dim(x, d1), ctx.dim(x, d2)
    if offset >= 0:
        length = sym.sym_max(ctx, 0, sym.sym_min(ctx, n, sym.sub(ctx, m, offset)))
        shift = offset
    else:
        length = sym.sym_max(ctx, 0, sym.sym_min(ctx, sym.add(ctx, n, offset), m))
        shift = sym.mul(ctx, -offset, m)
    flat = ctx.o.Reshape(xt, ctx.ints([0] * len(rest) + [-1]))
    if all(isinstance(v, int) for v in (length, m, shift)):
        idx = ctx.const([i * (m + 1) + shift for i in range(length)], DataType.INT64)
    else:
        rng = ctx.o.Range(ctx.int_scalar(0), ctx.int_scalar(length), ctx.int_scalar(1))
        idx = ctx.o.Add(ctx.o.Mul(rng, ctx.int_scalar(sym.add(ctx, m, 1))), ctx.int_scalar(shift))
    return ctx.o.Gather(flat, idx, axis=len(rest))
