"""Recurrent layers: RNN, GRU, LSTM (every direction and layout, custom
activations, clip, sequence_lens, initial states, peepholes), as Python
loops over time in torch ops, so gradients flow through them.

The input projection of all time steps is one matmul; only the recurrence
loops.  Same structure as onnxkit's numpy kernels (ops/nn_rnn.py)."""

from __future__ import annotations

import torch

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


def _activations(names, alphas, betas, per_dir, num_dir, defaults):
    names = list(names) if names else defaults * num_dir
    if len(names) == per_dir and num_dir == 2:
        names = names * 2
    alphas, betas = list(alphas or []), list(betas or [])
    fns = []
    for name in names:
        ua, ub, da, db, f = _ACTS[name.lower()]
        a = alphas.pop(0) if ua and alphas else da
        b = betas.pop(0) if ub and betas else db
        fns.append(lambda x, f=f, a=a, b=b: f(x, a, b))
    return [fns[d * per_dir:(d + 1) * per_dir] for d in range(num_dir)]


class _Layer:
    """What the three ops share: inputs in (seq, batch, ...) layout, directions, lengths."""

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

    def projections(self, d):
        g = self.w.shape[1]
        return torch.matmul(self.x, self.w[d].T) + self.b[d, :g]

    def steps(self, d):
        ts = range(self.seq) if self.dirs[d] == "forward" else range(self.seq - 1, -1, -1)
        for t in ts:
            yield t, None if self.full else (t < self.lens)[:, None]

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


def _clip(v, clip):
    return v if clip is None else torch.clamp(v, -clip, clip)


def _keep(mask, new, old):
    return new if mask is None else torch.where(mask, new, old)


@rule("RNN", 7)
def rnn(x, w, r, b=None, sequence_lens=None, initial_h=None, *, activation_alpha=None, activation_beta=None,
        activations=None, clip=None, direction="forward", hidden_size=None, layout=0):
    L = _Layer(x, w, r, b, sequence_lens, [initial_h], hidden_size, direction, layout, 1)
    acts = _activations(activations, activation_alpha, activation_beta, 1, L.num_dir, ["Tanh"])
    ys, hs = [], []
    for d in range(L.num_dir):
        f, = acts[d]
        xw = L.projections(d) + L.b[d, L.hidden:]
        rt = L.r[d].T
        h = L.initial[0][d]
        y = [None] * L.seq
        for t, m in L.steps(d):
            h = _keep(m, f(_clip(xw[t] + h @ rt, clip)), h)
            y[t] = h
        ys.append(torch.stack(y))
        hs.append(h)
    return L.outputs(ys, [hs])


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


@rule("GRU", 7)
def gru(x, w, r, b=None, sequence_lens=None, initial_h=None, *, activation_alpha=None, activation_beta=None,
        activations=None, clip=None, direction="forward", hidden_size=None, layout=0, linear_before_reset=0):
    if linear_before_reset and _fused_ok(activations, ["sigmoid", "tanh"], clip, sequence_lens, x):
        return _fused(torch.gru, x, w, r, b, [initial_h], hidden_size, direction, layout, (1, 0, 2))
    L = _Layer(x, w, r, b, sequence_lens, [initial_h], hidden_size, direction, layout, 3)
    acts = _activations(activations, activation_alpha, activation_beta, 2, L.num_dir, ["Sigmoid", "Tanh"])
    H = L.hidden
    ys, hs = [], []
    for d in range(L.num_dir):
        f, g = acts[d]
        xw = L.projections(d)
        rb = L.b[d, 3 * H:]
        rzr, rh = L.r[d, :2 * H].T, L.r[d, 2 * H:].T
        h = L.initial[0][d]
        y = [None] * L.seq
        for t, m in L.steps(d):
            zr = f(_clip(xw[t, :, :2 * H] + h @ rzr + rb[:2 * H], clip))
            z, rg = zr[:, :H], zr[:, H:]
            if linear_before_reset:
                hh = g(_clip(xw[t, :, 2 * H:] + rg * (h @ rh + rb[2 * H:]), clip))
            else:
                hh = g(_clip(xw[t, :, 2 * H:] + (rg * h) @ rh + rb[2 * H:], clip))
            h = _keep(m, (1 - z) * hh + z * h, h)
            y[t] = h
        ys.append(torch.stack(y))
        hs.append(h)
    return L.outputs(ys, [hs])


@rule("LSTM", 7)
def lstm(x, w, r, b=None, sequence_lens=None, initial_h=None, initial_c=None, p=None, *, activation_alpha=None,
         activation_beta=None, activations=None, clip=None, direction="forward", hidden_size=None,
         input_forget=0, layout=0):
    if p is None and not input_forget and \
            _fused_ok(activations, ["sigmoid", "tanh", "tanh"], clip, sequence_lens, x):
        return _fused(torch.lstm, x, w, r, b, [initial_h, initial_c], hidden_size, direction, layout, (0, 2, 3, 1))
    L = _Layer(x, w, r, b, sequence_lens, [initial_h, initial_c], hidden_size, direction, layout, 4)
    acts = _activations(activations, activation_alpha, activation_beta, 3, L.num_dir, ["Sigmoid", "Tanh", "Tanh"])
    H = L.hidden
    peep = p.to(L.ct) if p is not None else None
    ys, hs, cs = [], [], []
    for d in range(L.num_dir):
        f, g, hf = acts[d]
        xw = L.projections(d) + L.b[d, 4 * H:]
        rt = L.r[d].T
        pi, po, pf = (peep[d, :H], peep[d, H:2 * H], peep[d, 2 * H:]) if peep is not None else (None,) * 3
        h, c = L.initial[0][d], L.initial[1][d]
        y = [None] * L.seq
        for t, m in L.steps(d):
            gates = xw[t] + h @ rt                  # i, o, f, c
            gi, go, gf, gc = (gates[:, k * H:(k + 1) * H] for k in range(4))
            if pi is not None:
                gi, gf = gi + pi * c, gf + pf * c
            i = f(_clip(gi, clip))
            fg = 1 - i if input_forget else f(_clip(gf, clip))
            c_new = fg * c + i * g(_clip(gc, clip))
            if po is not None:
                go = go + po * c_new
            h_new = f(_clip(go, clip)) * hf(c_new)
            h, c = _keep(m, h_new, h), _keep(m, c_new, c)
            y[t] = h
        ys.append(torch.stack(y) if L.seq else torch.zeros((0, L.batch, H), dtype=L.ct, device=x.device))
        hs.append(h)
        cs.append(c)
    return L.outputs(ys, [hs, cs])
