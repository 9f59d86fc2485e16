"""Recurrent layers: RNN, GRU, LSTM, every direction and layout, with custom
activations, clip, sequence_lens, initial states and peepholes.

The input projection of all time steps is one matmul; only the recurrence
loops over time (both directions of a bidirectional layer step together
where possible: each direction is its own loop over its own weights)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ._registry import kernel, shape
from .math_activation import sigmoid_of
from .nn_common import compute_dtype


# name -> (uses alpha, uses beta, default alpha, default beta, fn(x, a, b))
_ACTS: dict[str, tuple[bool, bool, float, float, Callable]] = {
    "relu": (False, False, 0, 0, lambda x, a, b: np.maximum(x, 0)),
    "tanh": (False, False, 0, 0, lambda x, a, b: np.tanh(x)),
    "sigmoid": (False, False, 0, 0, lambda x, a, b: sigmoid_of(x)),
    "affine": (True, True, 1.0, 0.0, lambda x, a, b: a * x + b),
    "leakyrelu": (True, False, 0.01, 0, lambda x, a, b: np.where(x >= 0, x, a * x)),
    "thresholdedrelu": (True, False, 1.0, 0, lambda x, a, b: np.where(x > a, x, 0)),
    "scaledtanh": (True, True, 1.0, 1.0, lambda x, a, b: a * np.tanh(b * x)),
    "hardsigmoid": (True, True, 0.2, 0.5, lambda x, a, b: np.clip(a * x + b, 0, 1)),
    "elu": (True, False, 1.0, 0, lambda x, a, b: np.where(x >= 0, x, a * (np.exp(np.minimum(x, 0)) - 1))),
    "softsign": (False, False, 0, 0, lambda x, a, b: x / (1 + np.abs(x))),
    "softplus": (False, False, 0, 0, lambda x, a, b: np.logaddexp(x, 0)),
}


def layer_activations(names, alphas, betas, per_dir: int, num_dir: int, defaults: list[str],
                      table: dict = _ACTS) -> list[list[Callable]]:
    """Per direction, the layer's activation functions; alphas and betas are
    consumed in order by the activations that take them.  ``table`` maps a
    lowercase name to (uses alpha, uses beta, default alpha, default beta,
    fn(x, a, b)); the torch importer passes its own."""
    names = list(names) if names else defaults * num_dir
    if len(names) == per_dir and num_dir == 2:
        names = names * 2
    alphas, betas = list(alphas or []), list(betas or [])
    fns = []
    for name in names:
        key = name.lower()
        if key not in table:
            raise ValueError(f"unknown activation {name!r}")
        ua, ub, da, db, f = table[key]
        a = alphas.pop(0) if ua and alphas else da
        b = betas.pop(0) if ub and betas else db
        fns.append(lambda x, f=f, a=a, b=b: f(x, a, b))
    return [fns[d * per_dir:(d + 1) * per_dir] for d in range(num_dir)]


# ---------------------------------------------------------------- the recurrences
# Written once for any array library.  ``L`` is a ``RecurrentLayer``: numpy's
# ``_Layer`` below or the torch importer's (to_torch/_rules/recurrent.py).

class RecurrentLayer:
    """A layer's inputs in (seq, batch, ...) layout, in the compute dtype.

    A subclass sets x, w, r, b, initial (list of (dirs, batch, hidden)),
    seq, batch, hidden, num_dir, dirs, lens, full, and supplies the few
    primitives that differ between array libraries: ``clip``, ``keep``,
    ``stack_steps`` and ``outputs``."""

    def projections(self, d: int):
        """X @ W^T + Wb for every time step: (seq, batch, gates*hidden)."""
        g = self.w.shape[1]
        return self.x @ self.w[d].T + self.b[d, :g]

    def steps(self, d: int):
        """(t, active mask (batch, 1) or None) in the direction's order."""
        ts = range(self.seq) if self.dirs[d] == "forward" else range(self.seq - 1, -1, -1)
        for t in ts:
            yield t, None if self.full else (t < self.lens)[:, None]

    @staticmethod
    def clip(v, clip):
        """``v`` clipped to [-clip, clip]; ``v`` itself when clip is None."""
        raise NotImplementedError

    @staticmethod
    def keep(mask, new, old):
        """``new`` where the (batch, 1) mask holds, else ``old``; ``new`` when mask is None."""
        raise NotImplementedError

    def stack_steps(self, y: list):
        """The per-step hidden states as one (seq, batch, hidden) array (seq may be 0)."""
        raise NotImplementedError

    def outputs(self, ys: list, finals: list[list]) -> tuple:
        """Y (seq, dirs, batch, hidden) and the final states, in the op's layout and dtype."""
        raise NotImplementedError


