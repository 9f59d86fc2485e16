"""Ops the tracer records whole instead of letting PyTorch decompose them.

``onnxkit::branch(cond)`` marks where the program read a tensor's value to
take a branch; ``onnxkit::lstm`` / ``onnxkit::gru`` keep a recurrent layer as
one node (PyTorch would unroll it over time, fixing the sequence length), so
that it becomes ONNX ``LSTM`` / ``GRU`` and runs at any length.

``onnxkit::sdpa`` (scaled dot-product attention) and ``onnxkit::linear`` are
kept whole for speed: their conversion rules write the few ONNX nodes
directly, where tracing PyTorch's decompositions of them (expand/view/bmm and
the symbolic-size arithmetic for each) took about half of the trace time of a
transformer.  Their fake implementations give the sizes and strides of PyTorch's CPU
kernels, so later views of the outputs trace the same.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor


@torch.library.custom_op("onnxkit::branch", mutates_args=())
def _branch(cond: Tensor) -> Tensor:
    return cond.clone()


@_branch.register_fake
def _branch_fake(cond: Tensor) -> Tensor:
    return torch.empty_like(cond)


@torch.library.custom_op("onnxkit::lstm", mutates_args=())
def _lstm(input: Tensor, hx: list[Tensor], params: list[Tensor], has_biases: bool, num_layers: int,
          bidirectional: bool, batch_first: bool) -> tuple[Tensor, Tensor, Tensor]:
    out, h, c = torch.lstm(input, hx, params, has_biases, num_layers, 0.0, False, bidirectional,
                           batch_first)
    return out, h, c


@torch.library.custom_op("onnxkit::gru", mutates_args=())
def _gru(input: Tensor, hx: Tensor, params: list[Tensor], has_biases: bool, num_layers: int,
         bidirectional: bool, batch_first: bool) -> tuple[Tensor, Tensor]:
    out, h = torch.gru(input, hx, params, has_biases, num_layers, 0.0, False, bidirectional,
                       batch_first)
    return out, h


def _rnn_out(input: Tensor, hidden: int, bidirectional: bool, batch_first: bool) -> Tensor:
    a, b = input.shape[0], input.shape[1]
    return input.new_empty((a, b, hidden * (2 if bidirectional else 1)))


@_lstm.register_fake
def _lstm_fake(input, hx, params, has_biases, num_layers, bidirectional, batch_first):
    h0, c0 = hx
    return (_rnn_out(input, h0.shape[-1], bidirectional, batch_first), torch.empty_like(h0),
            torch.empty_like(c0))


@_gru.register_fake
def _gru_fake(input, hx, params, has_biases, num_layers, bidirectional, batch_first):
    return _rnn_out(input, hx.shape[-1], bidirectional, batch_first), torch.empty_like(hx)


@torch.library.custom_op("onnxkit::sdpa", mutates_args=())
def _sdpa(q: Tensor, k: Tensor, v: Tensor, attn_mask: Optional[Tensor], is_causal: bool,
          scale: Optional[float], enable_gqa: bool) -> Tensor:
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                                            is_causal=is_causal, scale=scale,
                                                            enable_gqa=enable_gqa)


@_sdpa.register_fake
def _sdpa_fake(q, k, v, attn_mask, is_causal, scale, enable_gqa):
    if v.shape[-1] is q.shape[-1] or v.shape[-1] == q.shape[-1]:
        return torch.empty_like(q)  # the layout of the query, as PyTorch's CPU kernel
    return q.new_empty((*q.shape[:-1], v.shape[-1]))


@torch.library.custom_op("onnxkit::linear", mutates_args=())
def _linear(x: Tensor, w: Tensor, b: Optional[Tensor]) -> Tensor:
    return torch.nn.functional.linear(x, w, b)


@_linear.register_fake
def _linear_fake(x, w, b):
    return x.new_empty((*x.shape[:-1], w.shape[0]))


def sdpa_args(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None = None,
              dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
              enable_gqa: bool = False):
    """The arguments of ``onnxkit::sdpa`` for a call of ``F.scaled_dot_product_attention``
    (same parameters) that its rule covers (no dropout, consistent dtypes, static head
    counts where they differ); else None."""
    q, k, v = query, key, value
    if dropout_p or (is_causal and attn_mask is not None) or q.dim() < 2 or k.dim() != q.dim() \
            or v.dim() != q.dim() or not q.dtype.is_floating_point or k.dtype != q.dtype \
            or v.dtype != q.dtype or not isinstance(q.shape[-1], int):
        return None
    if attn_mask is not None and attn_mask.dtype != torch.bool and attn_mask.dtype != q.dtype:
        return None
    # keys and values of one length and head count; query and keys of the same batch
    # dims (broadcasting is left to PyTorch's decomposition) and head count, or with
    # enable_gqa a static multiple of it
    if not all(map(_same, k.shape[:-1], v.shape[:-1])):
        return None
    gqa = False
    if q.dim() >= 3 and not _same(q.shape[-3], k.shape[-3]):
        hq, hk = q.shape[-3], k.shape[-3]
        if not (enable_gqa and isinstance(hq, int) and isinstance(hk, int) and hq % hk == 0
                and isinstance(v.shape[-1], int)):
            return None
        gqa = True
    nb = max(q.dim() - 3, 0)
    if not all(map(_same, q.shape[:nb], k.shape[:nb])):
        return None
    return q, k, v, attn_mask, bool(is_causal), None if scale is None else float(scale), gqa


def _same(a, b) -> bool:
    """Two sizes equal (for symbolic ones, as PyTorch's decomposition would check: a guard)."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    from torch.fx.experimental.symbolic_shapes import guard_or_false

    return guard_or_false(a == b)


def linear_args(input: Tensor, weight: Tensor, bias: Tensor | None = None):
    """The arguments of ``onnxkit::linear`` for a call of ``F.linear`` (same parameters)
    with a 2-D weight of the input's dtype; else None."""
    x, w, b = input, weight, bias
    if w.dim() != 2 or x.dim() < 1 or w.dtype != x.dtype or (b is not None and (b.dtype != x.dtype
                                                                                 or b.dim() > 1)):
        return None
    return x, w, b


branch = torch.ops.onnxkit.branch.default
lstm = torch.ops.onnxkit.lstm.default
gru = torch.ops.onnxkit.gru.default
sdpa = torch.ops.onnxkit.sdpa.default
linear = torch.ops.onnxkit.linear.default
