"""Checks of the data in a model: value declarations, tensors (inline, typed
fields, raw bytes, external files) and sparse tensors."""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

from ..ir import (DataType, ExternalTensor, MapType, OpaqueType, OptionalType, SequenceType,
                  SparseTensor, TensorBase, TensorType, Type, UnknownType, Value)
from ..errors import OnnxkitError
from ..ir._tensor import resolve_location
from ..proto import IR_VERSION

__all__ = ["check_declaration", "check_tensor", "check_sparse"]

Report = Callable[[str, str, "str | None"], None]

_FIELDS = ("float_data", "int32_data", "string_data", "int64_data", "raw_data", "double_data",
           "uint64_data")


def check_declaration(v: Value, what: str, main: bool, report: Report) -> None:
    """A graph input or output: named, and in the main graph fully typed."""
    if not v.name:
        report("missing-name", f"{what} has no name; give it one", None)
        return
    if not main:
        return  # subgraph inputs and outputs may leave their types out
    t = v.type
    hint = "declare its type (element type and shape; dims may be symbols)"
    if t is None:
        report("missing-type", f"{what} {v.name!r} has no type; {hint}", v.name)
    elif isinstance(t, TensorType):
        if t.elem_type is None:
            report("missing-type", f"{what} {v.name!r} has no element type; {hint}", v.name)
        if t.shape is None:
            report("missing-type", f"{what} {v.name!r} has no shape; {hint}", v.name)
    elif isinstance(t, (SequenceType, OptionalType)) and t.elem_type is None:
        report("missing-type", f"{what} {v.name!r} is a {type(t).__name__} without element type; "
                               f"{hint}", v.name)
    elif isinstance(t, MapType) and (t.key_type is None or t.value_type is None):
        report("missing-type", f"{what} {v.name!r} is a map without key or value type; {hint}",
               v.name)
    elif isinstance(t, OpaqueType) and not t.name:
        report("missing-type", f"{what} {v.name!r} is an opaque type without a name", v.name)
    elif isinstance(t, UnknownType):
        report("missing-type", f"{what} {v.name!r} has a type of no known kind; {hint}", v.name)


