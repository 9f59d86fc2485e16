"""torch dtypes <-> ONNX element types."""

from __future__ import annotations

import torch

from ..ir import DataType
from ._errors import ExportError

#: the element types torch and ONNX share (the importer, onnxkit.to_torch, reads this table too)
TORCH_TO_ONNX = {
    torch.float32: DataType.FLOAT, torch.float64: DataType.DOUBLE, torch.float16: DataType.FLOAT16,
    torch.bfloat16: DataType.BFLOAT16, torch.int64: DataType.INT64, torch.int32: DataType.INT32,
    torch.int16: DataType.INT16, torch.int8: DataType.INT8, torch.uint8: DataType.UINT8,
    torch.bool: DataType.BOOL, torch.complex64: DataType.COMPLEX64,
    torch.complex128: DataType.COMPLEX128,
}
_TO_TORCH = {v: k for k, v in TORCH_TO_ONNX.items()}


def to_onnx(dtype: torch.dtype) -> DataType:
    try:
        return TORCH_TO_ONNX[dtype]
    except KeyError:
        raise ExportError(f"tensors of dtype {dtype} cannot be exported to ONNX; "
                          f"convert them (e.g. .float()) in the program") from None


def to_torch(dtype: DataType) -> torch.dtype:
    return _TO_TORCH[dtype]


def is_float(dtype: torch.dtype) -> bool:
    return dtype.is_floating_point


def tensor_to_numpy(t: torch.Tensor):
    """A numpy array of a (real, CPU) tensor; zero-copy where the layout allows."""
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    if not t.is_contiguous():
        t = t.contiguous()
    if t.dtype == torch.bfloat16:
        import ml_dtypes

        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy()
