"""In-place writes in a traced graph, made out-of-place (our own functionalization).

``make_fx`` records in-place ops as they ran: ``copy_(select(slice(y)), v)``
writes into a view of ``y``, and every later read of ``y`` (or of another view
of it) must see the write.  ONNX values are immutable, so :func:`functionalize`
rewrites the graph, walking it in order and tracking aliases:

* every view node (slice, select, view, permute, ...) knows its *base* (the
  tensor that owns the memory) and the chain of view nodes from the base to it;
* an in-place node computes the new value of the tensor it writes (its
  conversion rule is the out-of-place op's); when that tensor is a view, the
  new value is scattered back into its base through the chain, innermost first
  (``slice_scatter``, ``select_scatter``, a reshape or permutation back), and
  the result becomes the base's current value;
* every later reader of the base, or of a view of it made before the write,
  reads the current value, or the view re-derived from it.

PyTorch's own functionalization would do this too, but under ``make_fx`` it
turned symbolic dims into fixed sizes (C++ composite kernels read sizes as
ints through the functional wrapper), so the exporter does it on the graph.

What cannot be represented faithfully is refused with an :class:`ExportError`
naming the user's line: writes into a graph input, parameter or buffer (an
ONNX model cannot change them between runs), writes through views that have
no scatter form (expand, diagonal, as_strided, split/unbind pieces, ...),
ops that write an argument other than the first (``out=``), and in-place ops
that change a tensor's shape while other views of it exist.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torch.fx as fx

from ._errors import ExportError

aten = torch.ops.aten

_SYM_SIZE = aten.sym_size.int


def _schema(target: Any):
    return getattr(target, "_schema", None) if isinstance(target, torch._ops.OpOverload) else None


def _writes(target: Any) -> list[int]:
    """Positions of the arguments the op writes (from its schema)."""
    s = _schema(target)
    if s is None:
        return []
    return [i for i, a in enumerate(s.arguments) if a.alias_info is not None and a.alias_info.is_write]


def _view_kind(target: Any) -> str | None:
    """'view' when the op returns a view of its first argument, 'views' when a
    list of views (split, unbind), else None."""
    s = _schema(target)
    if s is None or not s.returns or not s.arguments:
        return None
    r, a = s.returns[0].alias_info, s.arguments[0].alias_info
    if r is None or a is None or r.is_write or a.is_write:
        return None
    return "views" if isinstance(s.returns[0].type, torch.ListType) else "view"


def _short(target: Any) -> str:
    if isinstance(target, torch._ops.OpOverload):
        return f"{target._opname}" + ("" if target._overloadname == "default" else f".{target._overloadname}")
    return getattr(target, "__name__", str(target))


class _Alias:
    __slots__ = ("base", "chain", "ver")

    def __init__(self, base: fx.Node, chain: tuple, ver: int) -> None:
        self.base, self.chain, self.ver = base, chain, ver


#: view ops whose writes scatter back into the base (the others are refused)
_INVERTIBLE = {aten.slice.Tensor, aten.select.int, aten.view.default, aten._reshape_alias.default,
               aten.permute.default, aten.transpose.int, aten.t.default, aten.unsqueeze.default,
               aten.squeeze.dim, aten.squeeze.dims, aten.squeeze.default, aten.alias.default,
               aten.detach.default}

#: ops whose pieces (getitem of the result) are slices / selects of the input
_SPLITS = {aten.split.Tensor, aten.split_with_sizes.default, aten.unbind.int}

_SHAPE_CHANGING = {"resize_", "resize_as_", "as_strided_", "set_", "squeeze_", "unsqueeze_", "t_",
                   "transpose_", "swapdims_", "swapaxes_"}


def functionalize(graph: fx.Graph, labels: Callable[[int], str]) -> None:
    """Rewrite ``graph`` so that no node reads a value an earlier in-place node
    changed: readers see the new value.  ``labels(i)`` names placeholder ``i``
    ("input 'x'", "buffer 'bn.running_mean'") for errors."""
    nodes = list(graph.nodes)
    if not any(n.op == "call_function" and _writes(n.target) for n in nodes):
        return
    _Functionalizer(graph, labels).run(nodes)


class _Functionalizer:
    def __init__(self, graph: fx.Graph, labels: Callable[[int], str]) -> None:
        self.graph = graph
        self.labels = labels
        self.info: dict[fx.Node, _Alias] = {}
        self.cur: dict[fx.Node, fx.Node] = {}      # base -> node holding its current value
        self.ver: dict[fx.Node, int] = {}          # base -> number of writes so far
        self.viewed: set[fx.Node] = set()          # bases that views were taken of
        self.opaque: dict[fx.Node, fx.Node] = {}   # node -> op of a view that cannot be written through
        self.regen: dict[tuple, fx.Node] = {}      # (node, version) -> re-derived view
        self.placeholders: dict[fx.Node, int] = {}
        self._orig_args: tuple = ((), {})          # the node being walked, before redirection

    # ---------------------------------------------------------------- reads
    def alias(self, n: fx.Node) -> _Alias:
        a = self.info.get(n)
        if a is None:
            a = self.info[n] = _Alias(n, (), 0)
        return a

    def resolve(self, n: fx.Node, before: fx.Node) -> fx.Node:
        """The node holding ``n``'s value now (re-derived before ``before`` if needed)."""
        a = self.info.get(n)
        if a is None:
            return n
        b = a.base
        v = self.ver.get(b, 0)
        if not a.chain:
            return self.cur.get(b, b)
        if a.ver == v:
            return n
        key = (n, v)
        got = self.regen.get(key)
        if got is None:
            got = self.cur.get(b, b)
            with self.graph.inserting_before(before):
                for view in a.chain:
                    got = self._copy_view(view, got)
            self.regen[key] = got
        return got

    def _copy_view(self, view: fx.Node, src: fx.Node) -> fx.Node:
        out = self.graph.call_function(view.target, (src, *view.args[1:]), dict(view.kwargs))
        out.meta.update(view.meta)
        return out

    # ---------------------------------------------------------------- the walk
    def run(self, nodes: Sequence[fx.Node]) -> None:
        k = 0
        for n in nodes:
            if n.op == "placeholder":
                self.placeholders[n] = k
                k += 1
                continue
            if n.op not in ("call_function", "output"):
                continue
            first = n.args[0] if n.args else None  # before the reads are redirected
            self._orig_args = (n.args, n.kwargs)
            # every read sees the current value
            n.args = fx.node.map_arg(n.args, lambda a: self.resolve(a, n))
            n.kwargs = fx.node.map_arg(n.kwargs, lambda a: self.resolve(a, n))
            if n.op == "output":
                continue
            writes = _writes(n.target)
            if writes:
                self.write(n, first, writes)
                continue
            if not isinstance(first, fx.Node):
                continue
            kind = _view_kind(n.target)
            if kind is not None:
                self.view(n, first, kind)
            elif n.target is _getitem and first in self.opaque:
                piece = self._piece_as_view(n, first)
                if piece is not None:
                    self.view(piece, piece.args[0], "view")
                else:
                    self.view(n, first, "views")

    def _piece_as_view(self, n: fx.Node, pieces: fx.Node) -> fx.Node | None:
        """``getitem(split(x, ...), i)`` (chunk, split, unbind) rewritten as the view it
        is, ``x[start:end]`` along the split dim (``select`` for unbind), so that
        writes into the piece scatter back into ``x``.  Only for pieces of sizes
        known when tracing (the start is their sum); None otherwise."""
        t = pieces.target
        if t not in _SPLITS or not isinstance(n.args[1], int) or not isinstance(pieces.args[0], fx.Node):
            return None
        base = pieces.args[0]
        vals = pieces.meta.get("val")
        bval = base.meta.get("val")
        if not isinstance(vals, (list, tuple)) or not isinstance(bval, torch.Tensor):
            return None
        i = n.args[1]
        if t is aten.unbind.int:
            dim = (pieces.args[1] if len(pieces.args) > 1 else pieces.kwargs.get("dim", 0)) % bval.dim()
            new_args: tuple = (base, dim, i)
            target = aten.select.int
        else:
            dim = (pieces.args[2] if len(pieces.args) > 2 else pieces.kwargs.get("dim", 0)) % bval.dim()
            sizes = [v.shape[dim] for v in vals]
            if not all(isinstance(x, int) for x in sizes[:i + 1]):
                return None
            start = sum(sizes[:i])
            new_args = (base, dim, start, start + sizes[i])
            target = aten.slice.Tensor
        with self.graph.inserting_before(n):
            new = self.graph.call_function(target, new_args)
        new.meta.update(n.meta)
        n.replace_all_uses_with(new)
        return new

    def view(self, n: fx.Node, src: fx.Node, kind: str) -> None:
        a = self.alias(src)
        b = a.base
        self.viewed.add(b)
        self.info[n] = _Alias(b, a.chain + (n,), self.ver.get(b, 0))
        if src in self.opaque:
            self.opaque[n] = self.opaque[src]
        elif kind == "views" or n.target not in _INVERTIBLE:
            self.opaque[n] = n

    def write(self, n: fx.Node, t: Any, writes: list[int]) -> None:
        src = n.meta.get("onnxkit_src")
        name = _short(n.target)
        for w in self._written(n, writes):
            b = self.alias(w).base
            if b.op == "placeholder":
                what = self.labels(self.placeholders.get(b, -1))
                raise ExportError(
                    f"{name} modifies {what} in place; an ONNX model cannot change its inputs, "
                    "parameters or buffers between runs, so the export would silently drop the "
                    "change" + _hint(what), source=src)
        if writes != [0] or not isinstance(t, fx.Node):
            raise ExportError(
                f"{name} writes into an argument other than its first (an out= argument or "
                "similar), which onnxkit cannot export; use the op's functional form and assign "
                "its result", source=src)
        a = self.alias(t)
        b = a.base
        if t in self.opaque:
            op = _short(self.opaque[t].target)
            raise ExportError(
                f"{name} writes into a view made by {op}, which onnxkit cannot scatter back into the "
                "tensor it views; write through indexing/slicing instead (y[i] = v, y[:, a:b] = v, "
                "torch.index_put) or use out-of-place ops and build the new tensor", source=src)
        shape_changing = name.split(".")[0] in _SHAPE_CHANGING or _shape_of(n) != _shape_of(t)
        if shape_changing and (a.chain or b in self.viewed):
            raise ExportError(
                f"{name} changes the shape of a tensor in place while views of it exist; use the "
                "out-of-place op (e.g. x = x.unsqueeze(0))", source=src)
        # ``n`` computes the written view's new value (its rule is the out-of-place op's)
        new = n
        if a.chain:
            levels = [self.cur.get(b, b)] + [self.resolve(v, n) for v in a.chain[:-1]]
            with self.graph.inserting_before(n.next):
                for view, parent in zip(reversed(a.chain), reversed(levels)):
                    new = self._scatter(view, parent, new)
        v = self.ver.get(b, 0) + 1
        self.ver[b] = v
        self.cur[b] = new
        self.info[n] = _Alias(b, a.chain, v)

    def _written(self, n: fx.Node, writes: list[int]) -> list[fx.Node]:
        """The (original, unresolved) nodes ``n`` writes into."""
        args = self._orig_args
        schema = _schema(n.target)
        out: list[fx.Node] = []
        for i in writes:
            a = schema.arguments[i]
            v = args[0][i] if i < len(args[0]) else args[1].get(a.name)
            fx.node.map_arg(v, out.append)
        return out

    # ---------------------------------------------------------------- scatter back
    def _scatter(self, view: fx.Node, parent: fx.Node, src: fx.Node) -> fx.Node:
        """``parent`` with its view ``view`` replaced by ``src``."""
        g, t = self.graph, view.target
        args = view.args
        if t is aten.slice.Tensor:
            out = g.call_function(aten.slice_scatter.default, (parent, src, *args[1:]), dict(view.kwargs))
        elif t is aten.select.int:
            out = g.call_function(aten.select_scatter.default, (parent, src, *args[1:]))
        elif t is aten.permute.default:
            dims = [d % len(args[1]) for d in args[1]]
            inv = [dims.index(i) for i in range(len(dims))]
            out = g.call_function(aten.permute.default, (src, inv))
        elif t is aten.transpose.int or t is aten.t.default:
            out = g.call_function(t, (src, *args[1:]))
        elif t is aten.alias.default or t is aten.detach.default:
            return src
        else:  # view / reshape / (un)squeeze: back to the parent's shape
            out = g.call_function(aten.view.default, (src, self._sizes(parent)))
        out.meta["val"] = parent.meta.get("val")
        out.meta["onnxkit_src"] = view.meta.get("onnxkit_src")
        return out

    def _sizes(self, parent: fx.Node) -> list:
        sizes = []
        for i, d in enumerate(parent.meta["val"].shape):
            if isinstance(d, int):
                sizes.append(d)
            else:
                s = self.graph.call_function(_SYM_SIZE, (parent, i))
                s.meta["val"] = d
                sizes.append(s)
        return sizes


_getitem = __import__("operator").getitem


def _shape_of(n: fx.Node) -> Any:
    v = n.meta.get("val")
    return tuple(v.shape) if isinstance(v, torch.Tensor) else None


def _hint(what: str) -> str:
    if what.startswith("buffer"):
        return ("; a module in training mode updates its buffers (BatchNorm's running "
                "statistics): call model.eval() before export, or keep state such as a KV cache "
                "as an explicit input and return its new value as an output")
    if what.startswith("parameter"):
        return "; compute with a modified copy (w = w.clone()) or out-of-place ops"
    return ("; work on a copy (x = x.clone()) and modify that, or use out-of-place ops "
            "(torch.index_put, torch.where, slice_scatter) and return the new value")
