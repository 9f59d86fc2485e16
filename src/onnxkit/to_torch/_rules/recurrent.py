"""Recurrent layers: RNN, GRU, LSTM (every direction and layout, custom
activations, clip, sequence_lens, initial states, peepholes), as Python
loops over time in torch ops, so gradients flow through them.

The input projection of all time steps is one matmul; only the recurrence
loops.  The cell equations are onnxkit's numpy kernels' (ops/nn_rnn.py),
run on this module's torch ``_Layer``."""

from __future__ import annotations

import torch

from ...ops.nn_rnn import RecurrentLayer, gru_layer, layer_activations, lstm_layer, rnn_layer
from .._registry import rule

# name -> (uses alpha, uses beta, default alpha, default beta, fn(x, a, b))
_ACTS = {
    "relu": (False, False, 0, 0, lambda x, a, b: torch.relu(x)),
    "tanh": (False, False, 0, 0, lambda x, a, b: torch.tanh(x)),
    "sigmoid": (False, False, 0, 0, lambda x, a, b: torch.sigmoid(x)),
    "affine": (True, True, 1.0, 0.0, lambda x, a, b: a * x + b),
    "leakyrelu": (True, False, 0.01, 0, lambda x, a, b: torch.where(x >= 0, x, a * x)),
    "thresholdedrelu": (True, False, 1.0, 0, lambda x, a, b: torch.where(x > a, x, torch.zeros_like(x))),
    "scaledtanh": (True, True, 1.0, 1.0, lambda x, a, b: a * torch.tanh(b * x)),
    "hardsigmoid": (True, True, 0.2, 0.5, lambda x, a, b: torch.clamp(a * x + b, 0, 1)),
    "elu": (True, False, 1.0, 0, lambda x, a, b: torch.where(x >= 0, x, a * (torch.exp(torch.clamp(x, max=0)) - 1))),
    "softsign": (False, False, 0, 0, lambda x, a, b: x / (1 + torch.abs(x))),
    "softplus": (False, False, 0, 0, lambda x, a, b: torch.logaddexp(x, torch.zeros_like(x))),
}


class _Layer(RecurrentLayer):
    """The torch layer: what the three ops share."""

    def __init__(self, x, w, r, b, sequence_lens, initial, hidden_size, direction, layout, gates):
        self.ct = torch.float64 if x.dtype == torch.float64 else torch.float32
        self.dtype = x.dtype
        self.layout = layout
        if layout:
            x = x.transpose(0, 1)
            initial = [None if s is None else s.transpose(0, 1) for s in initial]
        self.x = x.to(self.ct)
        self.seq, self.batch = x.shape[:2]
        self.num_dir = 2 if direction == "bidirectional" else 1
        self.dirs = ["forward", "reverse"] if self.num_dir == 2 else [direction]
        self.hidden = hidden_size if hidden_size is not None else r.shape[-1]
        h = self.hidden
        dev = x.device
        self.w, self.r = w.to(self.ct), r.to(self.ct)
        self.b = b.to(self.ct) if b is not None else torch.zeros((self.num_dir, 2 * gates * h), dtype=self.ct,
                                                                    device=dev)
        self.initial = [torch.zeros((self.num_dir, self.batch, h), dtype=self.ct, device=dev) if s is None
                        else s.to(self.ct) for s in initial]
        if sequence_lens is None:
            self.lens, self.full = None, True
        else:
            self.lens = sequence_lens.to(torch.int64)
            self.full = bool((self.lens >= self.seq).all())

    @staticmethod
    def clip(v, clip):
        return v if clip is None else torch.clamp(v, -clip, clip)

    @staticmethod
    def keep(mask, new, old):
        return new if mask is None else torch.where(mask, new, old)

    def stack_steps(self, y):
        if not y:
            return torch.zeros((0, self.batch, self.hidden), dtype=self.ct, device=self.x.device)
        return torch.stack(y)

    def outputs(self, ys, finals):
        y = torch.stack(ys, dim=1)                       # (seq, dirs, batch, hidden)
        if not self.full:
            steps = torch.arange(self.seq, device=y.device)[:, None, None, None]
            y = y * (steps < self.lens[None, None, :, None])
        states = [torch.stack(f, dim=0) for f in finals]
        if self.layout:
            y = y.permute(2, 0, 1, 3)
            states = [s.transpose(0, 1) for s in states]
        return tuple(a.contiguous().to(self.dtype) for a in [y] + states)


def _declared(outs: tuple, n: int):
    """The outputs the node declares: Y alone for a one-output node (its fx
    value is then the tensor itself), else the tuple."""
    return outs[0] if n == 1 else outs


