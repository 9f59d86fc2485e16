"""Run-time fusions over an imported fx graph: the calls PyTorch's own modules make.

Exporters write a model's fused operations as several ONNX nodes (a Linear on
3-D input as MatMul + Add, GELU as Div, Erf, Add, Mul, Mul, attention as
MatMul, scale, Add mask, Softmax, MatMul); imported node by node, the module
would run all of them where the original ran one call.  This pass puts the
one call back, only where the result is the same up to float rounding:

* ``matmul(x, W) + b`` (W 2-D, b of W's column count) -> ``F.linear(x, W.t(), b)``
  (the bias added inside the GEMM; ``W`` stays the ONNX parameter, so
  gradients land on it by name);
* the erf GELU ``x * 0.5 * (1 + erf(x / sqrt(2)))`` in the orders the
  exporters write it -> ``F.gelu(x)``; the tanh one
  ``0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))`` -> ``F.gelu(x, approximate="tanh")``;
* ``softmax(q @ kT [* or / c] [+ mask], -1) @ v`` -> ``F.scaled_dot_product_attention``
  (scale explicit, the additive mask as ``attn_mask``, no dropout).  A fully
  masked row (all ``-inf``) gives NaN in the decomposed form and 0 in the fused
  call: the pattern is fused only where the graph maps NaN to 0 itself
  (transformers' ``IsNaN -> Where``), or where the mask cannot hold ``-inf``
  (none, or a Where of two finite constants).

Every rewrite keeps the fx graph made of plain torch calls (``to_source``
writes them out) and drops the nodes it replaced once nothing uses them.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F

from ..ir import TensorType, Value
from ._dtypes import torch_dtype

__all__ = ["fuse"]

_SQRT2 = math.sqrt(2.0)
_SQRT_2_PI = math.sqrt(2.0 / math.pi)


class _Graph:
    def __init__(self, graph: fx.Graph, root: torch.nn.Module, values: dict[fx.Node, Value]) -> None:
        self.gm = root
        self.g = graph
        self.values = values
        self.count: dict[str, int] = {}
        self.erased: set[fx.Node] = set()

    # ------------------------------------------------------------ what is known of a node
    def tensor(self, n: Any) -> torch.Tensor | None:
        if isinstance(n, fx.Node) and n.op == "get_attr":
            t = getattr(self.gm, n.target, None)
            return t if isinstance(t, torch.Tensor) else None
        return None

    def shape(self, n: Any) -> tuple | None:
        t = self.tensor(n)
        if t is not None:
            return tuple(t.shape)
        v = self.values.get(n) if isinstance(n, fx.Node) else None
        if v is not None and isinstance(v.type, TensorType) and v.type.shape is not None:
            return tuple(d if isinstance(d, int) else None for d in v.type.shape.dims)
        return None

    def dtype(self, n: Any) -> torch.dtype | None:
        t = self.tensor(n)
        if t is not None:
            return t.dtype
        v = self.values.get(n) if isinstance(n, fx.Node) else None
        if v is not None and isinstance(v.type, TensorType):
            try:
                return torch_dtype(v.type.elem_type)
            except (KeyError, ValueError, TypeError):
                return None
        return None

    def is_float(self, n: Any) -> bool:
        dt = self.dtype(n)
        return dt is not None and dt.is_floating_point

    def scalar(self, n: Any) -> float | None:
        """The value of a one-element constant (or a Python number)."""
        if isinstance(n, (int, float)) and not isinstance(n, bool):
            return float(n)
        t = self.tensor(n)
        if t is not None and t.numel() == 1 and t.is_floating_point():
            return float(t.detach().reshape(()))
        return None

    @staticmethod
    def only_user(n: fx.Node) -> fx.Node | None:
        return next(iter(n.users)) if len(n.users) == 1 else None

    # ------------------------------------------------------------ rewriting
    def replace(self, final: fx.Node, fn: Any, args: tuple, kwargs: dict, dead: list[fx.Node], what: str) -> None:
        name = final.name
        final._rename(name + "_unfused")               # the new call takes its name
        used = getattr(getattr(self.g, "_graph_namespace", None), "_used_names", None)
        if isinstance(used, set):                      # (fx keeps a name taken once taken)
            used.discard(name)
        with self.g.inserting_before(final):
            new = self.g.create_node("call_function", fn, args, kwargs, name=name)
        new.meta.update(final.meta)                    # its ONNX node (source comments in to_source)
        final.replace_all_uses_with(new)
        if final in self.values:
            self.values[new] = self.values[final]      # same value: later patterns read its type
        left = [final, *dead]
        while True:                     # drop what nothing uses any more, users first
            gone = [n for n in left if not n.users and n not in self.erased]
            if not gone:
                break
            for n in gone:
                self.g.erase_node(n)
                self.erased.add(n)
        self.count[what] = self.count.get(what, 0) + 1


def _binary(n: fx.Node, target: Any) -> tuple | None:
    """(a, b) of a call of ``target`` with two positional arguments."""
    if n.op == "call_function" and n.target is target and len(n.args) == 2 and not n.kwargs:
        return n.args
    return None


def _close(a: float | None, b: float, rel: float = 1e-6) -> bool:
    return a is not None and abs(a - b) <= rel * abs(b)


# ---------------------------------------------------------------- linear


def _linear(G: _Graph, n: fx.Node) -> None:
    ab = _binary(n, torch.add)
    if ab is None:
        return
    for mm, bias in (ab, ab[::-1]):
        if not isinstance(mm, fx.Node) or not isinstance(bias, fx.Node) or len(mm.users) != 1:
            continue
        xw = _binary(mm, torch.matmul)
        if xw is None:
            continue
        x, w = xw
        ws, bs, xs = G.shape(w), G.shape(bias), G.shape(x)
        if ws is None or bs is None or xs is None or len(ws) != 2 or len(xs) < 2 \
                or ws[1] is None or bs != (ws[1],):
            continue
        if not G.is_float(x) or len({G.dtype(x), G.dtype(w), G.dtype(bias)}) != 1:
            continue
        from ._rules.tensor import transpose
        if w.op == "call_function" and w.target is transpose and len(w.users) == 1 \
                and list(w.kwargs.get("perm") or ()) == [1, 0] and len(w.args) == 1:
            G.replace(n, F.linear, (x, w.args[0], bias), {}, [mm, w], "linear")   # x @ A.T + b
            return
        with G.g.inserting_before(n):
            wt = G.g.create_node("call_function", torch.t, (w,), {}, name=f"{w.name}_t")
        G.replace(n, F.linear, (x, wt, bias), {}, [mm], "linear")
        return


# ---------------------------------------------------------------- GELU


def _gelu_tail(G: _Graph, one_plus: fx.Node, x: fx.Node) -> tuple[fx.Node, list[fx.Node]] | None:
    """From ``1 + f(x)``: the node computing ``0.5 * x * (1 + f(x))`` and the nodes on the way."""
    m1 = G.only_user(one_plus)
    ab = _binary(m1, torch.mul) if m1 is not None else None
    if ab is None:
        return None
    other = ab[1] if ab[0] is one_plus else ab[0]
    if other is x:                                   # x * (1 + f) then * 0.5
        m2 = G.only_user(m1)
        cd = _binary(m2, torch.mul) if m2 is not None else None
        if cd is not None and _close(G.scalar(cd[1] if cd[0] is m1 else cd[0]), 0.5):
            return m2, [m1]
        return None
    if _close(G.scalar(other), 0.5):                 # (1 + f) * 0.5 then * x
        m2 = G.only_user(m1)
        cd = _binary(m2, torch.mul) if m2 is not None else None
        if cd is not None and (cd[1] if cd[0] is m1 else cd[0]) is x:
            return m2, [m1]
        return None
    if isinstance(other, fx.Node) and len(other.users) == 1:    # (x * 0.5) * (1 + f)
        cd = _binary(other, torch.mul)
        if cd is not None and x in cd and _close(G.scalar(cd[1] if cd[0] is x else cd[0]), 0.5):
            return m1, [other]
    return None


def _one_plus(G: _Graph, f: fx.Node) -> fx.Node | None:
    a = G.only_user(f)
    ab = _binary(a, torch.add) if a is not None else None
    if ab is not None and _close(G.scalar(ab[1] if ab[0] is f else ab[0]), 1.0):
        return a
    return None


def _gelu_erf(G: _Graph, e: fx.Node) -> None:
    from ._rules.elementwise import div
    if not (e.op == "call_function" and e.target is torch.erf and len(e.args) == 1):
        return
    d = e.args[0]
    if not isinstance(d, fx.Node) or len(d.users) != 1:
        return
    x = None
    if (ab := _binary(d, div)) is not None and _close(G.scalar(ab[1]), _SQRT2):
        x = ab[0]
    elif (ab := _binary(d, torch.mul)) is not None:
        for p, q in (ab, ab[::-1]):
            if _close(G.scalar(q), 1 / _SQRT2):
                x = p
    if not isinstance(x, fx.Node) or not G.is_float(x):
        return
    a = _one_plus(G, e)
    tail = _gelu_tail(G, a, x) if a is not None else None
    if tail is not None:
        final, way = tail
        G.replace(final, F.gelu, (x,), {}, [d, e, a, *way], "gelu")


def _cube_of(G: _Graph, n: Any) -> fx.Node | None:
    """x where ``n`` computes x**3 (Pow(x, 3), or x * x * x)."""
    from ._rules.elementwise import pow_
    if not isinstance(n, fx.Node):
        return None
    if (ab := _binary(n, pow_) or _binary(n, torch.pow)) is not None and _close(G.scalar(ab[1]), 3.0):
        return ab[0]
    if (ab := _binary(n, torch.mul)) is not None:
        for p, q in (ab, ab[::-1]):
            if isinstance(q, fx.Node) and (cd := _binary(q, torch.mul)) is not None and cd[0] is p \
                    and cd[1] is p:
                return p
    return None


def _gelu_tanh(G: _Graph, t: fx.Node) -> None:
    if not (t.op == "call_function" and t.target is torch.tanh and len(t.args) == 1):
        return
    s = t.args[0]                                    # sqrt(2/pi) * (x + 0.044715 * x^3)
    ab = _binary(s, torch.mul) if isinstance(s, fx.Node) and len(s.users) == 1 else None
    if ab is None:
        return
    inner = next((p for p, q in (ab, ab[::-1]) if _close(G.scalar(q), _SQRT_2_PI, 1e-5)), None)
    cd = _binary(inner, torch.add) if isinstance(inner, fx.Node) and len(inner.users) == 1 else None
    if cd is None:
        return
    for x, c3 in (cd, cd[::-1]):
        ef = _binary(c3, torch.mul) if isinstance(c3, fx.Node) and len(c3.users) == 1 else None
        if ef is None:
            continue
        for k, cube in (ef, ef[::-1]):
            if _close(G.scalar(k), 0.044715, 1e-5) and isinstance(cube, fx.Node) and len(cube.users) == 1 \
                    and _cube_of(G, cube) is x and isinstance(x, fx.Node) and G.is_float(x):
                a = _one_plus(G, t)
                tail = _gelu_tail(G, a, x) if a is not None else None
                if tail is not None:
                    final, way = tail
                    dead = [*([cube.args[1]] if _binary(cube, torch.mul) else []), cube, c3, inner, s, t, a, *way]
                    G.replace(final, F.gelu, (x,), {"approximate": "tanh"}, dead, "gelu_tanh")
                return


# ---------------------------------------------------------------- attention


def _finite_mask(G: _Graph, m: fx.Node) -> bool:
    """Whether an additive mask cannot hold -inf (so no row of the softmax turns NaN)."""
    t = G.tensor(m)
    if t is not None:
        return bool(torch.isfinite(t).all())
    if m.op == "call_function" and m.target is torch.where and len(m.args) == 3:
        a, b = G.scalar(m.args[1]), G.scalar(m.args[2])
        return a is not None and b is not None and math.isfinite(a) and math.isfinite(b)
    return False


def _attention(G: _Graph, pv: fx.Node) -> None:
    from ._rules.elementwise import div, softmax
    ab = _binary(pv, torch.matmul)
    if ab is None or not isinstance(ab[0], fx.Node):
        return
    p, v = ab
    nan_guard = False
    if p.op == "call_function" and p.target is torch.where and len(p.args) == 3 and len(p.users) == 1:
        isn, zero, sm = p.args          # where(isnan(sm), 0, sm)
        if not (isinstance(isn, fx.Node) and isn.target is torch.isnan and isn.args == (sm,)
                and len(isn.users) == 1 and G.scalar(zero) == 0.0 and isinstance(sm, fx.Node)
                and len(sm.users) == 2):
            return
        nan_guard, way = True, [isn, p]
    else:
        sm, way = p, []
        if len(sm.users) != 1:
            return
    if not (sm.op == "call_function" and sm.target is softmax and len(sm.args) == 1):
        return
    rank = G.shape(sm)
    axis = sm.kwargs.get("axis", -1)
    if rank is None or len(rank) < 3 or axis not in (-1, len(rank) - 1):
        return
    s = sm.args[0]
    mask = None
    if isinstance(s, fx.Node) and (cd := _binary(s, torch.add)) is not None and len(s.users) == 1:
        for a, b in (cd, cd[::-1]):
            if isinstance(a, fx.Node) and (_binary(a, torch.matmul) or _binary(a, torch.mul)
                                           or _binary(a, div)):
                s_inner, mask = a, b
                break
        else:
            return
        way = [s, *way]
        s = s_inner
    if not isinstance(s, fx.Node) or len(s.users) != 1:
        return
    scale = 1.0
    if (cd := _binary(s, torch.mul)) is not None:
        for a, c in (cd, cd[::-1]):
            if G.scalar(c) is not None and isinstance(a, fx.Node) and _binary(a, torch.matmul):
                scale, way, s = G.scalar(c), [s, *way], a
                break
    elif (cd := _binary(s, div)) is not None and G.scalar(cd[1]) and isinstance(cd[0], fx.Node):
        scale, way, s = 1.0 / G.scalar(cd[1]), [s, *way], cd[0]
    qk = _binary(s, torch.matmul)
    if qk is None or len(s.users) != 1:
        return
    q, kt = qk
    shapes = [G.shape(q), G.shape(kt), G.shape(v), G.shape(sm)]
    if any(sh is None for sh in shapes) or len({len(sh) for sh in shapes}) != 1:
        return
    if not all(G.is_float(n) for n in (q, kt, v)) or len({G.dtype(n) for n in (q, kt, v)}) != 1:
        return
    if mask is not None:
        ms = G.shape(mask)
        if ms is None or len(ms) > len(rank) or G.dtype(mask) != G.dtype(q):
            return
        if not nan_guard and not (isinstance(mask, fx.Node) and _finite_mask(G, mask)):
            return
    pre = []
    for i, side in enumerate((q, kt)):          # q * c and kT * c (the scale split in two): into scale
        if isinstance(side, fx.Node) and len(side.users) == 1 and (cd := _binary(side, torch.mul)):
            for a, c in (cd, cd[::-1]):
                if G.scalar(c) is not None and isinstance(a, fx.Node) \
                        and G.shape(a) is not None and G.shape(a) == G.shape(side):
                    scale *= G.scalar(c)
                    pre.append(side)
                    q, kt = (a, kt) if i == 0 else (q, a)
                    break
    with G.g.inserting_before(pv):
        k = G.g.create_node("call_function", torch.transpose, (kt, -2, -1), {}, name=f"{kt.name}_t")
    kwargs = {"attn_mask": mask, "dropout_p": 0.0, "is_causal": False, "scale": scale}
    G.replace(pv, F.scaled_dot_product_attention, (q, k, v), kwargs, [s, sm, *way, *pre], "attention")


# ---------------------------------------------------------------- the pass


def fuse(graph: fx.Graph, root: torch.nn.Module, values: dict[fx.Node, Value]) -> dict[str, int]:
    """Rewrite the patterns above in ``graph`` (in place; ``get_attr`` targets
    are attributes of ``root``); returns how many of each were fused.
    ``values``: the ONNX value of each fx node (its inferred type says ranks and sizes)."""
    G = _Graph(graph, root, values)
    for n in list(G.g.nodes):
        if n not in G.erased:
            _attention(G, n)
    for n in list(G.g.nodes):
        if n not in G.erased:
            _gelu_erf(G, n)
            _gelu_tanh(G, n)
    for n in list(G.g.nodes):
        if n not in G.erased:
            _linear(G, n)
    return G.count
