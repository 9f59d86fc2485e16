"""``diff(a, b)``: walk two models, graph by graph, into a :class:`ModelDiff`."""

from __future__ import annotations

import math
import os
from typing import Any

from ..errors import OnnxkitError
from ..ir import AttributeType, Graph, Model, Node
from ..ir._domain import normalize_opsets
from ._fusions import find_groups
from ._match import Matcher, input_pairs, type_str
from ._weights import compare, dtype_name, same_storage


class ModelDiff:
    """What differs between two models (see :mod:`onnxkit.diff` for the fields)."""

    def __init__(self, data: dict[str, Any], a_label: str = "A", b_label: str = "B") -> None:
        self._data = data
        self.a_label = a_label
        self.b_label = b_label

    @property
    def equal(self) -> bool:
        return self._data["equal"]

    @property
    def model(self) -> dict[str, Any]:
        return self._data["model"]

    @property
    def nodes(self) -> list[dict[str, Any]]:
        return self._data["nodes"]

    @property
    def weights(self) -> list[dict[str, Any]]:
        return self._data["weights"]

    @property
    def fusions(self) -> list[dict[str, Any]]:
        return self._data["fusions"]

    def to_dict(self) -> dict[str, Any]:
        """The whole diff as plain JSON-able data (non-finite floats as strings)."""
        return _jsonable(self._data)

    def summary(self, limit: int | None = 30) -> str:
        """A screen of text: ``limit`` caps each list (None: everything)."""
        from ._summary import summarize
        return summarize(self, limit)

    def __bool__(self) -> bool:
        """True when the models differ (as ``diff`` says by its exit status)."""
        return not self.equal

    def __repr__(self) -> str:
        if self.equal:
            return "ModelDiff(equal)"
        changed = sum(1 for n in self.nodes if n["status"] != "same")
        weights = sum(1 for w in self.weights if w["status"] not in ("same", "unchecked"))
        return f"ModelDiff({changed} nodes, {weights} weights, {len(self.fusions)} fusions differ)"


def diff(a: Model | str | os.PathLike | bytes, b: Model | str | os.PathLike | bytes, *,
         weights: bool = True) -> ModelDiff:
    """Diff two models (Models, paths of ``.onnx`` files, or their bytes).

    ``weights=False`` reads no weight (initializers, Constants over 4 KiB):
    weights of one dtype and shape are then ``"unchecked"`` (unless they are
    provably the same bytes)."""
    ma, la = _load(a, "A")
    mb, lb = _load(b, "B")
    return ModelDiff(_Differ(weights).run(ma, mb), la, lb)


def _load(source: Any, side: str) -> tuple[Model, str]:
    if isinstance(source, Model):
        return source, side
    if isinstance(source, (str, os.PathLike)):
        from .._io import load
        return load(source), os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        from .._io import load
        return load(source), side
    raise OnnxkitError(f"diff: model {side} is a {type(source).__name__}; give a Model, a path "
                       "or the bytes of a .onnx file")


# ------------------------------------------------------------------ the walk


