"""Attention family: Attention (opsets 23-25: GQA/MQA, boolean and additive
masks, offset-aware causal masks, KV cache, nonpad_kv_seqlen, sliding
windows, softcap, the four qk_matmul_output modes), ai.onnx.preview
FlexAttention (score/prob modifier subgraphs), LinearAttention (linear, gated,
delta and gated-delta recurrences) and RotaryEmbedding."""

from __future__ import annotations

import functools
import operator

import numpy as np

from . import _parallel
from ._registry import kernel, shape
from ._shape import Dim, add, floordiv, mul, same_as_input
from ..ir import DataType
from .nn_common import compute_dtype

_PRECISION = {1: np.float32, 10: np.float16, 11: np.float64}


def _precision_dtype(code: int | None, default: np.dtype) -> np.dtype:
    if code is None:
        return default
    if code == 16:
        return DataType.BFLOAT16.numpy_dtype
    return np.dtype(_PRECISION.get(code, np.float32))


def _heads(x: np.ndarray, n: int) -> np.ndarray:
    """(B, S, H*D) -> (B, H, S, D)."""
    b, s, hd = x.shape
    if hd % n:
        raise ValueError(f"hidden size {hd} is not divisible by {n} heads")
    return x.reshape(b, s, n, hd // n).transpose(0, 2, 1, 3)


def _softmax(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=-1, keepdims=True)
    m = np.where(np.isneginf(m), 0, m)
    e = np.exp(x - m)
    s = e.sum(axis=-1, keepdims=True)
    return e / np.where(s == 0, 1, s)


class NumpyArrays:
    """The few array operations the attention bias arithmetic needs, in numpy;
    the torch importer (to_torch/_rules/attention.py) passes torch's."""

    int64 = np.dtype(np.int64)

    @staticmethod
    def arange(n):
        return np.arange(n)

    @staticmethod
    def zeros(shape, dtype):
        return np.zeros(shape, dtype=dtype)

    @staticmethod
    def cast(x, dtype):
        return x.astype(dtype, copy=False)

    @staticmethod
    def is_bool(x) -> bool:
        return x.dtype == bool

    @staticmethod
    def bias_of(ok, dtype):
        """0 where ``ok``, -inf elsewhere."""
        return np.where(ok, 0, -np.inf).astype(dtype)

    @staticmethod
    def pad_last(x, n: int, fill):
        return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, n)], constant_values=fill)


def _allowed_bias(q_len: int, kv_len: int, offset, is_causal: bool, left: int, right: int,
                  dtype, xp=NumpyArrays):
    """0 / -inf bias of the causal frontier and the sliding window; ``offset`` is
    an int or a per-batch (B,) int64 array (then the result is (B, 1, q, kv))."""
    if not is_causal and left < 0 and right < 0:
        return None
    i = xp.arange(q_len).reshape(q_len, 1)
    j = xp.arange(kv_len).reshape(1, kv_len)
    i = i + (offset.reshape(-1, 1, 1) if getattr(offset, "ndim", 0) else offset)
    diff = i - j                                    # query absolute position minus key position
    allowed = []
    if is_causal:
        allowed.append(diff >= 0)
    if left >= 0:
        allowed.append(diff <= left)
    if right >= 0:
        allowed.append(-diff <= right)
    bias = xp.bias_of(functools.reduce(operator.and_, allowed), dtype)
    return bias[:, None] if bias.ndim == 3 else bias


def attention_bias(q_len: int, kv_len: int, batch: int, attn_mask, past_len: int | None, nonpad_kv_seqlen,
                   is_causal, left, right, dtype, xp=NumpyArrays):
    """The additive bias of Attention's scores: the mask (padded to kv_len),
    the causal frontier and sliding window (offset by the cache), the padding
    of an external cache (``nonpad_kv_seqlen``); broadcastable to (B, H, q, kv)."""
    bias = xp.zeros((q_len, kv_len), dtype)
    if attn_mask is not None:
        m = attn_mask
        if m.shape[-1] < kv_len:
            m = xp.pad_last(m, kv_len - m.shape[-1], False if xp.is_bool(m) else -np.inf)
        bias = bias + (xp.bias_of(m, dtype) if xp.is_bool(m) else xp.cast(m, dtype))
    if past_len is not None:
        offset = past_len
    elif nonpad_kv_seqlen is not None:
        offset = xp.cast(nonpad_kv_seqlen.reshape(-1), xp.int64) - q_len
    else:
        offset = 0
    frontier = _allowed_bias(q_len, kv_len, offset, bool(is_causal), int(left), int(right), dtype, xp)
    if frontier is not None:
        bias = bias + frontier
    if nonpad_kv_seqlen is not None:
        pad = xp.arange(kv_len)[None, :] < nonpad_kv_seqlen.reshape(-1, 1)
        bias = bias + xp.bias_of(pad, dtype).reshape(batch, 1, 1, kv_len)
    return bias


