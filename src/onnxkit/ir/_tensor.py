"""Tensors: in memory (numpy), lazy views of a decoded file, and external data.

Every tensor has ``dtype`` (:class:`DataType`), ``shape`` (tuple of ints),
``name``, ``numpy()`` and ``raw_view()`` (its little-endian raw bytes, as a
buffer: zero-copy whenever the data already lies that way).
"""

from __future__ import annotations

import mmap
import os
from typing import Any, Iterable

import numpy as np

from ..errors import DataSizeError, ExternalDataError, OnnxkitError
from . import _dtypes
from ._dtypes import DataType


class TensorBase:
    """What all tensors share.  Subclasses implement ``numpy`` and ``raw_view``."""

    __slots__ = ("name", "doc_string", "metadata_props", "_extras")

    dtype: DataType
    shape: tuple[int, ...]

    def __init__(self, name: str | None, doc_string: str = "",
                 metadata_props: dict[str, str] | None = None) -> None:
        self.name = name
        self.doc_string = doc_string
        self.metadata_props = dict(metadata_props or {})
        self._extras = None

    def numpy(self) -> np.ndarray:
        raise NotImplementedError

    def raw_view(self):
        """The tensor's bytes in ONNX raw layout (little-endian, sub-byte types packed)."""
        raise NotImplementedError

    def tobytes(self) -> bytes:
        return bytes(self.raw_view())

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype)

    @property
    def size(self) -> int:
        return _dtypes.element_count(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes of the raw layout (sub-byte types packed)."""
        return _dtypes.nbytes(self.dtype, self.shape)

    def __repr__(self) -> str:
        dt = getattr(self.dtype, "name", self.dtype)
        return f"{type(self).__name__}({self.name!r}, {dt}, {list(self.shape)})"


class Tensor(TensorBase):
    """A tensor held in memory as a numpy array.

    ``dtype`` is needed only where numpy's dtype does not say it (e.g. a uint8
    array holding packed data is not meant here: pass ml_dtypes arrays instead).
    """

    __slots__ = ("_array", "dtype", "shape")

    def __init__(self, array: Any, name: str | None = None, dtype: int | DataType | None = None,
                 doc_string: str = "", metadata_props: dict[str, str] | None = None) -> None:
        super().__init__(name, doc_string, metadata_props)
        if isinstance(array, TensorBase):
            array = array.numpy()
        if dtype is not None:
            dtype = DataType(dtype)
            if not isinstance(array, np.ndarray):
                array = np.asarray(array, dtype=dtype.numpy_dtype)
            elif dtype != DataType.STRING and array.dtype != dtype.numpy_dtype:
                array = array.astype(dtype.numpy_dtype)
        else:
            if not isinstance(array, np.ndarray):
                array = np.asarray(array)
            if array.dtype.kind in "US":
                array = array.astype(object)
            dtype = DataType.from_numpy(array.dtype)
        self._array = array
        self.dtype = dtype
        self.shape = tuple(int(d) for d in array.shape)

    def numpy(self) -> np.ndarray:
        return self._array

    def raw_view(self):
        if self.dtype == DataType.STRING:
            raise OnnxkitError(f"tensor {self.name!r}: string tensors have no raw layout")
        return _dtypes.pack_raw(self._array, self.dtype)


class ProtoTensor(TensorBase):
    """A tensor decoded from a file, read lazily: ``proto.raw_data`` stays a view
    into the file until :meth:`numpy` is called."""

    __slots__ = ("proto", "dtype", "shape", "_cache")

    def __init__(self, proto) -> None:
        props = {p.key: p.value for p in proto.metadata_props}
        super().__init__(proto.name, proto.doc_string or "", props)
        self.proto = proto
        self.dtype = _safe_dtype(proto.data_type or 0)
        self.shape = tuple(proto.dims)
        self._cache = None

    def numpy(self) -> np.ndarray:
        if self._cache is not None:
            return self._cache
        p = self.proto
        if p.segment is not None:
            raise OnnxkitError(f"tensor {self.name!r}: segmented tensors cannot be read as arrays")
        if self.dtype == DataType.UNDEFINED:
            raise OnnxkitError(f"tensor {self.name!r} has no data_type")
        _check_dims(self.name, self.shape)
        if p.raw_data is not None:
            arr = _dtypes.unpack_raw(p.raw_data, self.dtype, self.shape)
        else:
            arr = _dtypes.from_fields(self.dtype, self.shape, float_data=p.float_data,
                                      int32_data=p.int32_data, int64_data=p.int64_data,
                                      double_data=p.double_data, uint64_data=p.uint64_data,
                                      string_data=p.string_data)
            self._cache = arr  # decoded from lists: keep it
        return arr

    def raw_view(self):
        if self.proto.raw_data is not None:
            return self.proto.raw_data
        return _dtypes.pack_raw(self.numpy(), self.dtype)


class ExternalTensor(TensorBase):
    """A tensor whose bytes lie in a file beside the model, memory-mapped on first use.

    The location is checked when the tensor is made: an absolute path, a ``..``
    component, or a path that resolves (through symbolic links) outside
    ``base_dir`` raises :class:`ExternalDataError` and the file is never opened.
    """

    __slots__ = ("dtype", "shape", "location", "offset", "length", "base_dir", "proto", "_files")

    def __init__(self, location: str, offset: int | None, length: int | None,
                 dtype: int | DataType, shape: Iterable[int], base_dir: str | None,
                 name: str | None = None, proto=None, files: "ExternalFiles | None" = None,
                 doc_string: str = "", metadata_props: dict[str, str] | None = None) -> None:
        super().__init__(name, doc_string, metadata_props)
        self.dtype = _safe_dtype(dtype)
        self.shape = tuple(int(d) for d in shape)
        self.location = location
        self.offset = offset
        self.length = length
        self.base_dir = base_dir
        self.proto = proto
        self._files = files if files is not None else ExternalFiles()
        check_location(location, base_dir, name)
        if offset is not None and offset < 0 or length is not None and length < 0:
            raise ExternalDataError(f"tensor {name!r}: negative offset or length for {location!r}")

    def raw_view(self):
        if self.base_dir is None:
            raise ExternalDataError(
                f"tensor {self.name!r} keeps its data in {self.location!r}, but the model was "
                "loaded from bytes and has no folder; load it from its path, or pass base_dir")
        path = resolve_location(self.location, self.base_dir, self.name)
        data = self._files.get(path, self.name)
        start = self.offset or 0
        _check_dims(self.name, self.shape)
        need = _dtypes.nbytes(self.dtype, self.shape)
        size = self.length if self.length is not None else len(data) - start
        if start + size > len(data) or start > len(data):
            raise ExternalDataError(
                f"tensor {self.name!r}: bytes {start}..{start + size} lie past the end of "
                f"{self.location!r} ({len(data)} bytes)")
        if size != need:
            raise DataSizeError(
                f"tensor {self.name!r}: {self.location!r} holds {size} bytes at offset {start}, "
                f"but {self.dtype.name}{list(self.shape)} needs {need}")
        return data[start:start + size]

    def numpy(self) -> np.ndarray:
        if self.dtype == DataType.STRING:
            raise ExternalDataError(f"tensor {self.name!r}: string tensors cannot be external")
        return _dtypes.unpack_raw(self.raw_view(), self.dtype, self.shape)


class SparseTensor:
    """A sparse tensor: ``values`` (1-D), ``indices`` ([NNZ] linear or [NNZ, rank]) and ``dims``."""

    __slots__ = ("values", "indices", "dims", "_extras")

    def __init__(self, values: TensorBase | None, indices: TensorBase | None,
                 dims: Iterable[int]) -> None:
        self.values = values
        self.indices = indices
        self.dims = tuple(int(d) for d in dims)
        self._extras = None

    @property
    def name(self) -> str | None:
        return self.values.name if self.values is not None else None

    def to_dense(self) -> np.ndarray:
        """The dense numpy array this sparse tensor stands for."""
        if self.values is None or self.indices is None:
            raise OnnxkitError(f"sparse tensor {self.name!r} lacks values or indices")
        vals = self.values.numpy()
        idx = self.indices.numpy().astype(np.int64)
        out = np.zeros(self.dims, dtype=vals.dtype)
        flat = out.reshape(-1)
        if idx.ndim == 2:
            idx = np.ravel_multi_index(tuple(idx.T), self.dims) if idx.size else idx.reshape(-1)
        flat[idx.reshape(-1)] = vals.reshape(-1)
        return out

    def __repr__(self) -> str:
        return f"SparseTensor({self.name!r}, dims={list(self.dims)})"


class ExternalFiles:
    """Memory maps of the external-data files of one model, opened on first use."""

    __slots__ = ("_maps",)

    def __init__(self) -> None:
        self._maps: dict[str, memoryview] = {}

    def get(self, path: str, tensor_name: str | None) -> memoryview:
        view = self._maps.get(path)
        if view is None:
            try:
                with open(path, "rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    if size == 0:
                        view = memoryview(b"")
                    else:
                        view = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
            except OSError as e:
                raise ExternalDataError(
                    f"tensor {tensor_name!r}: cannot open external data file {path!r}: "
                    f"{e.strerror}") from None
            self._maps[path] = view
        return view


def check_location(location: str, base_dir: str | None, tensor_name: str | None) -> None:
    """Refuse an external-data location that could reach outside the model's folder."""
    loc = location or ""
    if not loc:
        raise ExternalDataError(f"tensor {tensor_name!r}: external data has no location")
    if "\x00" in loc:
        raise ExternalDataError(f"tensor {tensor_name!r}: external data location contains NUL")
    parts = loc.replace("\\", "/").split("/")
    if os.path.isabs(loc) or loc.startswith(("/", "\\")) or (len(loc) > 1 and loc[1] == ":"):
        raise ExternalDataError(
            f"tensor {tensor_name!r}: external data location {loc!r} is absolute; only paths "
            "relative to the model's folder are allowed (refused, not read)")
    if ".." in parts:
        raise ExternalDataError(
            f"tensor {tensor_name!r}: external data location {loc!r} contains '..'; only paths "
            "inside the model's folder are allowed (refused, not read)")
    if base_dir is not None:
        resolve_location(loc, base_dir, tensor_name)


