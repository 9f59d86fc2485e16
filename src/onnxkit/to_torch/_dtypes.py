"""ONNX element types <-> torch dtypes, and numpy <-> torch values.

torch holds the "native" types below; values of the other ONNX types
(strings, unsigned 16/32/64-bit, float8, int4, ...) stay numpy arrays inside
an imported module and only the numpy kernels touch them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..export._dtypes import TORCH_TO_ONNX
from ..ir import DataType, SequenceType, OptionalType, TensorType

__all__ = ["NATIVE", "from_numpy", "is_native_type", "to_numpy", "torch_dtype"]

_TO_TORCH = {onnx: dt for dt, onnx in TORCH_TO_ONNX.items()}
NATIVE = frozenset(_TO_TORCH)
_NP_NATIVE = {np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16), np.dtype(np.int64),
              np.dtype(np.int32), np.dtype(np.int16), np.dtype(np.int8), np.dtype(np.uint8),
              np.dtype(np.bool_), np.dtype(np.complex64), np.dtype(np.complex128)}


def torch_dtype(onnx_type: int) -> torch.dtype:
    """The torch dtype of an ONNX element type (KeyError for one torch does not hold)."""
    return _TO_TORCH[DataType(onnx_type)]


def is_native_type(t: Any) -> bool:
    """Whether values of IR type ``t`` live as torch tensors (unknown types: assumed so)."""
    if t is None:
        return True
    if isinstance(t, TensorType):
        return t.elem_type in (None, DataType.UNDEFINED) or t.elem_type in NATIVE
    if isinstance(t, (SequenceType, OptionalType)):
        return is_native_type(getattr(t, "elem_type", None))
    return False      # maps, sparse tensors, opaque


def from_numpy(a: Any, device: Any = None) -> Any:
    """A numpy array as a torch tensor where torch holds its dtype (else the
    array itself); lists (sequences) element-wise; None stays None."""
    if isinstance(a, np.generic):
        a = np.asarray(a)
    if isinstance(a, np.ndarray):
        if not (a.flags.writeable and a.flags.c_contiguous):
            a = a.copy()                 # (np.ascontiguousarray would make a 0-d array 1-d)
        if a.dtype in _NP_NATIVE:
            t = torch.from_numpy(a)
        elif a.dtype.name == "bfloat16":
            t = torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
        else:
            return a
        return t.to(device) if device is not None and t.device != torch.device(device) else t
    if isinstance(a, list):
        return [from_numpy(x, device) for x in a]
    return a


def to_numpy(t: Any) -> Any:
    """A torch tensor as a numpy array (bfloat16 via ml_dtypes); lists
    element-wise; anything else as it is."""
    if isinstance(t, torch.Tensor):
        t = t.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        if t.dtype == torch.bfloat16:
            from ..ir._dtypes import ml_dtypes
            return t.contiguous().view(torch.int16).numpy().view(ml_dtypes().bfloat16)
        return t.resolve_conj().resolve_neg().numpy()
    if isinstance(t, (list, tuple)):
        return [to_numpy(x) for x in t]
    return t