def rnn_layer(L, acts, clip) -> tuple:
    """RNN: h = f(clip(X W^T + Wb + h R^T + Rb))."""
    ys, hs = [], []
    for d in range(L.num_dir):
        f, = acts[d]
        xw = L.projections(d) + L.b[d, L.hidden:]
        rt = L.r[d].T
        h = L.initial[0][d]
        y = [None] * L.seq
        for t, m in L.steps(d):
            h = L.keep(m, f(L.clip(xw[t] + h @ rt, clip)), h)
            y[t] = h
        ys.append(L.stack_steps(y))
        hs.append(h)
    return L.outputs(ys, [hs])


def gru_layer(L, acts, clip, linear_before_reset) -> tuple:
    """GRU, gates z, r, h; ``linear_before_reset`` applies the reset gate after R_h."""
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
            zr = f(L.clip(xw[t, :, :2 * H] + h @ rzr + rb[:2 * H], clip))
            z, rg = zr[:, :H], zr[:, H:]
            if linear_before_reset:
                hh = g(L.clip(xw[t, :, 2 * H:] + rg * (h @ rh + rb[2 * H:]), clip))
            else:
                hh = g(L.clip(xw[t, :, 2 * H:] + (rg * h) @ rh + rb[2 * H:], clip))
            h = L.keep(m, (1 - z) * hh + z * h, h)
            y[t] = h
        ys.append(L.stack_steps(y))
        hs.append(h)
    return L.outputs(ys, [hs])


def lstm_layer(L, acts, clip, peep, input_forget) -> tuple:
    """LSTM, gates i, o, f, c; ``peep`` (dirs, 3*hidden) in the compute dtype, or None."""
    H = L.hidden
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
            i = f(L.clip(gi, clip))
            fg = 1 - i if input_forget else f(L.clip(gf, clip))
            c_new = fg * c + i * g(L.clip(gc, clip))
            if po is not None:
                go = go + po * c_new
            h_new = f(L.clip(go, clip)) * hf(c_new)
            h, c = L.keep(m, h_new, h), L.keep(m, c_new, c)
            y[t] = h
        ys.append(L.stack_steps(y))
        hs.append(h)
        cs.append(c)
    return L.outputs(ys, [hs, cs])


class _Layer(RecurrentLayer):
    """The numpy layer: what the three ops share."""

    def __init__(self, x, w, r, b, sequence_lens, initial, hidden_size, direction, layout, gates):
        self.ct = compute_dtype(x.dtype)
        self.dtype = x.dtype
        self.layout = layout
        if layout:
            x = x.transpose(1, 0, 2)
            initial = [None if s is None else s.transpose(1, 0, 2) for s in initial]
        self.x = x.astype(self.ct, copy=False)
        self.seq, self.batch = x.shape[:2]
        self.num_dir = 2 if direction == "bidirectional" else 1
        if direction not in ("forward", "reverse", "bidirectional"):
            raise ValueError(f"unknown direction {direction!r}")
        self.dirs = ["forward", "reverse"] if self.num_dir == 2 else [direction]
        self.hidden = hidden_size if hidden_size is not None else r.shape[-1]
        h = self.hidden
        self.w = w.astype(self.ct, copy=False)
        self.r = r.astype(self.ct, copy=False)
        self.b = b.astype(self.ct, copy=False) if b is not None else np.zeros((self.num_dir, 2 * gates * h), self.ct)
        self.initial = [np.zeros((self.num_dir, self.batch, h), self.ct) if s is None else s.astype(self.ct)
                        for s in initial]
        lens = np.full(self.batch, self.seq, np.int64) if sequence_lens is None else sequence_lens.astype(np.int64)
        self.lens = lens
        self.full = bool((lens >= self.seq).all())

    @staticmethod
    def clip(v, clip):
        return v if clip is None else np.clip(v, -clip, clip)

    @staticmethod
    def keep(mask, new, old):
        return new if mask is None else np.where(mask, new, old)

    def stack_steps(self, y: list) -> np.ndarray:
        return np.stack(y) if y else np.zeros((0, self.batch, self.hidden), self.ct)

    def outputs(self, ys: list[np.ndarray], finals: list[list[np.ndarray]]) -> tuple:
        """Y (seq, dirs, batch, hidden) and the final states, in the op's layout and dtype."""
        y = np.stack(ys, axis=1)
        if not self.full:
            y = y * (np.arange(self.seq)[:, None, None, None] < self.lens[None, None, :, None])
        states = [np.stack(f, axis=0) for f in finals]
        if self.layout:
            y = y.transpose(2, 0, 1, 3)
            states = [s.transpose(1, 0, 2) for s in states]
        return tuple(np.ascontiguousarray(a).astype(self.dtype, copy=False) for a in [y] + states)


