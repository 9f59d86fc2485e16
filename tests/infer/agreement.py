"""Compare onnxkit's inferred types with onnx.shape_inference's on one model.

:func:`compare` infers a model both ways and returns, for every value onnx
gives a type, whether onnxkit's type is the same or more specific, and if not
why.  Used by ``test_agreement.py`` and handy by hand::

    python -m tests.infer.agreement            # the gaps over the whole suite, by op
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import onnx

import onnxkit
from onnxkit.infer import infer_shapes


@dataclass
class Mismatch:
    model: str
    value: str
    op: str          # the op type of the node producing the value
    kind: str        # "missing", "less specific" or "different"
    onnx_type: str
    ours: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.model, self.value)


def _types(g: onnx.GraphProto, path: str, out: dict, producers: dict) -> None:
    for vi in list(g.value_info) + list(g.output):
        out[(path, vi.name)] = vi.type
    for i, n in enumerate(g.node):
        for o in n.output:
            producers[(path, o)] = n.op_type
        for a in n.attribute:
            subs = [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)
            for k, sg in enumerate(subs):
                _types(sg, f"{path}/{i}.{a.name}{k if len(subs) > 1 else ''}", out, producers)


def _placeholder(d) -> bool:
    return not d.HasField("dim_value") and (not d.dim_param or d.dim_param.startswith("unk__"))


def _type_text(t) -> str:
    if t is None:
        return "none"
    kind = t.WhichOneof("value")
    if kind in ("tensor_type", "sparse_tensor_type"):
        tt = getattr(t, kind)
        name = onnx.TensorProto.DataType.Name(tt.elem_type).lower() if tt.elem_type else "?"
        if not tt.HasField("shape"):
            return name
        dims = ["?" if _placeholder(d) else str(d.dim_value) if d.HasField("dim_value") else d.dim_param
                for d in tt.shape.dim]
        return f"{name}[{','.join(dims)}]"
    if kind in ("sequence_type", "optional_type"):
        e = getattr(t, kind)
        return f"{kind[:-5]}({_type_text(e.elem_type) if e.HasField('elem_type') else '?'})"
    return kind or "none"


def judge(want, got) -> str | None:
    """None when ``got`` says at least what ``want`` says, else the kind of gap."""
    kind = want.WhichOneof("value")
    if kind is None:
        return None
    if got is None or got.WhichOneof("value") is None:
        return "missing"
    if got.WhichOneof("value") != kind:
        return "different"
    if kind in ("tensor_type", "sparse_tensor_type"):
        w, g = getattr(want, kind), getattr(got, kind)
        if w.elem_type and g.elem_type != w.elem_type:
            return "missing" if not g.elem_type else "different"
        if not w.HasField("shape"):
            return None
        if not g.HasField("shape"):
            return "less specific"
        if len(w.shape.dim) != len(g.shape.dim):
            return "different"
        worst = None
        for a, b in zip(w.shape.dim, g.shape.dim):
            if a.HasField("dim_value"):
                if b.HasField("dim_value"):
                    if a.dim_value != b.dim_value:
                        return "different"
                else:
                    worst = "less specific"
            elif not _placeholder(a) and _placeholder(b):
                worst = "less specific"
        return worst
    if kind in ("sequence_type", "optional_type"):
        w, g = getattr(want, kind), getattr(got, kind)
        if not w.HasField("elem_type"):
            return None
        if not g.HasField("elem_type"):
            return "less specific"
        return judge(w.elem_type, g.elem_type)
    return None


def compare(name: str, model: onnx.ModelProto) -> tuple[int, list[Mismatch]]:
    """(number of values onnx types, the values where onnxkit says less or
    otherwise).  A conflict onnxkit reports against a declared type counts as
    "different" too: the suite's declared types are the truth."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            want_model = onnx.shape_inference.infer_shapes(model, data_prop=True)
        except Exception:
            want_model = model   # onnx rejects the model: compare with what it declares
    want: dict = {}
    producers: dict = {}
    _types(want_model.graph, "", want, producers)
    m = onnxkit.load(model.SerializeToString())
    problems: list = []
    try:
        infer_shapes(m, problems=problems)
    except Exception as e:  # a crash of the driver itself
        return len(want), [Mismatch(name, "*", "*", "crash", "", f"{type(e).__name__}: {e}")]
    got: dict = {}
    _types(onnx.load_from_string(onnxkit.to_bytes(m)).graph, "", got, {})
    n = 0
    out = []
    for key, t in want.items():
        if t.WhichOneof("value") is None:
            continue
        n += 1
        kind = judge(t, got.get(key))
        if kind:
            value = key[1] if not key[0] else f"{key[0]}/{key[1]}"
            out.append(Mismatch(name, value, producers.get(key, "(input)"), kind, _type_text(t),
                                _type_text(got.get(key))))
    seen = {x.value for x in out}
    for p in problems:
        value = getattr(p, "value_name", None) or "*"
        if value not in seen:
            seen.add(value)
            out.append(Mismatch(name, value, getattr(p, "op_type", "?"), "conflict", "",
                                " ".join(str(p).split())[:300]))
    return n, out


def compare_blind(name: str, model: onnx.ModelProto) -> tuple[int, list[Mismatch]]:
    """The same as :func:`compare` for the graph outputs only, with their declared
    shapes removed first (so both tools infer them from the inputs alone).  Value
    names are prefixed ``blind:``."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    for o in model.graph.output:
        if o.type.HasField("tensor_type"):
            o.type.tensor_type.ClearField("shape")
        else:
            o.ClearField("type")
    n, mm = compare(name, model)
    outputs = {o.name for o in model.graph.output}
    mm = [Mismatch(x.model, "blind:" + x.value, x.op, x.kind, x.onnx_type, x.ours)
          for x in mm if x.value in outputs or x.value == "*"]
    return len(outputs), mm


def all_models():
    """(name, ModelProto) of every conformance model: the node and model test
    cases, and the model files of light/simple/pytorch-*."""
    import os

    from tests.conftest import conformance_cases, conformance_files

    out = list(conformance_cases())
    for path in conformance_files(("light", "simple", "pytorch-converted", "pytorch-operator")):
        parts = path.split(os.sep)
        out.append(("/".join(parts[-3:-1]), onnx.load(path)))
    return out


def main() -> None:
    import collections
    import sys

    total = 0
    gaps: list[Mismatch] = []
    for name, model in all_models():
        for fn in (compare, compare_blind):
            n, mm = fn(name, model)
            total += n
            gaps += mm
    by_op = collections.Counter((g.op, g.kind) for g in gaps)
    print(f"{total} values typed by onnx, {len(gaps)} where onnxkit says less or otherwise "
          f"({100.0 * len(gaps) / max(total, 1):.2f}%)")
    for (op, kind), c in sorted(by_op.items(), key=lambda x: -x[1]):
        ex = next(g for g in gaps if (g.op, g.kind) == (op, kind))
        print(f"{c:5d}  {op:28s} {kind:14s} e.g. {ex.model} {ex.value}: onnx {ex.onnx_type} / ours {ex.ours}")
    if "-v" in sys.argv:
        for g in gaps:
            print(g)


if __name__ == "__main__":
    main()