def resolve_location(location: str, base_dir: str, tensor_name: str | None) -> str:
    """The real path of ``location`` under ``base_dir``; refuse one that leaves it."""
    root = os.path.realpath(base_dir)
    path = os.path.realpath(os.path.join(root, location.replace("\\", "/")))
    if os.path.commonpath([root, path]) != root:
        raise ExternalDataError(
            f"tensor {tensor_name!r}: external data location {location!r} resolves to "
            f"{path!r}, outside the model's folder {root!r} (refused, not read)")
    return path


def _check_dims(name: str | None, dims: tuple[int, ...]) -> None:
    for d in dims:
        if d < 0:
            raise DataSizeError(f"tensor {name!r} has a negative dim in {list(dims)}")


def _safe_dtype(x: int) -> DataType:
    try:
        return DataType(x)
    except ValueError:
        return x  # type: ignore[return-value]  # unknown number: kept, fails on numpy()



def aligned(a: np.ndarray) -> np.ndarray:
    """``a`` itself when its data is aligned to its item size, else an aligned
    copy.  Tensor bytes in a mapped file lie at any offset; numpy copies an
    unaligned operand element by element on every use (and its matmul skips
    BLAS), so kernels and the runtime align them once.  The copy goes byte by
    byte (as uint8, always aligned): ~10x faster than numpy's unaligned loop."""
    if a.flags.aligned:
        return a
    if not a.flags.c_contiguous:
        return np.array(a)
    out = np.empty(a.shape, a.dtype)
    out.reshape(-1).view(np.uint8)[...] = a.reshape(-1).view(np.uint8)
    return out