@kernel("RNN", 1)
def rnn(x, w, r, b=None, sequence_lens=None, initial_h=None, *, activation_alpha=None, activation_beta=None,
        activations=("Tanh", "Tanh"), clip=None, direction="forward", hidden_size=None, layout=0,
        output_sequence=0):
    L = _Layer(x, w, r, b, sequence_lens, [initial_h], hidden_size, direction, layout, 1)
    acts = layer_activations(activations, activation_alpha, activation_beta, 1, L.num_dir, ["Tanh"])
    return rnn_layer(L, acts, clip)


@kernel("GRU", 1)
def gru(x, w, r, b=None, sequence_lens=None, initial_h=None, *, activation_alpha=None, activation_beta=None,
        activations=None, clip=None, direction="forward", hidden_size=None, layout=0, linear_before_reset=0,
        output_sequence=0):
    L = _Layer(x, w, r, b, sequence_lens, [initial_h], hidden_size, direction, layout, 3)
    acts = layer_activations(activations, activation_alpha, activation_beta, 2, L.num_dir, ["Sigmoid", "Tanh"])
    return gru_layer(L, acts, clip, linear_before_reset)


@kernel("LSTM", 1)
def lstm(x, w, r, b=None, sequence_lens=None, initial_h=None, initial_c=None, p=None, *, activation_alpha=None,
         activation_beta=None, activations=None, clip=None, direction="forward", hidden_size=None,
         input_forget=0, layout=0, output_sequence=0):
    L = _Layer(x, w, r, b, sequence_lens, [initial_h, initial_c], hidden_size, direction, layout, 4)
    acts = layer_activations(activations, activation_alpha, activation_beta, 3, L.num_dir, ["Sigmoid", "Tanh", "Tanh"])
    peep = p.astype(L.ct, copy=False) if p is not None else None
    return lstm_layer(L, acts, clip, peep, input_forget)


def _rnn_shape(ctx) -> None:
    xs = ctx.input_shape(0)
    ws = ctx.input_shape(1)
    dt = ctx.input_dtype(0)
    layout = ctx.attr("layout", 0)
    direction = ctx.attr("direction", "forward")
    nd = 2 if direction == "bidirectional" else 1
    hidden = ctx.attr("hidden_size")
    if hidden is None:
        rs = ctx.input_shape(2)
        hidden = rs[-1] if rs is not None else None
    if ws is not None and isinstance(ws[0], int) and ws[0] != nd:
        ctx.fail(f"W has {ws[0]} directions, direction={direction!r} needs {nd}")
        return
    seq = batch = None
    if xs is not None:
        if len(xs) != 3:
            ctx.fail(f"X must have rank 3, got rank {len(xs)}")
            return
        seq, batch = (xs[1], xs[0]) if layout else (xs[0], xs[1])
    if layout:
        y, state = [batch, seq, nd, hidden], [batch, nd, hidden]
    else:
        y, state = [seq, nd, batch, hidden], [nd, batch, hidden]
    if ctx.n_outputs > 0:
        ctx.set_output(0, dt, y)
    for i in range(1, ctx.n_outputs):
        ctx.set_output(i, dt, state)


for _op in ("RNN", "GRU", "LSTM"):
    shape(_op, 1)(_rnn_shape)
