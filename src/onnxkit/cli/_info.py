"""Summarize a model: versions, inputs and outputs, ops, parameters, external
data and functions.  Reads only metadata: tensor bytes are never loaded."""

from __future__ import annotations

import argparse
import os
from collections import Counter
from typing import Iterator

from ..errors import OnnxkitError
from ..ir import (DataType, ExternalTensor, MapType, Model, OptionalType, SequenceType,
                  SparseTensorType, TensorBase, TensorType, Type)
from ..ir._domain import is_onnx_domain

NAME = "info"
HELP = "summarize a model (types, ops, parameters, external data)"

_NUMPY_NAMES = {DataType.FLOAT: "float32", DataType.DOUBLE: "float64"}
_SHORT_DOC = 120


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="the .onnx file")


def run(args: argparse.Namespace) -> int:
    from .. import load

    print(format_info(load(args.model), args.model), end="")
    return 0


# ------------------------------------------------------------ formatting helpers


def dtype_name(dt: object) -> str:
    """``float32``, ``int64``, ``bfloat16`` ...; ``?`` when unknown."""
    if dt is None:
        return "?"
    if isinstance(dt, DataType):
        return _NUMPY_NAMES.get(dt, dt.name.lower())
    return f"dtype{dt}"


def type_str(t: Type | None) -> str:
    """A value type as ``float32[batch,3,224,224]``, ``seq(int64[?])`` ..."""
    if t is None:
        return "?"
    if isinstance(t, TensorType):
        s = dtype_name(t.elem_type)
        if t.shape is not None:
            s += "[" + ",".join("?" if d is None else str(d) for d in t.shape) + "]"
        return f"sparse({s})" if isinstance(t, SparseTensorType) else s
    if isinstance(t, SequenceType):
        return f"seq({type_str(t.elem_type)})"
    if isinstance(t, OptionalType):
        return f"optional({type_str(t.elem_type)})"
    if isinstance(t, MapType):
        return f"map({dtype_name(t.key_type)}, {type_str(t.value_type)})"
    return str(t)


def human_bytes(n: int) -> str:
    x = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if x < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{x:.1f} {unit}"
        x /= 1024
    raise AssertionError


def plural(n: int, word: str) -> str:
    """``1 tensor``, ``2 tensors``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _short(doc: str) -> str:
    doc = doc.strip()
    first = doc.splitlines()[0] if doc else ""
    if len(doc) <= _SHORT_DOC and first == doc:
        return doc
    return f"{first[:_SHORT_DOC]}... ({len(doc)} chars)"


def _table(rows: list[tuple[str, str]], indent: str = "  ") -> list[str]:
    width = max((len(a) for a, _ in rows), default=0)
    return [f"{indent}{a.ljust(width)}  {b}".rstrip() for a, b in rows]


# ------------------------------------------------------------ walking the model


def _tensors(model: Model) -> Iterator[TensorBase]:
    """Every tensor: initializers, sparse initializers' parts, attribute tensors."""
    for g in model.all_graphs():
        for v in g.initializers.values():
            yield v.const_value
        for s in g.sparse_initializers:
            yield from (t for t in (s.values, s.indices) if t is not None)
        for n in g:
            for a in n.attributes.values():
                vals = a.value if isinstance(a.value, list) else [a.value]
                yield from (t for t in vals if isinstance(t, TensorBase))


def _size(t: TensorBase) -> tuple[int, int]:
    """(elements, bytes) from dtype and shape only; bytes 0 where unknown (strings)."""
    try:
        count = t.size
    except OnnxkitError:
        return 0, 0
    try:
        return count, t.nbytes
    except (OnnxkitError, ValueError):
        return count, 0


def parameter_stats(model: Model) -> tuple[int, int, int]:
    """(initializers, elements, bytes) over the main graph and its subgraphs."""
    n = elems = size = 0
    for g in model.graph.all_graphs():
        for v in g.initializers.values():
            c, b = _size(v.const_value)
            n, elems, size = n + 1, elems + c, size + b
        for s in g.sparse_initializers:
            if s.values is not None:
                c, b = _size(s.values)
                n, elems, size = n + 1, elems + c, size + b
    return n, elems, size


