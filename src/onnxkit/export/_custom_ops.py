"""Ops the tracer records whole instead of letting PyTorch decompose them.

``onnxkit::branch(cond)`` marks where the program read a tensor's value to
take a branch; ``onnxkit::lstm`` / ``onnxkit::gru`` keep a recurrent layer as
one node (PyTorch would unroll it over time, fixing the sequence length), so
that it becomes ONNX ``LSTM`` / ``GRU`` and runs at any length.
"""

from __future__ import annotations

import torch

_LIB = torch.library.Library("onnxkit", "DEF")
_LIB.define("branch(Tensor cond) -> Tensor")
_LIB.define("lstm(Tensor input, Tensor[] hx, Tensor[] params, bool has_biases, int num_layers, "
            "bool bidirectional, bool batch_first) -> (Tensor, Tensor, Tensor)")
_LIB.define("gru(Tensor input, Tensor hx, Tensor[] params, bool has_biases, int num_layers, "
            "bool bidirectional, bool batch_first) -> (Tensor, Tensor)")


def _branch(cond: torch.Tensor) -> torch.Tensor:
    return cond.clone()


def _branch_fake(cond: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(cond)


def _lstm(input, hx, params, has_biases, num_layers, bidirectional, batch_first):
    out, h, c = torch.lstm(input, hx, params, has_biases, num_layers, 0.0, False, bidirectional,
                           batch_first)
    return out, h, c


def _gru(input, hx, params, has_biases, num_layers, bidirectional, batch_first):
    out, h = torch.gru(input, hx, params, has_biases, num_layers, 0.0, False, bidirectional,
                       batch_first)
    return out, h


def _rnn_out(input, hidden: int, bidirectional: bool, batch_first: bool):
    if batch_first:
        b, s = input.shape[0], input.shape[1]
        return input.new_empty((b, s, hidden * (2 if bidirectional else 1)))
    s, b = input.shape[0], input.shape[1]
    return input.new_empty((s, b, hidden * (2 if bidirectional else 1)))


def _lstm_fake(input, hx, params, has_biases, num_layers, bidirectional, batch_first):
    h0, c0 = hx
    hidden = h0.shape[-1]
    return (_rnn_out(input, hidden, bidirectional, batch_first), torch.empty_like(h0),
            torch.empty_like(c0))


def _gru_fake(input, hx, params, has_biases, num_layers, bidirectional, batch_first):
    return _rnn_out(input, hx.shape[-1], bidirectional, batch_first), torch.empty_like(hx)


for _name, _impl, _fake in (("branch", _branch, _branch_fake), ("lstm", _lstm, _lstm_fake),
                            ("gru", _gru, _gru_fake)):
    _LIB.impl(_name, _impl, "CompositeExplicitAutograd")
    torch.library.register_fake(f"onnxkit::{_name}", _fake, lib=_LIB)

branch = torch.ops.onnxkit.branch.default
lstm = torch.ops.onnxkit.lstm.default
gru = torch.ops.onnxkit.gru.default