_F32 = np.dtype(np.float32)


def _attention_f32(q, k, v, attn_mask, is_causal, scale, left, right, want_probs, keep_raw=True):
    """The common float32 case (4-D Q/K/V with as many query as key/value heads,
    no cache, no softcap), with as few passes over the [B, H, q, kv] scores as
    numpy allows: the scale folded into Q (the smaller operand), K read
    transposed by BLAS (no copy), the bias added into a fresh scores buffer
    (the raw product stays intact for output 3 unless ``keep_raw`` is false:
    then everything happens in the product's buffer), the softmax in place.
    Returns (Y, raw scaled Q K^T -- None without ``keep_raw`` --, probabilities
    when ``want_probs``)."""
    b, h, q_len, dh = q.shape
    kv_len = k.shape[2]
    s = np.float32(scale if scale is not None else 1.0 / np.sqrt(dh))
    qs = np.multiply(q, s)                                           # contiguous copy of Q, scaled
    raw = _parallel.bmm(qs, k.swapaxes(-1, -2))                      # (B, H, q, kv)
    bias = None
    if attn_mask is not None:
        m = attn_mask
        if m.shape[-1] < kv_len:
            m = np.pad(m, [(0, 0)] * (m.ndim - 1) + [(0, kv_len - m.shape[-1])],
                       constant_values=False if m.dtype == bool else -np.inf)
        bias = np.where(m, np.float32(0), np.float32(-np.inf)) if m.dtype == bool else m
    frontier = _allowed_bias(q_len, kv_len, 0, bool(is_causal), left, right, _F32)
    if frontier is not None:
        bias = frontier if bias is None else bias + frontier
    masked = bias is not None
    if masked and not keep_raw and np.broadcast_shapes(raw.shape, bias.shape) == raw.shape:
        scores = np.add(raw, bias, out=raw)      # a fresh 2 MB buffer per call costs as much as the add
    else:
        scores = np.add(raw, bias, dtype=_F32) if masked else raw
    if (masked or not keep_raw) and scores.flags.c_contiguous and scores.size >= _parallel.DEFAULT_MIN_WORK \
            and _parallel.workers() >= _parallel.MIN_WORKERS:
        s2 = scores.reshape(-1, scores.shape[-1])      # the same passes below, over pieces of the rows
        _parallel.split_rows(s2.shape[0], lambda i, j: _softmax_rows(s2[i:j], masked), row_work=s2.shape[1])
        return _parallel.bmm(scores, v), (raw if keep_raw else None), (scores if want_probs else None)
    mx = np.max(scores, axis=-1, keepdims=True)
    dead = None
    if masked:
        dead = np.isneginf(mx)
        if dead.any():
            mx[dead] = 0                                             # fully masked rows give zeros
        else:
            dead = None
    if masked or not keep_raw:
        scores -= mx
    else:
        scores = np.subtract(raw, mx)
    np.exp(scores, out=scores)
    total = np.sum(scores, axis=-1, keepdims=True)
    if dead is not None:
        total[total == 0] = 1
    scores *= np.reciprocal(total, out=total)    # one division per row, not per score
    y = _parallel.bmm(scores, v)
    return y, (raw if keep_raw else None), (scores if want_probs else None)


