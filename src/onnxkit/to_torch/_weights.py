"""Reading a model's weights into torch tensors: each once, straight from the file.

A weight whose raw bytes lie in the model file gets one aligned tensor of its
own, filled from the file with ``preadv`` (no numpy copy in between, and the
mapped pages are never touched, so the process holds each weight once: peak
memory about the weights' size).  The tensors never share the file's pages:
a tensor over a mapping dies with SIGBUS when the file is truncated or
rewritten in place (``torch.onnx.export`` to the path the model came from,
after training it), and training must never write into the file.  Everything
else (tensors from lists, external data, sub-byte and non-native types, models
given as objects or bytes) goes through numpy.
"""

from __future__ import annotations

import mmap
import os
import sys
from typing import Any

import numpy as np
import torch

from ..ir import DataType
from ..ir._tensor import ProtoTensor
from ._dtypes import NATIVE, from_numpy, torch_dtype

__all__ = ["MappedFile", "map_copy_on_write", "weight"]


class MappedFile:
    """A model file mapped copy-on-write (what the model is parsed from), and a
    descriptor to ``pread`` its weights."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDONLY)
        try:
            self.map = mmap.mmap(self.fd, 0, access=mmap.ACCESS_COPY)
        except BaseException:
            os.close(self.fd)
            raise
        self.view = memoryview(self.map)
        self.base = np.frombuffer(self.map, np.uint8).ctypes.data if len(self.map) else 0

    def close(self) -> None:
        """Close the descriptor (the mapping lives on as long as tensors use it)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def map_copy_on_write(path: str) -> MappedFile | None:
    """The file mapped copy-on-write, or None where it cannot be (empty, not a file)."""
    try:
        if os.path.getsize(path) == 0:
            return None
        return MappedFile(path)
    except (OSError, ValueError):
        return None


def _raw_in(t: Any, mapped: MappedFile | None) -> memoryview | None:
    """The tensor's raw bytes when they are a view into ``mapped``."""
    if mapped is None or not isinstance(t, ProtoTensor) or t.proto.segment is not None:
        return None
    raw = t.proto.raw_data
    if not isinstance(raw, memoryview) or raw.obj is not mapped.map or raw.readonly:
        return None
    return raw


def weight(t: Any, mapped: MappedFile | None = None) -> Any:
    """The IR tensor ``t`` as a torch tensor of its own (read from the file once),
    or as a numpy array where torch does not hold its type."""
    raw = _raw_in(t, mapped)
    dt = t.dtype
    if raw is None or dt not in NATIVE or sys.byteorder != "little" or DataType(dt).bitwidth < 8:
        return from_numpy(t.numpy())
    tdt = torch_dtype(dt)
    shape = tuple(int(d) for d in t.shape)
    n = int(np.prod(shape, dtype=np.int64))
    item = torch.empty((), dtype=tdt).element_size()
    if len(raw) != n * item:
        return from_numpy(t.numpy())          # numpy() raises the size error, naming the tensor
    if n == 0:
        return torch.empty(shape, dtype=tdt)
    start = np.frombuffer(raw, np.uint8).ctypes.data - mapped.base
    out = torch.empty(shape, dtype=tdt)
    dst = memoryview(out.view(-1).view(torch.uint8).numpy())
    got = os.preadv(mapped.fd, [dst], start) if mapped.fd >= 0 else 0
    if got != len(raw):
        dst[:] = raw                          # no descriptor: copy through the map
    return out