class _Differ:
    def __init__(self, weights: bool) -> None:
        self.weights = weights
        self.m = Matcher(weights)
        self.nodes: list[dict[str, Any]] = []
        self.tensors: list[dict[str, Any]] = []
        self.fusions: list[dict[str, Any]] = []

    def run(self, ma: Model, mb: Model) -> dict[str, Any]:
        self.m.opsets = normalize_opsets(mb.opset_imports)
        model = _model_changes(ma, mb)
        self.graph(ma.graph, mb.graph, "main", "main")
        model.update(_interface_changes(ma.graph, mb.graph))
        fa = {f.identifier: f for f in ma.functions}
        fb = {f.identifier: f for f in mb.functions}
        funcs: dict[str, Any] = {}
        for key in fa.keys() - fb.keys():
            funcs.setdefault("removed", []).append(_fname(key))
        for key in fb.keys() - fa.keys():
            funcs.setdefault("added", []).append(_fname(key))
        for key in [k for k in fa if k in fb]:
            f, g = fa[key], fb[key]
            path = f"function:{_fname(key)}"
            why = self.graph(f.graph, g.graph, path, path)
            if list(f.attributes) != list(g.attributes):
                why.append(f"attributes {f.attributes} -> {g.attributes}")
            if normalize_opsets(f.opset_imports) != normalize_opsets(g.opset_imports):
                why.append(f"opsets {f.opset_imports} -> {g.opset_imports}")
            if why:
                funcs.setdefault("changed", {})[_fname(key)] = why
        if funcs:
            model["functions"] = {k: sorted(v) if isinstance(v, list) else v for k, v in funcs.items()}
        equal = not model and all(n["status"] == "same" for n in self.nodes) \
            and all(w["status"] in ("same", "unchecked") for w in self.tensors)
        return {"equal": equal, "model": model, "nodes": self.nodes, "weights": self.tensors,
                "fusions": self.fusions}

    def graph(self, ga: Graph, gb: Graph, pa: str, pb: str) -> list[str]:
        """Diff one pair of graphs and their subgraphs; returns why they differ
        (interface and a count of differing nodes/weights), empty when equal."""
        m = self.m
        m.graph(ga, gb)
        a_nodes, b_nodes = list(ga), list(gb)
        ia = {id(n): i for i, n in enumerate(a_nodes)}
        ib = {id(n): i for i, n in enumerate(b_nodes)}
        differing = 0
        for i, a in enumerate(a_nodes):
            b = m.pair.get(id(a))
            if b is None:
                self.nodes.append({"status": "removed", "a": _nid(pa, i, a), "b": None, "changes": []})
                differing += 1
                continue
            entry = {"status": "same", "a": _nid(pa, i, a), "b": _nid(pb, ib[id(b)], b), "changes": []}
            self.nodes.append(entry)
            changes = m.node_changes(a, b)
            changes += self._subgraphs(a, b, f"{pa}/{a.name or '#%d' % i}", f"{pb}/{b.name or '#%d' % ib[id(b)]}")
            if changes:
                entry["status"], entry["changes"] = "changed", changes
                if all(c.startswith("input ") for c in changes) and _reads_rewritten(m, a, b):
                    entry["via_fusion"] = True
                differing += 1
        for j, b in enumerate(b_nodes):
            if id(b) not in m.rpair:
                self.nodes.append({"status": "added", "a": None, "b": _nid(pb, j, b), "changes": []})
                differing += 1
        groups = find_groups(m, ga, gb)
        fused = {id(n) for g in groups if g.kind == "fusion" for n in (*g.removed, *g.added)}
        for g in groups:
            entry = {"a": [_nid(pa, ia[id(n)], n) for n in g.removed],
                     "b": [_nid(pb, ib[id(n)], n) for n in g.added], "label": g.label, "kind": g.kind}
            if g.initializers:
                entry["initializers"] = g.initializers
            if g.shared_by > 1:
                entry["shared_by"] = g.shared_by
            self.fusions.append(entry)
        differing_weights = self._weights(ga, gb, pa, pb, fused)
        why = [] if pa == "main" else _subgraph_interface(m, ga, gb)
        if differing:
            why.append(f"{differing} node(s) differ")
        if differing_weights:
            why.append(f"{differing_weights} weight(s) differ")
        return why

    def _subgraphs(self, a: Node, b: Node, pa: str, pb: str) -> list[str]:
        out = []
        for name, x in a.attributes.items():
            y = b.attributes.get(name)
            if y is None or x.type != y.type or x.type not in (AttributeType.GRAPH, AttributeType.GRAPHS) \
                    or x.ref_attr_name or y.ref_attr_name:
                continue
            sa, sb = x.subgraphs(), y.subgraphs()
            if len(sa) != len(sb):
                out.append(f"{name}: {len(sa)} -> {len(sb)} subgraphs")
            for k, (ga, gb) in enumerate(zip(sa, sb)):
                tag = name if x.type == AttributeType.GRAPH else f"{name}[{k}]"
                why = self.graph(ga, gb, f"{pa}.{tag}", f"{pb}.{tag}")
                if why:
                    out.append(f"{tag}: the subgraph differs ({'; '.join(why)})")
        return out

    def _weights(self, ga: Graph, gb: Graph, pa: str, pb: str, fused: set[int]) -> int:
        """Compare matched weights; list the rest as added/removed (``"fusion": True``
        where only fused nodes read them)."""
        m = self.m
        differing = 0
        for name, va in ga.initializers.items():
            vb = m.vmap.get(id(va))
            ta = va.const_value
            if vb is None or not vb.is_initializer() or gb.initializers.get(vb.name) is not vb:
                self.tensors.append(_weight(name, pa, ta, None, "removed", fusion=_only_read_by(va, fused)))
                differing += 1
                continue
            tb = vb.const_value
            if not self.weights:
                same = tuple(ta.shape) == tuple(tb.shape) and ta.dtype == tb.dtype
                status = ("same" if same_storage(ta, tb) else "unchecked") if same else "shape"
                r = {"status": status, "max_abs": None, "max_rel": None, "differing": None}
            else:
                r = compare(ta, tb)
            e = _weight(name, pa, ta, tb, r["status"], r)
            if vb.name != name:
                e["b_name"] = vb.name
            self.tensors.append(e)
            differing += r["status"] not in ("same", "unchecked")
        for name, vb in gb.initializers.items():
            if id(vb) not in m.rmap or not m.rmap[id(vb)].is_initializer():
                self.tensors.append(_weight(name, pb, None, vb.const_value, "added",
                                            fusion=_only_read_by(vb, fused)))
                differing += 1
        return differing