def _expected_count(dt: DataType, field: str, nelem: int) -> int:
    """How many entries of ``field`` onnxkit's readers need for ``nelem`` values."""
    if field == "raw_data":
        return -(-nelem * dt.bitwidth // 8)
    if dt.is_complex:
        return 2 * nelem
    if dt.is_sub_byte and dt.bitwidth != 6:
        return -(-nelem * dt.bitwidth // 8)  # one packed byte per int32_data entry
    return nelem


def check_tensor(t: TensorBase, label: str, report: Report) -> None:
    """One tensor: element type set, exactly one data field whose size fits
    the dims, external data that names an existing file in the model's folder."""
    proto = getattr(t, "proto", None)
    name = t.name or None
    if proto is None:
        return  # made in memory (numpy-backed): consistent by construction
    if proto.data_type is None:
        report("tensor-data", f"{label} has no data_type; set its element type", name)
        return
    dt = t.dtype
    if not isinstance(dt, DataType):
        report("tensor-data", f"{label} has element type number {proto.data_type}, which ONNX "
                              "does not define", name)
        return
    if dt == DataType.UNDEFINED:
        report("tensor-data", f"{label} has element type UNDEFINED; set its element type", name)
        return
    used = [f for f in _FIELDS if getattr(proto, f)]
    if isinstance(t, ExternalTensor):
        if used:
            report("tensor-data", f"{label} is stored externally but also holds {used[0]}; "
                                  "keep one of them", name)
        _check_external(t, label, report)
        return
    if proto.data_location is not None and proto.data_location != 0:
        report("tensor-data", f"{label} has data_location {proto.data_location}, which is "
                              "neither DEFAULT (0) nor EXTERNAL (1)", name)
    dims = list(proto.dims)
    if any(d < 0 for d in dims):
        report("tensor-data", f"{label} has a negative dimension in {dims}", name)
        return
    nelem = int(np.prod(dims, dtype=np.int64)) if dims else 1
    if nelem == 0:
        if used:
            report("tensor-data", f"{label} has no elements (dims {dims}) but holds {used[0]}; "
                                  "remove the data or fix the dims", name)
        return
    if len(used) != 1:
        what = "no data" if not used else f"{len(used)} data fields ({', '.join(used)})"
        report("tensor-data", f"{label} has {what}; a tensor with elements needs exactly one "
                              "data field", name)
        return
    field = used[0]
    if field == "raw_data" and dt == DataType.STRING:
        report("tensor-data", f"{label} is a string tensor stored in raw_data; strings go to "
                              "string_data", name)
        return
    from ..ir._dtypes import field_of
    want_field = "raw_data" if field == "raw_data" else field_of(dt)
    if field != want_field:
        report("tensor-data", f"{label} is {dt.name} but its values are in {field}; "
                              f"{dt.name} values belong in {want_field} (or raw_data)", name)
        return
    have = len(getattr(proto, field))
    need = _expected_count(dt, field, nelem)
    if have != need:
        unit = "bytes" if field == "raw_data" else "values"
        much = "too little" if have < need else "too much"
        report("tensor-data", f"{label} has {much} data: {field} holds {have} {unit}, but "
                              f"{dt.name}{dims} needs {need}; fix the dims or the data", name)


def _check_external(t: ExternalTensor, label: str, report: Report) -> None:
    name = t.name or None
    loc = t.location
    if not loc:
        report("external-data", f"{label} is stored externally but names no location", name)
        return
    if t.base_dir is None:
        return  # loaded from bytes: there is no folder to look in
    try:
        path = resolve_location(loc, t.base_dir, name)
    except Exception as e:  # a location outside the model's folder
        report("external-data", f"{label}: {e}", name)
        return
    if not os.path.isfile(path):
        report("external-data", f"{label} keeps its data in {loc!r}, but there is no such file in "
                                f"the model's folder {t.base_dir!r}; copy the data file beside "
                                "the model", name)
    elif os.path.islink(os.path.join(t.base_dir, loc)):
        report("external-data", f"{label} keeps its data in {loc!r}, which is a symbolic link; "
                                "onnx refuses links: copy the file there instead", name)
    else:   # the file is there: its bytes must cover the tensor (mapped and measured, not read)
        try:
            t.raw_view()
        except OnnxkitError as e:
            report("external-data", f"{label}: {e}", name)


def check_sparse(s: SparseTensor, label: str, report: Report) -> None:
    """A sparse tensor: rank-1 values, positive dims, int64 indices of shape
    [NNZ] (linear) or [NNZ, rank], in range and strictly increasing."""
    vals = s.values
    if vals is None:
        report("sparse-tensor", f"{label} has no values", None)
        return
    name = vals.name or None
    check_tensor(vals, f"{label} values", report)
    if len(vals.shape) != 1:
        report("sparse-tensor", f"{label}: values must have rank 1, not shape {list(vals.shape)}",
               name)
        return
    nnz = vals.shape[0]
    dims = list(s.dims)
    if not dims:
        report("sparse-tensor", f"{label} must have a dense rank > 0 (dims are empty)", name)
        return
    if any(d <= 0 for d in dims):
        report("sparse-tensor", f"{label} has dims {dims}; every dim must be positive", name)
        return
    idx = s.indices
    if idx is None:
        if nnz != 0:
            report("sparse-tensor", f"{label} has {nnz} values but no indices", name)
        return
    check_tensor(idx, f"{label} indices", report)
    if idx.dtype != DataType.INT64:
        report("sparse-tensor", f"{label}: indices must be int64", name)
        return
    shape = list(idx.shape)
    if len(shape) not in (1, 2):
        report("sparse-tensor", f"{label}: indices must have rank 1 or 2, not {shape}", name)
        return
    if shape[0] != nnz or (len(shape) == 2 and shape[1] != len(dims)):
        report("sparse-tensor", f"{label}: indices of shape {shape} do not fit {nnz} values of a "
                                f"rank-{len(dims)} tensor", name)
        return
    try:
        ind = np.asarray(idx.numpy(), dtype=np.int64)
    except Exception as e:
        report("sparse-tensor", f"{label}: indices cannot be read: {e}", name)
        return
    if ind.ndim == 2:
        if ((ind < 0) | (ind >= np.asarray(dims))).any():
            report("sparse-tensor", f"{label}: an index is out of range for dims {dims}", name)
            return
        linear = np.ravel_multi_index(tuple(ind.T), dims) if nnz else ind.reshape(-1)
    else:
        size = int(np.prod(dims))
        if ((ind < 0) | (ind >= size)).any():
            report("sparse-tensor", f"{label}: a linear index is out of range [0, {size})", name)
            return
        linear = ind
    if nnz > 1 and not (np.diff(linear) > 0).all():
        report("sparse-tensor", f"{label}: indices must be strictly increasing (sorted, no "
                                "repeats)", name)


def ir_version_problem(ir_version: int) -> str | None:
    if not ir_version:
        return "the model has no ir_version; set it (onnxkit writes 10)"
    if ir_version < 0:
        return f"ir_version {ir_version} is negative"
    if ir_version > IR_VERSION:
        return (f"ir_version {ir_version} is newer than the newest this checker knows "
                f"({IR_VERSION})")
    return None


def type_of_initializer(t: TensorBase) -> Type:
    return TensorType(t.dtype if isinstance(t.dtype, DataType) else None, t.shape)