def _softmax_rows(s: np.ndarray, masked: bool) -> None:
    """Softmax of the rows of ``s`` in place; fully masked rows give zeros."""
    mx = np.max(s, axis=-1, keepdims=True)
    dead = None
    if masked:
        dead = np.isneginf(mx)
        if dead.any():
            mx[dead] = 0
        else:
            dead = None
    s -= mx
    np.exp(s, out=s)
    total = np.sum(s, axis=-1, keepdims=True)
    if dead is not None:
        total[total == 0] = 1
    s *= np.reciprocal(total, out=total)


def attention(q, k, v, attn_mask=None, past_key=None, past_value=None, nonpad_kv_seqlen=None, *,
              is_causal=0, kv_num_heads=None, q_num_heads=None, qk_matmul_output_mode=0, scale=None,
              softcap=0.0, softmax_precision=None, left_window_size=-1, right_window_size=-1,
              keep_qk=True):
    """Scaled dot-product attention: (Y, present_key, present_value, qk_matmul_output).
    ``keep_qk=False`` (the caller does not read qk_matmul_output) lets the float32
    path compute the softmax in the product's own buffer; the 4th output is then None."""
    if q.dtype == _F32 and k.dtype == _F32 and v.dtype == _F32 and past_key is None and past_value is None \
            and nonpad_kv_seqlen is None and not (softcap and softcap > 0) and qk_matmul_output_mode in (0, 3) \
            and softmax_precision in (None, 1) and q.ndim in (3, 4) and q.ndim == k.ndim == v.ndim \
            and (attn_mask is None or attn_mask.dtype in (_F32, np.dtype(bool))) \
            and (q.ndim == 4 or (q_num_heads is not None and q_num_heads == kv_num_heads)):
        three_d = q.ndim == 3
        if three_d:
            q, k, v = _heads(q, q_num_heads), _heads(k, kv_num_heads), _heads(v, kv_num_heads)
        if q.shape[1] == k.shape[1] == v.shape[1] and q.shape[0] == k.shape[0] == v.shape[0]:
            y, raw, probs = _attention_f32(q, k, v, attn_mask, is_causal, scale, int(left_window_size),
                                           int(right_window_size), qk_matmul_output_mode == 3,
                                           keep_raw=keep_qk and qk_matmul_output_mode == 0)
            qk_out = probs if qk_matmul_output_mode == 3 else raw
            if three_d:
                y = y.transpose(0, 2, 1, 3).reshape(y.shape[0], y.shape[2], -1)
            return y, k, v, qk_out
        if three_d:                                                  # undo: the general path splits heads itself
            q, k, v = (x.transpose(0, 2, 1, 3).reshape(x.shape[0], x.shape[2], -1) for x in (q, k, v))
    if (past_key is None) != (past_value is None):
        raise ValueError("past_key and past_value must be given together")
    if nonpad_kv_seqlen is not None and past_key is not None:
        raise ValueError("nonpad_kv_seqlen cannot be combined with past_key/past_value")
    three_d = q.ndim == 3
    if three_d:
        if q_num_heads is None or kv_num_heads is None:
            raise ValueError("3-D inputs need the q_num_heads and kv_num_heads attributes")
        q, k, v = _heads(q, q_num_heads), _heads(k, kv_num_heads), _heads(v, kv_num_heads)
    if past_key is not None:
        k = np.concatenate([past_key, k], axis=2)
        v = np.concatenate([past_value, v], axis=2)
    present_k, present_v = k, v
    ct = np.dtype(np.float64) if q.dtype == np.float64 else np.dtype(np.float32)
    b, hq, q_len, dh = q.shape
    hkv, kv_len = k.shape[1], k.shape[2]
    s = float(scale) if scale is not None else 1.0 / np.sqrt(dh)
    rs = ct.type(np.sqrt(s))
    qc = q.astype(ct) * rs
    kc = k.astype(ct) * rs
    vc = v.astype(ct)
    if hq != hkv:
        if hq % hkv:
            raise ValueError(f"{hq} query heads are not a multiple of {hkv} key/value heads")
        kc = np.repeat(kc, hq // hkv, axis=1)
        vc = np.repeat(vc, hq // hkv, axis=1)
    qk = np.matmul(qc, kc.swapaxes(-1, -2))                      # (B, H, q, kv)
    raw = qk
    if softcap and softcap > 0:
        qk = ct.type(softcap) * np.tanh(qk / ct.type(softcap))
    bias = attention_bias(q_len, kv_len, b, attn_mask, past_key.shape[2] if past_key is not None else None,
                          nonpad_kv_seqlen, is_causal, left_window_size, right_window_size, ct)
    scores = qk + bias
    sdt = _precision_dtype(softmax_precision, ct)
    probs = _softmax(scores.astype(sdt, copy=False)).astype(ct, copy=False)
    dead = np.isneginf(bias.max(axis=-1, keepdims=True))         # fully masked rows give zeros
    if dead.any():
        probs = np.where(dead, 0, probs)
    y = np.matmul(probs, vc)
    if three_d:
        y = y.transpose(0, 2, 1, 3).reshape(b, q_len, -1)
    mode = qk_matmul_output_mode
    qk_out = {0: raw, 1: qk, 2: scores, 3: probs}.get(mode)
    if qk_out is None:
        raise ValueError(f"qk_matmul_output_mode must be 0..3, got {mode}")
    dt = q.dtype
    return (y.astype(dt), present_k, present_v, np.broadcast_to(qk_out, (b, hq, q_len, kv_len)).astype(dt))


@kernel("Attention", 23)
def attention_23(q, k, v, attn_mask=None, past_key=None, past_value=None, nonpad_kv_seqlen=None, *,
                 is_causal=0, kv_num_heads=None, q_num_heads=None, qk_matmul_output_mode=0, scale=None,
                 softcap=0.0, softmax_precision=None, left_window_size=-1, right_window_size=-1,
                 keep_qk=True):
    return attention(q, k, v, attn_mask, past_key, past_value, nonpad_kv_seqlen, is_causal=is_causal,
                     kv_num_heads=kv_num_heads, q_num_heads=q_num_heads,
                     qk_matmul_output_mode=qk_matmul_output_mode, scale=scale, softcap=softcap,
                     softmax_precision=softmax_precision, left_window_size=left_window_size,
                     right_window_size=right_window_size, keep_qk=keep_qk)


@shape("Attention", 23)
def attention_shape(ctx):
    qs, ks, vs = ctx.input_shape(0), ctx.input_shape(1), ctx.input_shape(2)
    dt = ctx.input_dtype(0)
    pk = ctx.input_shape(4) if ctx.has_input(4) else None
    y = None
    present_k = present_v = None
    kv_len: Dim = None
    hq: Dim = None
    if qs is not None and len(qs) not in (3, 4):
        ctx.fail(f"Q must have rank 3 or 4, got rank {len(qs)}")
        return
    if qs is not None and len(qs) == 4:
        hq = qs[1]
        y = [qs[0], qs[1], qs[2], vs[3] if vs is not None and len(vs) == 4 else None]
        if ks is not None and vs is not None:
            past = pk[2] if pk is not None else (0 if not ctx.has_input(4) else None)
            kv_len = add(ks[2], past)
            present_k = [ks[0], ks[1], kv_len, ks[3]]
            present_v = [vs[0], vs[1], kv_len, vs[3]]
    elif qs is not None:
        nq, nkv = ctx.attr("q_num_heads"), ctx.attr("kv_num_heads")
        hq = nq
        vh = floordiv(vs[2], nkv) if vs is not None and nkv else None
        y = [qs[0], qs[1], mul(vh, nq) if nq else None]
        if ks is not None and vs is not None and nkv:
            past = pk[2] if pk is not None else (0 if not ctx.has_input(4) else None)
            kv_len = add(ks[1], past)
            present_k = [ks[0], nkv, kv_len, floordiv(ks[2], nkv)]
            present_v = [vs[0], nkv, kv_len, vh]
    ctx.set_output(0, dt, y)
    if ctx.n_outputs > 1:
        ctx.set_output(1, ctx.input_dtype(1), present_k)
    if ctx.n_outputs > 2:
        ctx.set_output(2, ctx.input_dtype(2), present_v)
    if ctx.n_outputs > 3:
        q_len = qs[-2] if qs is not None and len(qs) == 4 else (qs[1] if qs is not None else None)
        ctx.set_output(3, dt, [qs[0] if qs is not None else None, hq, q_len, kv_len])


# ------------------------------------------------------------------ FlexAttention
def _call_mod(mod, x: np.ndarray) -> np.ndarray:
    out = mod(x)
    if len(out) != 1:
        raise ValueError(f"a score/prob modifier graph must have one output, it has {len(out)}")
    return np.asarray(out[0], dtype=x.dtype)


@kernel("FlexAttention", 1, domain="ai.onnx.preview")
def flex_attention(q, k, v, *, prob_mod=None, scale=None, score_mod=None, softmax_precision=None):
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ValueError("FlexAttention takes rank-4 Q, K, V (B, H, L, E)")
    hq, hkv = q.shape[1], k.shape[1]
    if hq != hkv:
        if hq % hkv:
            raise ValueError(f"{hq} query heads are not a multiple of {hkv} key/value heads")
        k, v = np.repeat(k, hq // hkv, axis=1), np.repeat(v, hq // hkv, axis=1)
    default = np.dtype(np.float64) if q.dtype == np.float64 else np.dtype(np.float32)
    sdt = _precision_dtype(softmax_precision, default)
    ct = compute_dtype(q.dtype)
    s = float(scale) if scale is not None else 1.0 / np.sqrt(q.shape[-1])
    rs = ct.type(np.sqrt(np.float32(s)))
    scores = np.matmul(q.astype(ct) * rs, (k.astype(ct) * rs).swapaxes(-1, -2)).astype(sdt)
    if score_mod is not None:
        scores = _call_mod(score_mod, scores)
    probs = _softmax(scores)
    if prob_mod is not None:
        probs = _call_mod(prob_mod, probs)
    return np.matmul(probs, v.astype(sdt)).astype(v.dtype)


@shape("FlexAttention", 1, domain="ai.onnx.preview")
def flex_attention_shape(ctx):
    qs, vs = ctx.input_shape(0), ctx.input_shape(2)
    out = None
    if qs is not None:
        out = [qs[0], qs[1], qs[2], vs[3] if vs is not None else None]
    ctx.set_output(0, ctx.input_dtype(0), out)


# ------------------------------------------------------------------ LinearAttention
@kernel("LinearAttention", 27)
def linear_attention(query, key, value, past_state=None, decay=None, beta=None, *, chunk_size=64,
                     kv_num_heads=None, q_num_heads=None, scale=0.0, update_rule="gated_delta"):
    if update_rule not in ("linear", "gated", "delta", "gated_delta"):
        raise ValueError(f"unknown update_rule {update_rule!r}")
    if not q_num_heads or not kv_num_heads or q_num_heads % kv_num_heads:
        raise ValueError(f"q_num_heads ({q_num_heads}) must be a positive multiple of kv_num_heads "
                         f"({kv_num_heads})")
    gated = update_rule in ("gated", "gated_delta")
    delta = update_rule in ("delta", "gated_delta")
    if gated != (decay is not None) or delta != (beta is not None):
        raise ValueError(f"update_rule {update_rule!r} {'needs' if gated else 'forbids'} decay and "
                         f"{'needs' if delta else 'forbids'} beta")
    f32 = np.float32
    b, t, _ = query.shape
    q4 = _heads(query, q_num_heads).astype(f32)
    k4 = _heads(key, kv_num_heads).astype(f32)
    v4 = _heads(value, kv_num_heads).astype(f32)
    dk, dv = q4.shape[-1], v4.shape[-1]
    rep = q_num_heads // kv_num_heads
    if gated:
        g = decay.astype(f32)
        g = g.reshape(b, t, kv_num_heads, 1) if g.shape[-1] == kv_num_heads else g.reshape(b, t, kv_num_heads, dk)
        gate = np.exp(g).transpose(0, 2, 1, 3)                   # (B, Hkv, T, 1 or dk)
    if delta:
        bt = beta.astype(f32).reshape(b, t, beta.shape[-1], 1).transpose(0, 2, 1, 3)   # (B, Hkv|1, T, 1)
    state = past_state.astype(f32) if past_state is not None else np.zeros((b, kv_num_heads, dk, dv), f32)
    sv = f32(scale) if scale else f32(1 / np.sqrt(dk))
    out = np.empty((b, kv_num_heads, rep, t, dv), f32)
    qg = q4.reshape(b, kv_num_heads, rep, t, dk)
    for i in range(t):
        kt, vt = k4[:, :, i], v4[:, :, i]                         # (B, Hkv, dk), (B, Hkv, dv)
        if gated:
            state = state * gate[:, :, i][..., None]
        if delta:
            vt = bt[:, :, i] * (vt - np.einsum("bhdm,bhd->bhm", state, kt))
        state = state + kt[..., :, None] * vt[..., None, :]
        out[:, :, :, i] = sv * np.matmul(qg[:, :, :, i], state)   # (B, Hkv, rep, dv)
    y = out.reshape(b, q_num_heads, t, dv).transpose(0, 2, 1, 3).reshape(b, t, q_num_heads * dv)
    sdt = past_state.dtype if past_state is not None else query.dtype
    return y.astype(query.dtype), state.astype(sdt)


@shape("LinearAttention", 27)
def linear_attention_shape(ctx):
    qs, ks, vs = ctx.input_shape(0), ctx.input_shape(1), ctx.input_shape(2)
    nq, nkv = ctx.attr("q_num_heads"), ctx.attr("kv_num_heads")
    dt = ctx.input_dtype(0)
    dv = floordiv(vs[2], nkv) if vs is not None and nkv else None
    dk = floordiv(qs[2], nq) if qs is not None and nq else None
    ctx.set_output(0, dt, None if qs is None else [qs[0], qs[1], mul(dv, nq) if nq else None])
    if ctx.n_outputs > 1:
        sdt = ctx.input_dtype(3) if ctx.has_input(3) else dt
        bsz = qs[0] if qs is not None else (ks[0] if ks is not None else None)
        ctx.set_output(1, sdt, [bsz, nkv, dk, dv])


# ------------------------------------------------------------------ RotaryEmbedding
def rotate(rot, cos, sin, interleaved):
    """The rotated pairs (real, imaginary) of the rotary part ``rot`` (..., rd)
    of any array library: pairs are (even, odd) entries when ``interleaved``,
    else (first half, second half)."""
    rd = rot.shape[-1]
    if interleaved:
        x1, x2 = rot[..., 0::2], rot[..., 1::2]
    else:
        x1, x2 = rot[..., :rd // 2], rot[..., rd // 2:]
    return cos * x1 - sin * x2, sin * x1 + cos * x2


@kernel("RotaryEmbedding", 23)
def rotary_embedding(x, cos_cache, sin_cache, position_ids=None, *, interleaved=0, num_heads=0,
                     rotary_embedding_dim=0):
    four_d = x.ndim == 4
    if four_d:
        xs = x.transpose(0, 2, 1, 3)                              # (B, S, H, D)
    else:
        if not num_heads:
            raise ValueError("a 3-D input needs the num_heads attribute")
        b, s, hd = x.shape
        xs = x.reshape(b, s, num_heads, hd // num_heads)
    d = xs.shape[-1]
    rd = rotary_embedding_dim or d
    if position_ids is not None:
        cos_cache, sin_cache = cos_cache[position_ids], sin_cache[position_ids]
    if cos_cache.shape[-1] != rd // 2 or sin_cache.shape[-1] != rd // 2:
        raise ValueError(f"cos/sin caches' last dim must be rotary_embedding_dim/2 = {rd // 2}, got "
                         f"{cos_cache.shape[-1]} and {sin_cache.shape[-1]}")
    ct = compute_dtype(x.dtype)
    cos = cos_cache.astype(ct)[:, :, None, :]
    sin = sin_cache.astype(ct)[:, :, None, :]
    rot = xs[..., :rd].astype(ct)
    re, im = rotate(rot, cos, sin, interleaved)
    out = np.stack([re, im], axis=-1).reshape(rot.shape) if interleaved else np.concatenate([re, im], axis=-1)
    y = np.concatenate([out.astype(x.dtype), xs[..., rd:]], axis=-1)
    return np.ascontiguousarray(y.transpose(0, 2, 1, 3)) if four_d else y.reshape(x.shape)


shape("RotaryEmbedding", 23)(same_as_input)