def external_files(model: Model) -> dict[str, tuple[int, int, bool | None]]:
    """location -> (tensors, bytes, file exists (None: model has no folder))."""
    out: dict[str, list] = {}
    for t in _tensors(model):
        if isinstance(t, ExternalTensor):
            e = out.setdefault(t.location, [0, 0, None])
            e[0] += 1
            e[1] += t.length if t.length is not None else _size(t)[1]
            if t.base_dir is not None:
                e[2] = os.path.isfile(os.path.join(t.base_dir, t.location))
    return {k: (a, b, c) for k, (a, b, c) in out.items()}


def op_histogram(model: Model) -> Counter:
    """``domain.op_type`` (just ``op_type`` for ai.onnx) -> count, subgraphs included."""
    return Counter((f"{n.domain}.{n.op_type}" if not is_onnx_domain(n.domain) else n.op_type)
                   for n in model.graph.all_nodes())


# ------------------------------------------------------------ the report


def format_info(model: Model, path: str | None = None) -> str:
    g = model.graph
    lines: list[str] = []
    head: list[tuple[str, str]] = []
    if path is not None:
        try:
            head.append(("file", f"{path} ({human_bytes(os.path.getsize(path))})"))
        except OSError:
            head.append(("file", str(path)))
    head.append(("ir_version", str(model.ir_version)))
    head.append(("opsets", ", ".join(f"{d or 'ai.onnx'} {v}" for d, v in model.opset_imports.items())
                 or "none"))
    producer = " ".join(x for x in (model.producer_name, model.producer_version) if x)
    head.append(("producer", producer or "?"))
    if model.doc_string:
        head.append(("doc", _short(model.doc_string)))
    head.append(("graph", g.name or "(unnamed)"))
    if g.doc_string:
        head.append(("graph doc", _short(g.doc_string)))
    lines += [f"{k + ':':<12}{v}" for k, v in head]

    for title, values in (("inputs", g.inputs), ("outputs", g.outputs)):
        lines.append(f"{title} ({len(values)}):")
        lines += _table([(v.name or "?", type_str(v.type)) for v in values])

    total = sum(1 for _ in g.all_nodes())
    hist = op_histogram(model)
    inner = f" ({total - len(g)} in subgraphs)" if total != len(g) else ""
    lines.append(f"nodes:      {total}{inner}, {plural(len(hist), 'op type')}")
    rows = sorted(hist.items(), key=lambda kv: (-kv[1], kv[0]))
    lines += _table([(op, str(c)) for op, c in rows])

    n, elems, size = parameter_stats(model)
    lines.append(f"parameters: {elems:,} in {plural(n, 'initializer')} ({human_bytes(size)})")

    ext = external_files(model)
    if ext:
        lines.append(f"external data files ({len(ext)}):")
        status = {True: "found", False: "MISSING", None: "no folder to look in"}
        lines += _table([(loc, f"{human_bytes(b)} in {plural(c, 'tensor')}, {status[ok]}")
                         for loc, (c, b, ok) in sorted(ext.items())])
    else:
        lines.append("external data: none")

    if model.functions:
        lines.append(f"functions ({len(model.functions)}):")
        rows = []
        for f in model.functions:
            attrs = list(f.attributes) + [a.name for a in f.attribute_defaults]
            sig = f"({', '.join(v.name or '' for v in f.inputs)}) -> " \
                  f"({', '.join(v.name or '' for v in f.outputs)})"
            extra = plural(len(f.graph), "node") + (f", attributes: {', '.join(attrs)}" if attrs else "")
            rows.append((f"{f.domain + '.' if f.domain else ''}{f.name}{sig}", extra))
        lines += _table(rows)
    return "\n".join(lines) + "\n"
