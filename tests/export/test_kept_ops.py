"""Ops the tracer keeps whole (scaled dot-product attention, linear): every case
the rules cover matches eager PyTorch in onnxruntime at two sizes, and the cases
they do not cover still export through PyTorch's decompositions."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import onnxkit
from onnxkit.export import _custom_ops
from onnxkit.export._trace import trace_program

from ._helpers import run_and_compare, session


def _ops(model: onnxkit.Model) -> set[str]:
    return {n.op_type for n in model.graph.all_nodes()}


def _traced_targets(fn, args) -> set:
    (trace,), _ = trace_program(fn, list(args), [None] * len(args))
    return {n.target for n in trace.nodes if n.op == "call_function"}


def _qkv(b: int, h: int, lq: int, lk: int, e: int = 8, ev: int | None = None):
    g = torch.Generator().manual_seed(b * 100 + lq * 10 + lk)
    return (torch.randn(b, h, lq, e, generator=g), torch.randn(b, h, lk, e, generator=g),
            torch.randn(b, h, lk, ev or e, generator=g))


def _bool_mask(b: int, lq: int, lk: int) -> torch.Tensor:
    m = torch.ones(b, 1, lq, lk, dtype=torch.bool)
    m[0, :, :, lk - 2:] = False
    m[-1, :, 1, :] = False  # a row with every key masked: zeros, as PyTorch's safe softmax
    return m


CASES = {
    "plain": lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v),
    "bool_mask": lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
    "float_mask": lambda q, k, v, m: F.scaled_dot_product_attention(
        q, k, v, attn_mask=torch.where(m, 0.0, -1e4)),
    "causal": lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, is_causal=True),
    "scale_keywords": lambda q, k, v, m: F.scaled_dot_product_attention(
        query=q, key=k, value=v, attn_mask=None, scale=0.3),
    "transposed_out": lambda q, k, v, m: F.scaled_dot_product_attention(
        q.transpose(1, 2).contiguous().transpose(1, 2), k, v).transpose(1, 2).reshape(
            q.shape[0], q.shape[2], -1),
}


@pytest.mark.parametrize("case", list(CASES))
def test_sdpa_kept_whole(case: str) -> None:
    """Query and key lengths differ (a causal mask is aligned top-left), some rows
    are fully masked."""
    fn = CASES[case]

    def f(q, k, v, m):
        return fn(q, k, v, m) * 2

    dyn = {"q": {0: "b", 2: "lq"}, "k": {0: "b", 2: "lk"}, "v": {0: "b", 2: "lk"},
           "m": {0: "b", 2: "lq", 3: "lk"}}
    assert _custom_ops.sdpa in _traced_targets(f, (*_qkv(2, 3, 5, 7), _bool_mask(2, 5, 7)))
    model = onnxkit.export(f, (*_qkv(2, 3, 5, 7), _bool_mask(2, 5, 7)), dynamic_shapes=dyn)
    assert "Expand" not in _ops(model)  # not decomposed
    sess = session(model)
    run_and_compare(sess, f, (*_qkv(2, 3, 5, 7), _bool_mask(2, 5, 7)))
    run_and_compare(sess, f, (*_qkv(3, 3, 9, 4), _bool_mask(3, 9, 4)))


def test_sdpa_value_head_size_and_3d() -> None:
    def f(q, k, v):
        return F.scaled_dot_product_attention(q, k, v), F.scaled_dot_product_attention(q[0], k[0], v[0])

    dyn = {"q": {2: "lq"}, "k": {2: "lk"}, "v": {2: "lk"}}
    assert _custom_ops.sdpa in _traced_targets(f, _qkv(2, 3, 5, 7, e=8, ev=6))
    model = onnxkit.export(f, _qkv(2, 3, 5, 7, e=8, ev=6), dynamic_shapes=dyn)
    run_and_compare(session(model), f, _qkv(2, 3, 4, 9, e=8, ev=6))


@pytest.mark.parametrize("masked", [False, True])
def test_sdpa_grouped_query(masked: bool) -> None:
    def gqa(q, k, v, m):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=m if masked else None, enable_gqa=True)

    def inputs(b, lq, lk):
        g = torch.Generator().manual_seed(lq)
        return (torch.randn(b, 6, lq, 8, generator=g), torch.randn(b, 2, lk, 8, generator=g),
                torch.randn(b, 2, lk, 4, generator=g), _bool_mask(b, lq, lk))

    dyn = {"q": {0: "b", 2: "lq"}, "k": {0: "b", 2: "lk"}, "v": {0: "b", 2: "lk"}, "m": {0: "b", 2: "lq", 3: "lk"}}
    assert _custom_ops.sdpa in _traced_targets(gqa, inputs(2, 5, 7))
    model = onnxkit.export(gqa, inputs(2, 5, 7), dynamic_shapes=dyn)
    sess = session(model)
    run_and_compare(sess, gqa, inputs(2, 5, 7))
    run_and_compare(sess, gqa, inputs(3, 4, 9))


def test_sdpa_not_covered_decomposes() -> None:
    """Broadcast batch dims are left to PyTorch's decomposition; mismatched heads
    without enable_gqa fail as in eager."""
    def f(q, k, v):
        return F.scaled_dot_product_attention(q, k, v)

    args = (torch.randn(2, 3, 5, 8), torch.randn(1, 3, 5, 8), torch.randn(1, 3, 5, 8))
    assert _custom_ops.sdpa not in _traced_targets(f, args)
    run_and_compare(session(onnxkit.export(f, args)), f, args)
    bad = (torch.randn(2, 4, 5, 8), torch.randn(2, 2, 5, 8), torch.randn(2, 2, 5, 8))
    with pytest.raises(Exception):
        f(*bad)
    with pytest.raises(Exception):
        onnxkit.export(f, bad)


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_kept_whole(rank: int, bias: bool) -> None:
    torch.manual_seed(rank)
    lin = torch.nn.Linear(6, 4, bias=bias).eval()
    shape = [3, 5, 6][-rank:]
    dyn = {"input": {0: "n"}} if rank > 1 else None
    assert _custom_ops.linear in _traced_targets(lin, (torch.randn(*shape),))
    model = onnxkit.export(lin, (torch.randn(*shape),), dynamic_shapes=dyn)
    sess = session(model)
    run_and_compare(sess, lin, (torch.randn(*shape),))
    if rank > 1:
        run_and_compare(sess, lin, (torch.randn(7, *shape[1:]),))


def test_linear_by_keywords() -> None:
    def f(x, w, b):
        return F.linear(input=x, weight=w, bias=b)

    args = (torch.randn(3, 6), torch.randn(4, 6), torch.randn(4))
    assert _custom_ops.linear in _traced_targets(f, args)
    model = onnxkit.export(f, args, dynamic_shapes={"x": {0: "n"}})
    run_and_compare(session(model), f, (torch.randn(5, 6), args[1], args[2]))


def test_torch_attention_modules() -> None:
    """PyTorch's own attention modules: nn.MultiheadAttention (padding and causal masks;
    F.multi_head_attention_forward runs under the function mode's handler, so its
    inner calls decompose) next to nn.TransformerEncoderLayer (kept F.linear)."""
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mha = torch.nn.MultiheadAttention(16, 4, batch_first=True)
            self.enc = torch.nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, batch_first=True)

        def forward(self, x, pad):
            n = x.shape[1]
            causal = torch.triu(torch.full((n, n), float("-inf")), diagonal=1)
            y, _ = self.mha(x, x, x, key_padding_mask=pad, attn_mask=causal, need_weights=False)
            return self.enc(y, src_key_padding_mask=pad)

    def inputs(b, n):
        pad = torch.zeros(b, n, dtype=torch.bool)
        pad[0, n - 2:] = True
        return torch.randn(b, n, 16), pad

    m = Net().eval()
    model = onnxkit.export(m, inputs(2, 6), dynamic_shapes={"x": {0: "b", 1: "n"}, "pad": {0: "b", 1: "n"}})
    sess = session(model)
    run_and_compare(sess, m, inputs(2, 6))
    run_and_compare(sess, m, inputs(3, 9))
