"""Ops the tracer records whole instead of letting PyTorch decompose them.

``onnxkit::branch(cond)`` marks where the program read a tensor's value to
take a branch; ``onnxkit::lstm`` / ``onnxkit::gru`` keep a recurrent layer as
one node (PyTorch would unroll it over time, fixing the sequence length), so
that it becomes ONNX ``LSTM`` / ``GRU`` and runs at any length.
"""

from __future__ import annotations

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


branch = torch.ops.onnxkit.branch.default
lstm = torch.ops.onnxkit.lstm.default
gru = torch.ops.onnxkit.gru.default