@rule("RNN", 7, n_outputs=True)
def rnn(x, w, r, b=None, sequence_lens=None, initial_h=None, *, activation_alpha=None, activation_beta=None,
        activations=None, clip=None, direction="forward", hidden_size=None, layout=0, _n_outputs=2):
    L = _Layer(x, w, r, b, sequence_lens, [initial_h], hidden_size, direction, layout, 1)
    acts = layer_activations(activations, activation_alpha, activation_beta, 1, L.num_dir, ["Tanh"], _ACTS)
    return _declared(rnn_layer(L, acts, clip), _n_outputs)


# ------------------------------------------------------------------ torch's fused kernels
def _fused_ok(activations, defaults, clip, sequence_lens, x):
    names = [a.lower() for a in activations] if activations else None
    return clip is None and sequence_lens is None and x.dtype in (torch.float32, torch.float64) and \
        (names is None or names in (defaults, defaults * 2))


def _reorder(t, perm, h):
    """The gate blocks (of ``h`` rows each) of a weight matrix or bias, in torch's order."""
    return torch.cat([t[k * h:(k + 1) * h] for k in perm], 0)


def _fused(fn, x, w, r, b, initial, hidden, direction, layout, perm):
    """Run ``torch.lstm`` / ``torch.gru`` (one layer) with ONNX weights; outputs in ONNX's layout."""
    if layout:
        x = x.transpose(0, 1)
        initial = [None if s is None else s.transpose(0, 1) for s in initial]
    seq, batch = x.shape[:2]
    nd = 2 if direction == "bidirectional" else 1
    h = hidden if hidden is not None else r.shape[-1]
    g = len(perm)
    if b is None:
        b = torch.zeros((nd, 2 * g * h), dtype=x.dtype, device=x.device)
    params = []
    for d in range(nd):
        params += [_reorder(w[d], perm, h), _reorder(r[d], perm, h),
                   _reorder(b[d, :g * h], perm, h), _reorder(b[d, g * h:], perm, h)]
    states = [torch.zeros((nd, batch, h), dtype=x.dtype, device=x.device) if s is None else s.to(x.dtype)
              for s in initial]
    xin = x.flip(0) if direction == "reverse" else x
    hx = tuple(states) if len(states) > 1 else states[0]
    y, *finals = fn(xin, hx, params, True, 1, 0.0, False, nd == 2, False)
    if direction == "reverse":
        y = y.flip(0)
    y = y.reshape(seq, batch, nd, h).permute(0, 2, 1, 3)
    if layout:
        return (y.permute(2, 0, 1, 3), *[f.transpose(0, 1) for f in finals])
    return (y, *finals)


@rule("GRU", 7, n_outputs=True)
def gru(x, w, r, b=None, sequence_lens=None, initial_h=None, *, activation_alpha=None, activation_beta=None,
        activations=None, clip=None, direction="forward", hidden_size=None, layout=0, linear_before_reset=0,
        _n_outputs=2):
    if linear_before_reset and _fused_ok(activations, ["sigmoid", "tanh"], clip, sequence_lens, x):
        return _declared(_fused(torch.gru, x, w, r, b, [initial_h], hidden_size, direction, layout, (1, 0, 2)),
                         _n_outputs)
    L = _Layer(x, w, r, b, sequence_lens, [initial_h], hidden_size, direction, layout, 3)
    acts = layer_activations(activations, activation_alpha, activation_beta, 2, L.num_dir, ["Sigmoid", "Tanh"],
                             _ACTS)
    return _declared(gru_layer(L, acts, clip, linear_before_reset), _n_outputs)


@rule("LSTM", 7, n_outputs=True)
def lstm(x, w, r, b=None, sequence_lens=None, initial_h=None, initial_c=None, p=None, *, activation_alpha=None,
         activation_beta=None, activations=None, clip=None, direction="forward", hidden_size=None,
         input_forget=0, layout=0, _n_outputs=3):
    if p is None and not input_forget and \
            _fused_ok(activations, ["sigmoid", "tanh", "tanh"], clip, sequence_lens, x):
        return _declared(_fused(torch.lstm, x, w, r, b, [initial_h, initial_c], hidden_size, direction, layout,
                                (0, 2, 3, 1)), _n_outputs)
    L = _Layer(x, w, r, b, sequence_lens, [initial_h, initial_c], hidden_size, direction, layout, 4)
    acts = layer_activations(activations, activation_alpha, activation_beta, 3, L.num_dir,
                             ["Sigmoid", "Tanh", "Tanh"], _ACTS)
    peep = p.to(L.ct) if p is not None else None
    return _declared(lstm_layer(L, acts, clip, peep, input_forget), _n_outputs)
