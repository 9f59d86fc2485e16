"""nn.LSTM / nn.GRU, kept whole by the tracer, as ONNX LSTM / GRU (one node per layer)."""

from __future__ import annotations

from .._custom_ops import gru as _gru, lstm as _lstm
from .._registry import conversion_rule


def _reorder(ctx, w, order, n):
    parts = ctx.o.Split(w, axis=0, num_outputs=n, outputs=n)
    return ctx.o.Concat(*[parts[i] for i in order], axis=0)


def _stack_dirs(ctx, mats):
    parts = [ctx.o.Unsqueeze(m, ctx.axes([0])) for m in mats]
    return parts[0] if len(parts) == 1 else ctx.o.Concat(*parts, axis=0)


def _rnn(ctx, kind, x, hx, params, has_biases, num_layers, bidirectional, batch_first):
    ndir = 2 if bidirectional else 1
    gates, order = (4, [0, 3, 1, 2]) if kind == "LSTM" else (3, [1, 0, 2])
    per = 4 if has_biases else 2
    h0 = hx[0]
    m = ctx.arg_meta(1)
    hidden = int((m[0] if isinstance(m, list) else m).shape[-1])
    y = ctx.o.Transpose(x, perm=[1, 0, 2]) if batch_first else x
    hs, cs = [], []
    k = 0
    for layer in range(num_layers):
        Ws, Rs, Bs = [], [], []
        for _ in range(ndir):
            p = params[k:k + per]
            k += per
            Ws.append(_reorder(ctx, p[0], order, gates))
            Rs.append(_reorder(ctx, p[1], order, gates))
            if has_biases:
                Bs.append(ctx.o.Concat(_reorder(ctx, p[2], order, gates), _reorder(ctx, p[3], order, gates), axis=0))
        W, R = _stack_dirs(ctx, Ws), _stack_dirs(ctx, Rs)
        B = _stack_dirs(ctx, Bs) if has_biases else None
        sl = lambda t: ctx.o.Slice(t, ctx.ints([layer * ndir]), ctx.ints([(layer + 1) * ndir]), ctx.axes([0]))
        attrs = dict(hidden_size=hidden, direction="bidirectional" if bidirectional else "forward")
        if kind == "LSTM":
            Y, Yh, Yc = ctx.o.LSTM(y, W, R, B, None, sl(h0), sl(hx[1]), outputs=3, **attrs)
            cs.append(Yc)
        else:
            Y, Yh = ctx.o.GRU(y, W, R, B, None, sl(h0), linear_before_reset=1, outputs=2, **attrs)
        hs.append(Yh)
        # Y: [seq, dirs, batch, hidden] -> [seq, batch, dirs * hidden]
        y = ctx.o.Reshape(ctx.o.Transpose(Y, perm=[0, 2, 1, 3]), ctx.ints([0, 0, ndir * hidden]))
    out = ctx.o.Transpose(y, perm=[1, 0, 2]) if batch_first else y
    h = hs[0] if len(hs) == 1 else ctx.o.Concat(*hs, axis=0)
    if kind == "LSTM":
        c = cs[0] if len(cs) == 1 else ctx.o.Concat(*cs, axis=0)
        return out, h, c
    return out, h


@conversion_rule(_lstm)
def lstm(ctx, x, hx, params, has_biases, num_layers, bidirectional, batch_first):
    return _rnn(ctx, "LSTM", x, hx, params, has_biases, num_layers, bidirectional, batch_first)


@conversion_rule(_gru)
def gru(ctx, x, hx, params, has_biases, num_layers, bidirectional, batch_first):
    return _rnn(ctx, "GRU", x, [hx], params, has_biases, num_layers, bidirectional, batch_first)
