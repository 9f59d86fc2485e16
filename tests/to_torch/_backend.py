"""The ONNX backend API over ``onnxkit.to_torch``, so that the official
conformance suite (onnx.backend.test) runs through the imported torch module
on the CPU: numpy inputs become tensors, the module runs under no_grad, the
outputs come back as numpy arrays (sequences as lists)."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx.backend.base
import torch

from onnxkit.to_torch import to_torch
from onnxkit.to_torch._dtypes import from_numpy, to_numpy


class TorchRep(onnx.backend.base.BackendRep):
    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module

    def run(self, inputs: Any, **kwargs: Any) -> tuple:
        if isinstance(inputs, dict):
            inputs = [inputs[n] for n in self.module.onnx_inputs]
        elif isinstance(inputs, np.ndarray):
            inputs = [inputs]
        args = [from_numpy(x) for x in inputs]
        with torch.no_grad():
            out = self.module(*args)
        if len(self.module.onnx_outputs) == 1:
            out = (out,)
        return tuple(_out(x) for x in out)


def _out(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return to_numpy(x)
    if isinstance(x, (list, tuple)):
        return [_out(v) for v in x]
    return x


class TorchBackend(onnx.backend.base.Backend):
    @classmethod
    def supports_device(cls, device: str) -> bool:
        return str(device).upper().startswith("CPU")

    @classmethod
    def is_compatible(cls, model: Any, device: str = "CPU", **kwargs: Any) -> bool:
        return cls.supports_device(device)

    @classmethod
    def prepare(cls, model: Any, device: str = "CPU", **kwargs: Any) -> TorchRep:
        return TorchRep(to_torch(model, seed=kwargs.get("seed", 0)))

    @classmethod
    def run_model(cls, model: Any, inputs: Any, device: str = "CPU", **kwargs: Any) -> tuple:
        return cls.prepare(model, device, **kwargs).run(inputs)
