"""Attention (opsets 23-25: GQA/MQA, boolean and additive masks, causal
masks aware of the cache offset, KV cache, nonpad_kv_seqlen, sliding windows,
softcap, the four qk_matmul_output modes) — the general path of onnxkit's
numpy kernel (ops/nn_attention.py) in torch ops; the mask / causal / window /
cache-padding bias is that kernel's ``attention_bias`` on torch arrays."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ...ops.nn_attention import attention_bias, rotate
from .._registry import rule

_PRECISION = {1: torch.float32, 10: torch.float16, 11: torch.float64, 16: torch.bfloat16}


def _heads(x, n):
    """(B, S, H*D) -> (B, H, S, D)."""
    b, s, hd = x.shape
    return x.reshape(b, s, n, hd // n).transpose(1, 2)


def _softmax(x):
    m = x.amax(-1, keepdim=True)
    m = torch.where(torch.isneginf(m), torch.zeros_like(m), m)
    e = torch.exp(x - m)
    s = e.sum(-1, keepdim=True)
    return e / torch.where(s == 0, torch.ones_like(s), s)


class _TorchArrays:
    """ops.nn_attention.NumpyArrays in torch, on one device."""

    int64 = torch.int64

    def __init__(self, device):
        self.device = device

    def arange(self, n):
        return torch.arange(n, device=self.device)

    def zeros(self, shape, dtype):
        return torch.zeros(shape, dtype=dtype, device=self.device)

    @staticmethod
    def cast(x, dtype):
        return x.to(dtype)

    @staticmethod
    def is_bool(x):
        return x.dtype == torch.bool

    @staticmethod
    def bias_of(ok, dtype):
        return torch.where(ok, 0.0, -math.inf).to(dtype)

    @staticmethod
    def pad_last(x, n, fill):
        return F.pad(x, [0, n], value=fill)


def _plain_sdpa(q, k, v, attn_mask, past_key, nonpad_kv_seqlen, is_causal, softcap, softmax_precision,
                left_window_size, right_window_size) -> bool:
    """Whether an Attention node is exactly ``F.scaled_dot_product_attention``: one output,
    no cache, padding lengths, softcap, precision or window; float32/64 operands of one
    dtype; a mask of the full key length (bool or of the operands' dtype), not combined
    with ``is_causal``, which needs as many queries as keys."""
    if past_key is not None or nonpad_kv_seqlen is not None or (softcap and softcap > 0) \
            or softmax_precision is not None or left_window_size != -1 or right_window_size != -1:
        return False
    if q.dtype not in (torch.float32, torch.float64) or k.dtype != q.dtype or v.dtype != q.dtype:
        return False
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4 or q.shape[1] % k.shape[1] != 0 or k.shape[1] != v.shape[1]:
        return False
    if attn_mask is not None:
        if attn_mask.dtype not in (torch.bool, q.dtype) or attn_mask.dim() > 4 \
                or attn_mask.shape[-1] != k.shape[2] or is_causal:
            return False
    return not is_causal or q.shape[2] == k.shape[2]


@rule("Attention", 23, n_outputs=True)
def attention(q, k, v, attn_mask=None, past_key=None, past_value=None, nonpad_kv_seqlen=None, *,
              is_causal=0, kv_num_heads=None, q_num_heads=None, qk_matmul_output_mode=0, scale=None,
              softcap=0.0, softmax_precision=None, left_window_size=-1, right_window_size=-1, _n_outputs=1):
    three_d = q.dim() == 3
    if three_d:
        q, k, v = _heads(q, q_num_heads), _heads(k, kv_num_heads), _heads(v, kv_num_heads)
    if _n_outputs == 1 and _plain_sdpa(q, k, v, attn_mask, past_key, nonpad_kv_seqlen, is_causal, softcap,
                                       softmax_precision, left_window_size, right_window_size):
        # torch's own fused call where it means the same (scale, additive or boolean mask, causal
        # on a square score matrix; a fully masked row gives 0 in both)
        s = float(scale) if scale is not None else 1.0 / math.sqrt(q.shape[-1])
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=bool(is_causal), scale=s,
                                           enable_gqa=q.shape[1] != k.shape[1])
        return y.transpose(1, 2).reshape(y.shape[0], y.shape[2], -1) if three_d else y
    if past_key is not None:
        k = torch.cat([past_key, k], 2)
        v = torch.cat([past_value, v], 2)
    present_k, present_v = k, v
    ct = torch.float64 if q.dtype == torch.float64 else torch.float32
    b, hq, q_len, dh = q.shape
    hkv, kv_len = k.shape[1], k.shape[2]
    s = float(scale) if scale is not None else 1.0 / math.sqrt(dh)
    rs = math.sqrt(s)
    qc, kc, vc = q.to(ct) * rs, k.to(ct) * rs, v.to(ct)
    if hq != hkv:
        kc = kc.repeat_interleave(hq // hkv, 1)
        vc = vc.repeat_interleave(hq // hkv, 1)
    qk = qc @ kc.transpose(-1, -2)
    raw = qk
    if softcap and softcap > 0:
        qk = softcap * torch.tanh(qk / softcap)
    bias = attention_bias(q_len, kv_len, b, attn_mask, past_key.shape[2] if past_key is not None else None,
                          nonpad_kv_seqlen, is_causal, left_window_size, right_window_size, ct,
                          _TorchArrays(q.device))
    scores = qk + bias
    sdt = _PRECISION.get(softmax_precision, ct) if softmax_precision is not None else ct
    probs = _softmax(scores.to(sdt)).to(ct)
    dead = torch.isneginf(bias.amax(-1, keepdim=True))
    probs = torch.where(dead, torch.zeros_like(probs), probs)
    y = probs @ vc
    if three_d:
        y = y.transpose(1, 2).reshape(b, q_len, -1)
    dt = q.dtype
    if _n_outputs == 1:
        return y.to(dt)
    qk_out = {0: raw, 1: qk, 2: scores, 3: probs}[qk_matmul_output_mode]
    return y.to(dt), present_k, present_v, qk_out.expand(b, hq, q_len, kv_len).to(dt)


@rule("RotaryEmbedding", 23)
def rotary_embedding(x, cos_cache, sin_cache, position_ids=None, *, interleaved=0, num_heads=0,
                     rotary_embedding_dim=0):
    four_d = x.dim() == 4
    if four_d:
        xs = x.transpose(1, 2)                                   # (B, S, H, D)
    else:
        b, s, hd = x.shape
        xs = x.reshape(b, s, num_heads, hd // num_heads)
    d = xs.shape[-1]
    rd = rotary_embedding_dim or d
    if position_ids is not None:
        cos_cache, sin_cache = cos_cache[position_ids.long()], sin_cache[position_ids.long()]
    ct = torch.float64 if x.dtype == torch.float64 else torch.float32
    cos = cos_cache.to(ct)[:, :, None, :]
    sin = sin_cache.to(ct)[:, :, None, :]
    rot = xs[..., :rd].to(ct)
    re, im = rotate(rot, cos, sin, interleaved)
    out = torch.stack([re, im], -1).reshape(rot.shape) if interleaved else torch.cat([re, im], -1)
    y = torch.cat([out.to(x.dtype), xs[..., rd:]], -1)
    return y.transpose(1, 2).contiguous() if four_d else y.reshape(x.shape)
