"""RNN, GRU, LSTM against onnxruntime beyond the conformance cases: both
directions with sequence_lens, layout=1, initial states, peepholes, clip,
custom activations with alpha/beta, linear_before_reset, input_forget; and
their shape rules."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

from tests.ops.nn_testutil import check_op, check_shapes, feeds_of, node_model, run_onnxkit, run_oracle

rng = np.random.default_rng(3)
F = TensorProto.FLOAT
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _inputs(op: str, *, seq=4, batch=3, inp=5, hid=6, dirs=2, layout=0, lens=True, init=True, peep=False,
            dtype=np.float32):
    g = GATES[op]

    def r(*s):
        return (rng.standard_normal(s) * 0.5).astype(dtype)
    x = r(batch, seq, inp) if layout else r(seq, batch, inp)
    state = (batch, dirs, hid) if layout else (dirs, batch, hid)
    ins = [("x", x), ("w", r(dirs, g * hid, inp)), ("r", r(dirs, g * hid, hid)), ("b", r(dirs, 2 * g * hid)),
           ("sl", np.array([4, 2, 3][:batch], np.int32) if lens else None),
           ("h0", r(*state) if init else None)]
    if op == "LSTM":
        ins += [("c0", r(*state) if init else None), ("p", r(dirs, 3 * hid) if peep else None)]
    return [(n if v is not None else "", v) for n, v in ins]


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_directions_with_lengths(op, direction):
    dirs = 2 if direction == "bidirectional" else 1
    check_op(op, _inputs(op, dirs=dirs, peep=True), 3 if op == "LSTM" else 2, direction=direction,
             hidden_size=6, opset=14)


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_layout_1_and_no_initial_state(op):
    # onnxruntime has no layout=1: it runs the transposed inputs with layout=0
    n_out = 3 if op == "LSTM" else 2
    ins = _inputs(op, layout=1, lens=False)
    attrs = dict(direction="bidirectional", hidden_size=6, opset=14)
    m = node_model(op, ins, n_out, layout=1, **attrs)
    got = run_onnxkit(m, feeds_of(ins))
    t = [(n, v.transpose(1, 0, 2) if n in ("x", "h0", "c0") else v) for n, v in ins]
    want = run_oracle(node_model(op, t, n_out, **attrs), feeds_of(t))
    np.testing.assert_allclose(got[0], want[0].transpose(2, 0, 1, 3), rtol=1e-4, atol=1e-5)
    for g, w in zip(got[1:], want[1:]):
        np.testing.assert_allclose(g, w.transpose(1, 0, 2), rtol=1e-4, atol=1e-5)
    check_op(op, _inputs(op, init=False, lens=False), n_out, **attrs)


def test_gru_linear_before_reset_clip_and_activations():
    check_op("GRU", _inputs("GRU", dirs=1), 2, hidden_size=6, linear_before_reset=1, clip=0.7, opset=14)
    check_op("GRU", _inputs("GRU", dirs=2, lens=False), 2, hidden_size=6, direction="bidirectional",
             activations=["HardSigmoid", "LeakyRelu", "Sigmoid", "Softsign"], activation_alpha=[0.3, 0.05],
             activation_beta=[0.4], opset=14)


def test_lstm_input_forget_and_scaled_tanh():
    check_op("LSTM", _inputs("LSTM", dirs=1, lens=False), 3, hidden_size=6, input_forget=1, opset=14)
    check_op("LSTM", _inputs("LSTM", dirs=1, lens=False), 3, hidden_size=6, opset=14,
             activations=["Sigmoid", "ScaledTanh", "Affine"], activation_alpha=[1.5, 0.5],
             activation_beta=[0.7, 0.1])


def test_rnn_relu():
    check_op("RNN", _inputs("RNN", dirs=1, lens=False), 2, hidden_size=6,
             activations=["Relu"], opset=14)


def test_rnn_shapes():
    for op, layout in (("LSTM", 0), ("GRU", 1), ("RNN", 0)):
        g = GATES[op]
        x = ["B", "S", 5] if layout else ["S", "B", 5]
        m = node_model(op, [("x", (F, x)), ("w", (F, [2, g * 7, 5])), ("r", (F, [2, g * 7, 7]))],
                       3 if op == "LSTM" else 2, opset=14, hidden_size=7, direction="bidirectional", layout=layout)
        y = "float[B,S,2,7]" if layout else "float[S,2,B,7]"
        st = "float[B,2,7]" if layout else "float[2,B,7]"
        assert check_shapes(m) == [y] + [st] * (2 if op == "LSTM" else 1)