def _reads_rewritten(m: Matcher, a: Node, b: Node) -> bool:
    """Whether every input where ``a`` and ``b`` differ was, in A, a removed node's
    output (a fusion, folding or a removed identity changed what the node reads)."""
    for _, va, vb in input_pairs(a, b, m.rmap):
        if (va is None and vb is None) or (va is not None and m.vmap.get(id(va)) is vb):
            continue
        p = va.producer() if va is not None else None
        if p is None or id(p) in m.pair:
            return False
    return True


def _only_read_by(v, nodes: set[int]) -> bool:
    users = v.consumers()
    return bool(users) and all(id(n) in nodes for n in users)


def _weight(name: str, path: str, ta, tb, status: str, r: dict | None = None, *,
            fusion: bool = False) -> dict[str, Any]:
    da = dtype_name(ta.dtype) if ta is not None else None
    db = dtype_name(tb.dtype) if tb is not None else None
    r = r or {}
    return {"name": name, "graph": path,
            "a_shape": list(ta.shape) if ta is not None else None,
            "b_shape": list(tb.shape) if tb is not None else None,
            "dtype": da if db is None or da == db else (db if da is None else f"{da} -> {db}"),
            "max_abs": r.get("max_abs"), "max_rel": r.get("max_rel"),
            "differing": r.get("differing"), "status": status, **({"fusion": True} if fusion else {})}


def _nid(path: str, index: int, n: Node) -> dict[str, Any]:
    return {"graph": path, "index": index, "name": n.name, "op_type": n.op_type, "domain": n.domain}


def _fname(key: tuple[str, str, str]) -> str:
    domain, name, overload = key
    return f"{domain}.{name}" + (f":{overload}" if overload else "")


# ------------------------------------------------------------------ outside the nodes


def _model_changes(ma: Model, mb: Model) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ma.ir_version != mb.ir_version:
        out["ir_version"] = [ma.ir_version, mb.ir_version]
    oa, ob = normalize_opsets(ma.opset_imports), normalize_opsets(mb.opset_imports)
    opsets = {d or "ai.onnx": [oa.get(d), ob.get(d)] for d in sorted(oa.keys() | ob.keys())
              if oa.get(d) != ob.get(d)}
    if opsets:
        out["opsets"] = opsets
    meta = {}
    for f in ("producer_name", "producer_version", "domain", "model_version", "doc_string"):
        x, y = getattr(ma, f), getattr(mb, f)
        if x != y:
            meta[f] = [x, y]
    for k in sorted(ma.metadata_props.keys() | mb.metadata_props.keys()):
        x, y = ma.metadata_props.get(k), mb.metadata_props.get(k)
        if x != y:
            meta[k] = [x, y]
    if meta:
        out["metadata"] = meta
    return out


def _interface_changes(ga: Graph, gb: Graph) -> dict[str, list[str]]:
    """The main graph's inputs and outputs, by name: added, removed, retyped, reordered."""
    out = {}
    for key, xs, ys in (("inputs", ga.inputs, gb.inputs), ("outputs", ga.outputs, gb.outputs)):
        changes = []
        ta = {v.name: type_str(v) for v in xs}
        tb = {v.name: type_str(v) for v in ys}
        for n in ta:
            if n not in tb:
                changes.append(f"removed {n!r}: {ta[n]}")
            elif ta[n] != tb[n]:
                changes.append(f"{n!r}: {ta[n]} -> {tb[n]}")
        changes += [f"added {n!r}: {tb[n]}" for n in tb if n not in ta]
        common_a = [v.name for v in xs if v.name in tb]
        common_b = [v.name for v in ys if v.name in ta]
        if common_a != common_b:
            changes.append(f"order {common_a} -> {common_b}")
        if changes:
            out[key] = changes
    return out


def _subgraph_interface(m: Matcher, ga: Graph, gb: Graph) -> list[str]:
    why = []
    for key, xs, ys in (("inputs", ga.inputs, gb.inputs), ("outputs", ga.outputs, gb.outputs)):
        if len(xs) != len(ys):
            why.append(f"{len(xs)} -> {len(ys)} {key}")
        for i, (x, y) in enumerate(zip(xs, ys)):
            if type_str(x) != type_str(y):
                why.append(f"{key[:-1]} {i}: {type_str(x)} -> {type_str(y)}")
            elif key == "outputs" and m.vmap.get(id(x)) is not y and x.name != y.name:
                why.append(f"output {i}: {x.name!r} -> {y.name!r}")
    return why


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x
