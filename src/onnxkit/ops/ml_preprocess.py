"""ai.onnx.ml feature preprocessing: ArrayFeatureExtractor, Binarizer,
CastMap, CategoryMapper, DictVectorizer, FeatureVectorizer, Imputer,
LabelEncoder, Normalizer, OneHotEncoder, Scaler, ZipMap.

Maps are Python dicts; ZipMap gives a list of dicts.  Where the spec leaves
room, onnxruntime's behaviour is kept (tests compare with it).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import RunError
from ..ir import DataType, MapType, SequenceType, TensorType
from ._registry import kernel, shape
from ._shape import prod
from .ml_linear import ML, class_labels, rows

__all__: list[str] = []


def _lookup(x: np.ndarray, keys: Sequence[Any], values: np.ndarray, default: Any) -> np.ndarray:
    """values[i] where x == keys[i] (first match), else default; NaN keys match NaN."""
    x = np.asarray(x)
    out_dtype = values.dtype
    if x.dtype.kind in "OUS" or np.asarray(keys).dtype.kind in "OUS":
        table: dict = {}
        for k, v in zip(keys, values.tolist()):
            table.setdefault(k, v)
        flat = [table.get(e, default) for e in x.reshape(-1).tolist()]
        return np.array(flat, dtype=out_dtype).reshape(x.shape)
    k = np.asarray(keys)
    if len(k) == 0:
        return np.full(x.shape, default, dtype=out_dtype)
    order = np.argsort(k, kind="stable")
    sk = k[order]
    pos = np.clip(np.searchsorted(sk, x), 0, len(sk) - 1)
    found = sk[pos] == x
    if sk.dtype.kind == "f" and np.isnan(sk).any():
        nan_at = int(np.argmax(np.isnan(sk)))
        isnan = np.isnan(x)
        pos = np.where(isnan, nan_at, pos)
        found |= isnan
    out = np.where(found, values[order][pos], np.asarray(default, dtype=out_dtype))
    return out.astype(out_dtype).reshape(x.shape)


def _strings(values) -> np.ndarray:
    """An object array of str (bytes from TENSOR attributes decoded)."""
    return np.array([v.decode() if isinstance(v, bytes) else v for v in values], dtype=object)


# ------------------------------------------------------------------ encoders
@kernel("LabelEncoder", 1, domain=ML)
def label_encoder1(x, *, classes_strings=None, default_int64=-1, default_string="_Unused"):
    classes = list(classes_strings or [])
    if np.asarray(x).dtype.kind in "OUS":
        return _lookup(x, classes, np.arange(len(classes), dtype=np.int64), default_int64)
    return _lookup(x, list(range(len(classes))), _strings(classes), default_string)


@kernel("LabelEncoder", 2, domain=ML)
def label_encoder(x, *, keys_floats=None, keys_int64s=None, keys_strings=None, keys_tensor=None,
                  values_floats=None, values_int64s=None, values_strings=None, values_tensor=None,
                  default_float=-0.0, default_int64=-1, default_string="_Unused", default_tensor=None):
    keys = next((k for k in (keys_tensor, keys_floats, keys_int64s, keys_strings) if k is not None), None)
    if keys is None:
        raise RunError("LabelEncoder needs one of the keys_* attributes")
    if values_tensor is not None:
        values = np.asarray(values_tensor).reshape(-1)
        if default_tensor is not None:
            default = np.asarray(default_tensor).reshape(-1)[0]
        else:
            default = "_Unused" if values.dtype.kind in "OUS" else -1 if values.dtype.kind in "iu" else -0.0
    elif values_floats is not None:
        values, default = np.asarray(values_floats, np.float32), default_float
    elif values_int64s is not None:
        values, default = np.asarray(values_int64s, np.int64), default_int64
    elif values_strings is not None:
        values, default = _strings(values_strings), default_string
    else:
        raise RunError("LabelEncoder needs one of the values_* attributes")
    keys = np.asarray(keys).reshape(-1)
    if keys.dtype.kind in "OUS":
        keys = _strings(keys)
    x = np.asarray(x)
    if keys.dtype.kind == "f" and x.dtype.kind == "f":
        keys = keys.astype(x.dtype)           # float keys compare at the input's precision
    if len(keys) != len(values):
        raise RunError(f"LabelEncoder has {len(keys)} keys and {len(values)} values")
    if values.dtype.kind in "OUS":
        values = _strings(values)
        default = default.decode() if isinstance(default, bytes) else default
    return _lookup(x, keys.tolist() if keys.dtype == object else keys, values, default)


@kernel("CategoryMapper", 1, domain=ML)
def category_mapper(x, *, cats_int64s=None, cats_strings=None, default_int64=-1, default_string="_Unused"):
    ints, strs = list(cats_int64s or []), list(cats_strings or [])
    if len(ints) != len(strs):
        raise RunError(f"CategoryMapper: {len(strs)} strings for {len(ints)} integers")
    if np.asarray(x).dtype.kind in "OUS":
        return _lookup(x, strs, np.asarray(ints, np.int64), default_int64)
    return _lookup(x, ints, _strings(strs), default_string)


@kernel("OneHotEncoder", 1, domain=ML)
def one_hot_encoder(x, *, cats_int64s=None, cats_strings=None, zeros=1):
    x = np.asarray(x)
    cats = list(cats_strings) if x.dtype.kind in "OUS" else list(cats_int64s or [])
    if x.dtype.kind in "OUS":
        index = _lookup(x, cats, np.arange(len(cats), dtype=np.int64), -1)
    else:
        index = _lookup(x.astype(np.int64) if x.dtype.kind == "f" else x, cats,
                        np.arange(len(cats), dtype=np.int64), -1)
        if x.dtype.kind == "f":
            index = np.where(x == np.round(x), index, -1)
    if not zeros and (index < 0).any():
        bad = x.reshape(-1)[int(np.argmax(index.reshape(-1) < 0))]
        raise RunError(f"OneHotEncoder: {bad!r} is not a known category (zeros=0)")
    out = (index[..., None] == np.arange(len(cats))).astype(np.float32)
    return out


@kernel("ZipMap", 1, domain=ML)
def zip_map(x, *, classlabels_int64s=None, classlabels_strings=None):
    labels = class_labels(classlabels_int64s, classlabels_strings).tolist()
    x = np.asarray(x, np.float32)
    x = x.reshape(1, -1) if x.ndim == 1 else x
    if x.shape[-1] != len(labels):
        raise RunError(f"ZipMap: {x.shape[-1]} columns for {len(labels)} class labels")
    return [dict(zip(labels, row)) for row in x.tolist()]


@kernel("DictVectorizer", 1, domain=ML)
def dict_vectorizer(x, *, int64_vocabulary=None, string_vocabulary=None):
    vocab = list(string_vocabulary) if string_vocabulary else list(int64_vocabulary or [])
    rows = x if isinstance(x, list) else [x]
    sample = next((v for r in rows for v in r.values()), 0.0)
    dtype = np.asarray(sample).dtype if not isinstance(sample, str) else object
    if isinstance(sample, float):
        dtype = np.float32
    out = np.zeros((len(rows), len(vocab)), dtype=dtype) if dtype != object else \
        np.full((len(rows), len(vocab)), "", dtype=object)
    where = {k: i for i, k in enumerate(vocab)}
    for r, row in enumerate(rows):
        for k, v in row.items():
            i = where.get(k)
            if i is not None:
                out[r, i] = v
    return out


@kernel("CastMap", 1, domain=ML)
def cast_map(x, *, cast_to="TO_FLOAT", map_form="DENSE", max_map=1):
    kind = {"TO_FLOAT": np.float32, "TO_INT64": np.int64, "TO_STRING": object}.get(cast_to)
    if kind is None:
        raise RunError(f"CastMap: unknown cast_to {cast_to!r}")
    keys = sorted(x)
    vals = [x[k] for k in keys]
    if kind is object:
        conv = [v if isinstance(v, str) else f"{float(np.float32(v)):f}" for v in vals]   # C's %f
    elif kind is np.float32:
        conv = [float(v) for v in vals]
    else:
        conv = [int(float(v)) if isinstance(v, str) else int(v) for v in vals]
    if map_form == "DENSE":
        return np.array(conv, dtype=kind).reshape(1, -1)
    if map_form != "SPARSE":
        raise RunError(f"CastMap: unknown map_form {map_form!r}")
    out = np.full((1, max_map), "" if kind is object else 0, dtype=kind)
    for k, v in zip(keys, conv):
        if 0 <= k < max_map:
            out[0, k] = v
    return out


# ------------------------------------------------------------------ numeric
@kernel("ArrayFeatureExtractor", 1, domain=ML)
def array_feature_extractor(x, y):
    x = np.asarray(x)
    idx = np.asarray(y, np.int64).reshape(-1)
    n = x.shape[-1] if x.ndim else 0
    if len(idx) and (idx.min() < 0 or idx.max() >= n):
        raise RunError(f"ArrayFeatureExtractor: index {int(idx.max() if idx.max() >= n else idx.min())} "
                       f"out of range for a last dim of {n}")
    out = x[..., idx]
    return out.reshape(1, -1) if x.ndim == 1 else out


@kernel("Binarizer", 1, domain=ML)
def binarizer(x, *, threshold=0.0):
    return np.where(np.isnan(x), x, x > threshold).astype(x.dtype) if x.dtype.kind == "f" else \
        (x > threshold).astype(x.dtype)


@kernel("Scaler", 1, domain=ML)
def scaler(x, *, offset=None, scale=None):
    off = np.asarray(offset if offset else [0.0], np.float32)
    sc = np.asarray(scale if scale else [1.0], np.float32)
    return ((np.asarray(x, np.float32) - off) * sc).astype(np.float32)


@kernel("Normalizer", 1, domain=ML)
def normalizer(x, *, norm="MAX"):
    x = np.asarray(x, np.float32)
    if norm == "MAX":
        d = np.max(x, axis=-1, keepdims=True)
    elif norm == "L1":
        d = np.abs(x).sum(axis=-1, keepdims=True)
    elif norm == "L2":
        d = np.sqrt((x * x).sum(axis=-1, keepdims=True))
    else:
        raise RunError(f"Normalizer: unknown norm {norm!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d != 0, x / d, x).astype(np.float32)


@kernel("Imputer", 1, domain=ML)
def imputer(x, *, imputed_value_floats=None, imputed_value_int64s=None, replaced_value_float=0.0,
            replaced_value_int64=0):
    x = np.asarray(x)
    if x.dtype.kind == "f":
        values, target = np.asarray(imputed_value_floats or [], x.dtype), replaced_value_float
        hit = np.isnan(x) if np.isnan(target) else x == np.float32(target)
    else:
        values, target = np.asarray(imputed_value_int64s or [], x.dtype), replaced_value_int64
        hit = x == target
    if len(values) not in (1, x.shape[-1] if x.ndim else 1):
        raise RunError(f"Imputer: {len(values)} imputed values for {x.shape[-1] if x.ndim else 1} features")
    return np.where(hit, values, x)


@kernel("FeatureVectorizer", 1, domain=ML)
def feature_vectorizer(*xs, inputdimensions=None):
    dims = list(inputdimensions or [])
    if len(dims) != len(xs):
        raise RunError(f"FeatureVectorizer: {len(xs)} inputs for {len(dims)} inputdimensions")
    parts = []
    for x, d in zip(xs, dims):
        x = np.asarray(x, np.float32)
        x = x.reshape(1, -1) if x.ndim == 1 else x.reshape(x.shape[0], -1)
        part = np.zeros((x.shape[0], d), np.float32)
        w = min(d, x.shape[1])
        part[:, :w] = x[:, :w]
        parts.append(part)
    return np.concatenate(parts, axis=1)


# ------------------------------------------------------------------ shape rules
def _same(dtype=None):
    """Output 0: input 0's shape, with ``dtype`` (default input 0's)."""
    def rule(ctx) -> None:
        ctx.set_output(0, dtype if dtype is not None else ctx.input_dtype(0), ctx.input_shape(0))
    return rule


shape("Binarizer", 1, domain=ML)(_same())
shape("Imputer", 1, domain=ML)(_same())
shape("Normalizer", 1, domain=ML)(_same(DataType.FLOAT))
shape("Scaler", 1, domain=ML)(_same(DataType.FLOAT))


def _flip(ctx) -> DataType:
    return DataType.INT64 if ctx.input_dtype(0) == DataType.STRING else DataType.STRING


@shape("CategoryMapper", 1, domain=ML)
def category_mapper_shape(ctx) -> None:
    ctx.set_output(0, _flip(ctx), ctx.input_shape(0))


@shape("LabelEncoder", 1, domain=ML)
def label_encoder1_shape(ctx) -> None:
    ctx.set_output(0, _flip(ctx), ctx.input_shape(0))


@shape("LabelEncoder", 2, domain=ML)
def label_encoder_shape(ctx) -> None:
    vt = ctx.attr("values_tensor")
    if vt is not None:
        dt = DataType.from_numpy(np.asarray(vt).dtype)
    else:
        dt = DataType.FLOAT if ctx.attr("values_floats") is not None else \
            DataType.INT64 if ctx.attr("values_int64s") is not None else DataType.STRING
    ctx.set_output(0, dt, ctx.input_shape(0))


@shape("OneHotEncoder", 1, domain=ML)
def one_hot_encoder_shape(ctx) -> None:
    s = ctx.input_shape(0)
    cats = ctx.attr("cats_strings") if ctx.input_dtype(0) == DataType.STRING else ctx.attr("cats_int64s")
    ctx.set_output(0, DataType.FLOAT, None if s is None else (*s, len(cats or [])))


@shape("ArrayFeatureExtractor", 1, domain=ML)
def array_feature_extractor_shape(ctx) -> None:
    s, idx = ctx.input_shape(0), ctx.input_shape(1)
    k = prod(idx) if idx is not None else None
    out = None if s is None else (1, k) if len(s) <= 1 else (*s[:-1], k)
    ctx.set_output(0, ctx.input_dtype(0), out)


@shape("FeatureVectorizer", 1, domain=ML)
def feature_vectorizer_shape(ctx) -> None:
    ctx.set_output(0, DataType.FLOAT, (rows(ctx), sum(ctx.attr("inputdimensions") or [])))


@shape("DictVectorizer", 1, domain=ML)
def dict_vectorizer_shape(ctx) -> None:
    t = ctx.input_type(0)
    vt = t.value_type if isinstance(t, MapType) else None
    vocab = ctx.attr("string_vocabulary") or ctx.attr("int64_vocabulary") or []
    ctx.set_output(0, vt.elem_type if isinstance(vt, TensorType) else None, (1, len(vocab)))


@shape("CastMap", 1, domain=ML)
def cast_map_shape(ctx) -> None:
    dt = {"TO_FLOAT": DataType.FLOAT, "TO_INT64": DataType.INT64, "TO_STRING": DataType.STRING}.get(
        ctx.attr("cast_to", "TO_FLOAT"))
    sparse = ctx.attr("map_form", "DENSE") == "SPARSE"
    ctx.set_output(0, dt, (1, ctx.attr("max_map", 1) if sparse else None))


@shape("ZipMap", 1, domain=ML)
def zip_map_shape(ctx) -> None:
    key = DataType.STRING if ctx.attr("classlabels_strings") else DataType.INT64
    ctx.set_output_type(0, SequenceType(MapType(key, TensorType(DataType.FLOAT))))
