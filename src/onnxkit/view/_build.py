"""The data of a page: a model as nested groups, each laid out ahead of time.

A graph becomes a tree of groups.  The tree comes from the name scopes of the
node names (``/encoder/layer.3/attention/self/MatMul`` lies in
``encoder > layer.3 > attention > self``), from nodes with subgraphs (If,
Loop, Scan: the node is a box that opens onto its bodies) and from calls of
model-local functions (the box opens onto the function's body, laid out once
however often it is called).  A scope with one member is dissolved, a chain of
scopes with one sub-scope each is one group (``encoder/layer.3``), and a group
of more than :data:`MAX_ITEMS` members (a graph without name scopes) is cut into
runs of consecutive nodes, so that every layout stays small.

Each group is laid out on its own (:mod:`._layout`) with its members closed;
the page opens a group in place by growing its box to the group's layout and
moving the boxes right of it, and below it, out of the way (see the script in
:mod:`._page`).  So opening costs nothing but drawing.

Edges carry the element type and the (symbolic) shape that inference gave the
value; an edge between two groups stands for every value that crosses between
them, and carries the member paths down to the nodes at its ends, so that the
page draws it on to the node inside when a group is open.  A value of the
enclosing graph that an If, Loop or Scan body reads is an edge into that node.  Initializers and Constant nodes are not boxes: they are listed in their
consumers' details with a summary of the weights (see :func:`weight_summary`).
"""

from __future__ import annotations

import ast
import math
import warnings
from typing import Any, Callable

import numpy as np

from ..ir import DataType, Graph, Model, Node, TensorBase, Value

#: a group with more members than this is cut into runs of consecutive nodes
MAX_ITEMS = 80
#: weights of at most this many elements get exact statistics; larger ones are sampled
EXACT_ELEMENTS = 1 << 18
#: ... from this many evenly spaced contiguous blocks of BLOCK elements
BLOCKS, BLOCK = 16, 4096

NODE_H, GROUP_H = 38.0, 44.0


def weight_summary(t: TensorBase) -> dict[str, Any]:
    """dtype, shape, element count and min / max / mean / share of zeros of a
    weight.  Tensors of at most :data:`EXACT_ELEMENTS` elements are read whole;
    larger ones through :data:`BLOCKS` blocks of :data:`BLOCK` elements spread
    over the tensor (``sampled: True``), so a 500 MB weight costs 256 KiB of
    reading, and memory-mapped or external weights are never loaded whole."""
    dt = DataType(t.dtype)
    out: dict[str, Any] = {"dtype": dt.short_name, "shape": list(t.shape), "count": int(t.size)}
    try:
        npdt = np.dtype(dt.numpy_dtype)
    except Exception:
        return out
    if dt == DataType.STRING or dt.name.endswith(("INT4", "INT2", "FLOAT4E2M1")) or t.size == 0:
        return out
    try:
        if t.size <= EXACT_ELEMENTS:
            a = np.asarray(t.numpy()).reshape(-1)
        else:
            raw = t.raw_view()
            n = t.size
            step = n // BLOCKS
            a = np.concatenate([np.frombuffer(raw, npdt, count=min(BLOCK, n - k * step),
                                              offset=k * step * npdt.itemsize) for k in range(BLOCKS)])
            out["sampled"] = True
    except Exception:           # unreadable (missing external file): type and shape only
        return out
    if a.dtype.kind not in "biuf":
        a = a.astype(np.float32)
    if a.dtype.kind == "b":
        a = a.astype(np.uint8)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")         # all-NaN weights
        out["min"] = _finite(float(np.nanmin(a)) if a.dtype.kind == "f" else float(a.min()))
        out["max"] = _finite(float(np.nanmax(a)) if a.dtype.kind == "f" else float(a.max()))
        out["mean"] = _finite(float(np.mean(a, dtype=np.float64)))
        out["zeros"] = float(np.count_nonzero(a == 0) / a.size)
    return out


def _finite(x: float) -> float | str:
    """JSON has no NaN or infinity: those go as text."""
    return x if math.isfinite(x) else str(x)


def _is_weight(v: Value | None) -> bool:
    return v is not None and v.const_value is not None and (v.is_initializer() or v.producer() is None)


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def _type_str(v: Value | None) -> str:
    if v is None or v.type is None:
        return "?"
    return str(v.type)


def _scope(node: Node) -> list[str]:
    """The name scopes of a node: ``/a/b.1/c/Op_3`` -> ``["a", "b.1", "c"]``
    (torch's legacy exporter, onnxkit.export); else the module path torch's
    dynamo exporter records (``pkg.torch.onnx.name_scopes``: ``['', 'encoder',
    'encoder.layer.0', ..., 'fx node']`` -> ``["encoder", "layer.0", ...]``)."""
    name = node.name
    if name.startswith("/"):
        return [p for p in name.split("/")[1:-1] if p]
    text = node.metadata_props.get("pkg.torch.onnx.name_scopes") if node.metadata_props else None
    if not text:
        return []
    try:
        scopes = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return []
    out, parent = [], ""
    for sc in scopes[:-1]:
        if not isinstance(sc, str) or not sc:
            continue
        out.append(sc[len(parent) + 1:] if parent and sc.startswith(parent + ".") else sc)
        parent = sc
    return out


def _scopes(nodes: list[Node]) -> dict[int, list[str]]:
    """Each node's scopes; a node without any (exporters leave Identity and
    Constant nodes of shared weights at the top) takes the scopes its
    consumers share, so that it is drawn beside them, not at the top."""
    out = {id(n): _scope(n) for n in nodes}
    members = set(out)
    for n in reversed(nodes):
        if out[id(n)]:
            continue
        common: list[str] | None = None
        for o in n.outputs:
            if o.is_graph_output():
                common = []
                break
            for c in o.consumers():
                cs = out.get(id(c))
                if cs is None or id(c) not in members:
                    common = []
                    break
                if common is None:
                    common = list(cs)
                else:
                    k = 0
                    while k < min(len(common), len(cs)) and common[k] == cs[k]:
                        k += 1
                    common = common[:k]
            if common == []:
                break
        out[id(n)] = common or []
    return out


def _outer_reads(node: Node) -> list[Value]:
    """The values of the enclosing graphs that the bodies of ``node`` (If,
    Loop, Scan) read by name, without a graph input of their own."""
    subs = node.subgraphs()
    if not subs:
        return []
    inside: set[str] = set()
    reads: dict[str, Value] = {}
    for sg in subs:
        for g in sg.all_graphs():
            inside.update(v.name for v in g.inputs)
            inside.update(g.initializers)
            for n in g:
                inside.update(o.name for o in n.outputs)
                for v in n.inputs:
                    if v is not None and v.name:
                        reads.setdefault(v.name, v)
    return [v for k, v in reads.items() if k not in inside]


class _Tree:
    __slots__ = ("children", "items", "last")

    def __init__(self) -> None:
        self.children: dict[str, _Tree] = {}
        self.items: list[tuple[int, Any]] = []       # (order, ("n", id) | ("g", id))
        self.last = -1      # a scope sorts by its last node (exporters put shared weights first)


class PageData:
    """Builds the JSON the page reads: ``nodes`` (details of every box that is
    a node, graph inputs and outputs included), ``groups`` (label, kind, member
    references, node count and the precomputed layout) and ``root``."""

    def __init__(self, model: Model, *, node_info: Callable[[Node], dict | None] | None = None) -> None:
        self.model = model
        self.node_info = node_info
        self.nodes: list[dict] = []
        self.groups: list[dict] = []
        self._weights: dict[int, dict] = {}
        self._types: dict[int, tuple[Value, str]] = {}      # id(Value) -> its type's text, once
        self._type_texts: dict[Any, str] = {}                 # equal types, one text
        self._schemas: dict[tuple[str, str, int], str] = {}
        self._functions: dict[tuple[str, str, str], int] = {}
        self._opsets = {("" if d == "ai.onnx" else d): v for d, v in model.opset_imports.items()}
        self._fn_by_id = {f.identifier: f for f in model.functions}
        #: graph path (as onnxkit.diff writes it) -> node table index of each node, in graph order
        self.by_graph: dict[str, list[int]] = {}
        self.root = self.graph_group(model.graph, model.graph.name or "main graph", "graph", "main")

    def to_dict(self) -> dict:
        m = self.model
        return {"root": self.root, "nodes": self.nodes, "groups": self.groups,
                "model": {"producer": f"{m.producer_name} {m.producer_version}".strip(),
                          "ir_version": m.ir_version,
                          "opsets": {d or "ai.onnx": v for d, v in m.opset_imports.items()},
                          "nodes": sum(len(g) for g in m.graph.all_graphs()),
                          "graph": m.graph.name}}

    def _ty(self, v: Value | None) -> str:
        if v is None:
            return "?"
        hit = self._types.get(id(v))
        if hit is None or hit[0] is not v:
            t = v.type
            text = self._type_texts.get(t) if t is not None else "?"
            if text is None:
                text = self._type_texts[t] = _type_str(v)
            hit = self._types[id(v)] = (v, text)
        return hit[1]

    # ---------------------------------------------------------------- details
    def schema_summary(self, node: Node) -> str:
        dom = "" if node.domain == "ai.onnx" else node.domain
        fn = self._fn_by_id.get((node.domain, node.op_type, node.overload))
        if fn is not None:
            return (f"model-local function {node.domain}.{node.op_type}: ({', '.join(v.name for v in fn.inputs)})"
                    f" -> ({', '.join(v.name for v in fn.outputs)}), {len(fn.graph)} nodes")
        opset = self._opsets.get(dom, 0)
        key = (dom, node.op_type, opset)
        s = self._schemas.get(key)
        if s is None:
            from ..defs import get_schema
            sch = get_schema(node.op_type, opset, dom) if opset else None
            if sch is None:
                s = f"no schema for {dom + '.' if dom else ''}{node.op_type} at opset {opset}"
            else:
                def params(ps) -> str:
                    return ", ".join(p.name + ("?" if p.optional else "...") if p.option else p.name for p in ps)
                attrs = ", ".join(sch.attributes)
                s = (f"{sch.name}-{sch.since_version} ({sch.domain or 'ai.onnx'}): ({params(sch.inputs)})"
                     f" -> ({params(sch.outputs)})" + (f"; attributes {attrs}" if attrs else "")
                     + ("; deprecated" if sch.deprecated else ""))
            self._schemas[key] = s
        return s

    def _weight(self, v: Value) -> dict:
        w = self._weights.get(id(v))
        if w is None:
            w = self._weights[id(v)] = weight_summary(v.const_value)
        return w

    def _attr_text(self, a) -> str:
        sub = a.subgraphs()
        if sub:
            return ", ".join(f"graph {g.name or ''} ({len(g)} nodes)" for g in sub)
        val = a.value
        if isinstance(val, TensorBase):
            return f"tensor {DataType(val.dtype).short_name}{list(val.shape)}" + (
                f" = {np.asarray(val.numpy()).reshape(-1).tolist()}" if val.size <= 16 else "")
        if isinstance(val, bytes):
            val = val.decode("utf-8", "replace")
        return _short(repr(val), 300)

    def add_node(self, node: Node, folded: dict[str, Node]) -> int:
        ins = []
        for v in node.inputs:
            if v is None:
                ins.append(["", "", ""])
            elif _is_weight(v):
                ins.append([v.name, self._ty(v), "init", self._weight(v)])
            elif v.name in folded and folded[v.name].op_type == "Identity":
                src = folded[v.name].inputs[0]
                ins.append([v.name, self._ty(v), "init", {**self._weight(src), "via": src.name}])
            elif v.name in folded:
                c = folded[v.name]
                val = c.attributes.get("value")
                desc = self._weight_of_attr(val) if val is not None else {}
                ins.append([v.name, self._ty(v), "const", desc])
            else:
                ins.append([v.name, self._ty(v), ""])
        d = {"o": node.op_type, "n": node.name, "i": ins,
             "out": [[v.name, self._ty(v)] for v in node.outputs]}
        if node.domain not in ("", "ai.onnx"):
            d["d"] = node.domain
        if node.attributes:
            d["a"] = {k: self._attr_text(a) for k, a in node.attributes.items()}
        meta = dict(node.metadata_props)
        src = meta.pop("source", None) or meta.pop("pkg.torch.onnx.stack_trace", None)
        if src:
            d["s"] = src if len(src) <= 600 else "\u2026" + src[-599:]     # the innermost frames
        if meta:
            d["m"] = {k: _short(v, 200) for k, v in meta.items()}
        d["sch"] = self.schema_summary(node)
        if self.node_info is not None:
            extra = self.node_info(node)
            if extra:
                d.update(extra)
        self.nodes.append(d)
        return len(self.nodes) - 1

    def _weight_of_attr(self, a) -> dict:
        val = a.value
        if isinstance(val, TensorBase):
            w = weight_summary(val)
            if val.size <= 16:
                try:
                    w["value"] = np.asarray(val.numpy()).reshape(-1).tolist()
                except Exception:
                    pass
            return w
        return {"value": repr(val)}

    # ---------------------------------------------------------------- groups
    def _new_group(self, label: str, kind: str, **extra) -> int:
        self.groups.append({"l": label, "k": kind, **extra})
        return len(self.groups) - 1

    def function_group(self, fn) -> int:
        key = fn.identifier
        g = self._functions.get(key)
        if g is None:
            g = self._functions[key] = -1      # a recursive call is drawn as a plain node
            path = f"function:{fn.domain}.{fn.name}" + (f":{fn.overload}" if fn.overload else "")
            g = self._functions[key] = self.graph_group(fn.graph, f"function {fn.domain}.{fn.name}", "function", path)
        return g

    def graph_group(self, graph: Graph, label: str, kind: str, path: str) -> int:
        """Lay out one graph (main, body or function) as a tree of groups; returns its group."""
        gid = self._new_group(label, kind)
        nodes = list(graph)
        table = self.by_graph[path] = []
        folded: dict[str, Node] = {}
        for n in nodes:
            if n.domain not in ("", "ai.onnx") or len(n.outputs) != 1 or not n.outputs[0].consumers() \
                    or n.outputs[0].is_graph_output():
                continue
            # a Constant, or an Identity of a weight (torch's exporter shares tied weights so)
            if (n.op_type == "Constant" and not n.inputs) or \
                    (n.op_type == "Identity" and len(n.inputs) == 1 and _is_weight(n.inputs[0])):
                folded[n.outputs[0].name] = n
        scopes = _scopes(nodes)
        tree = _Tree()
        owner: dict[int, tuple[str, int]] = {}          # id(Node) -> member ref
        order = 0
        for v in graph.inputs:
            if v.name in graph.initializers:
                continue
            k = self._io_node("Input", v)
            tree.items.append((order, ("n", k)))
            owner[id(v)] = ("n", k)
            order += 1
        producers: dict[int, tuple[str, int]] = {}
        for n in nodes:
            k = self.add_node(n, folded)
            table.append(k)
            if n.outputs and n.outputs[0].name in folded and folded[n.outputs[0].name] is n:
                continue
            ref: tuple[str, int] = ("n", k)
            subs = n.subgraphs()
            fn = self._fn_by_id.get((n.domain, n.op_type, n.overload))
            if subs or fn is not None:
                body = []
                here = f"{path}/{n.name or '#%d' % (len(table) - 1)}"
                for name, a in n.attributes.items():
                    sgs = a.subgraphs()
                    for j, sg in enumerate(sgs):
                        tag = name if a.value is sg else f"{name}[{j}]"
                        body.append(self.graph_group(sg, tag, "body", f"{here}.{tag}"))
                if fn is not None:
                    fg = self.function_group(fn)
                    if fg >= 0:
                        body.append(fg)
                if body:
                    ref = ("g", self._node_group(k, body))
            t = tree
            for s in scopes[id(n)]:
                t.last = max(t.last, order)
                sub = t.children.get(s)
                if sub is None:
                    sub = t.children[s] = _Tree()
                t = sub
            t.last = max(t.last, order)
            t.items.append((order, ref))
            owner[id(n)] = ref
            for o in n.outputs:
                producers[id(o)] = ref
            order += 1
        outs = []
        for v in graph.outputs:
            k = self._io_node("Output", v)
            tree.items.append((order, ("n", k)))
            outs.append((v, ("n", k)))
            order += 1
        members = self._members(tree, gid, "")
        self.groups[gid]["it"] = members
        # every node's path of (group, member index) from this graph's group
        paths: dict[tuple[str, int], list[tuple[int, int]]] = {}
        self._paths(gid, [], paths)
        edges: dict[tuple[int, int, int], list[Value]] = {}

        def connect(src_ref, dst_ref, v: Value) -> None:
            # an edge joins the members of the deepest group that holds both ends; the
            # member paths below those members let the page end it at the node inside
            # when the member is open
            pa, pb = paths.get(src_ref), paths.get(dst_ref)
            if pa is None or pb is None:
                return
            for d, ((ga, ia), (gb, ib)) in enumerate(zip(pa, pb)):
                if ga != gb:
                    return
                if ia != ib:
                    edges.setdefault((ga, ia, ib), []).append((v, pa[d + 1:], pb[d + 1:]))
                    return

        input_refs = {v.name: owner[id(v)] for v in graph.inputs if id(v) in owner}
        # bodies name the outer values they read: producers by name (only where there are bodies)
        by_name = {o.name: producers[id(o)] for n in nodes for o in n.outputs if id(o) in producers} \
            if any(n.subgraphs() for n in nodes) else {}
        for n in nodes:
            dst = owner.get(id(n))
            if dst is None:
                continue
            for v in n.inputs:
                if v is None:
                    continue
                src = producers.get(id(v)) or input_refs.get(v.name)
                if src is not None and src != dst:
                    connect(src, dst, v)
            for v in _outer_reads(n):       # what the bodies of an If or a Loop read from here
                src = by_name.get(v.name) or input_refs.get(v.name)
                if src is not None and src != dst:
                    connect(src, dst, v)
        for v, ref in outs:
            src = producers.get(id(v)) or input_refs.get(v.name)
            if src is not None:
                connect(src, ref, v)
        by_group: dict[int, list] = {}
        for (g, ia, ib), vs in edges.items():
            by_group.setdefault(g, []).append((ia, ib, vs))
        self._layout_tree(gid, by_group)
        return gid

    def _io_node(self, op: str, v: Value) -> int:
        self.nodes.append({"o": op, "n": v.name, "io": 1, "i": [], "out": [[v.name, self._ty(v)]]})
        return len(self.nodes) - 1

    def _node_group(self, k: int, body: list[int]) -> int:
        """A node with subgraphs or a function call: a box that opens onto its bodies."""
        node = self.nodes[k]
        from ._layout import layout
        gid = self._new_group(node["o"], "node", nd=k, c=1)
        sizes = [self._box(("g", b)) for b in body]
        lay = layout(sizes, [])
        xy = [round(c, 1) for i, (w, h) in enumerate(sizes) for c in (lay.x[i], lay.y[i], w, h)]
        self.groups[gid]["it"] = [-1 - b for b in body]
        self.groups[gid]["L"] = {"w": round(lay.width, 1), "h": round(lay.height, 1), "xy": xy, "e": []}
        return gid

    def _members(self, t: _Tree, gid: int, prefix: str) -> list[tuple[str, int]]:
        """Member refs of a group made from scope tree ``t`` (sub-scopes become groups)."""
        entries: list[tuple[int, tuple[str, int]]] = list(t.items)
        for name, child in t.children.items():
            label = name
            while not child.items and len(child.children) == 1:      # a chain of single scopes
                (sub, only), = child.children.items()
                label, child = f"{label}/{sub}", only
            if len(child.items) == 1 and not child.children:
                entries.append(child.items[0])
                continue
            sub_gid = self._new_group(label, "scope", p=prefix + "/" + label)
            self.groups[sub_gid]["it"] = self._members(child, sub_gid, prefix + "/" + label)
            entries.append((child.last, ("g", sub_gid)))
        entries.sort(key=lambda e: e[0])
        refs = [r for _, r in entries]
        while len(refs) > MAX_ITEMS:          # runs of consecutive members
            size = max(MAX_ITEMS // 2, -(-len(refs) // MAX_ITEMS))
            chunks = []
            for s in range(0, len(refs), size):
                part = refs[s:s + size]
                if len(part) == 1:
                    chunks.append(part[0])
                    continue
                cg = self._new_group(f"{self._label(part[0])} \u2026 {self._label(part[-1])}", "run")
                self.groups[cg]["it"] = part
                chunks.append(("g", cg))
            refs = chunks
        return refs

    def _label(self, ref: tuple[str, int]) -> str:
        if ref[0] == "n":
            n = self.nodes[ref[1]]
            return n["n"].rsplit("/", 1)[-1] or n["o"]
        return self.groups[ref[1]]["l"]

    def _paths(self, gid: int, prefix: list, out: dict) -> None:
        g = self.groups[gid]
        for i, ref in enumerate(g["it"]):
            here = prefix + [(gid, i)]
            out[ref] = here
            if ref[0] == "g" and self.groups[ref[1]]["k"] in ("scope", "run"):
                self._paths(ref[1], here, out)

    def _count(self, gid: int) -> int:
        g = self.groups[gid]
        if "c" not in g:
            c = 0
            for kind, x in g["it"]:
                if kind == "n":
                    c += 0 if self.nodes[x].get("io") else 1
                else:
                    c += self._count(x) if self.groups[x]["k"] in ("scope", "run") else 1
            g["c"] = c
        return g["c"]

    def _box(self, ref: tuple[str, int]) -> tuple[float, float]:
        if ref[0] == "n":
            n = self.nodes[ref[1]]
            name = _short(n["n"].rsplit("/", 1)[-1], 28)
            w = max(len(n["o"]) * 7.5, len(name) * 6.2, 110 if "t" in n or "err" in n else 0) + 22
            return min(max(w, 64.0), 230.0), (30.0 if n.get("io") else NODE_H)
        g = self.groups[ref[1]]
        label = _short(g["l"], 34)
        w = max(len(label) * 7.2, 70.0) + 28
        return min(w, 260.0), (NODE_H if g["k"] == "node" else GROUP_H)

    def _layout_tree(self, gid: int, by_group: dict[int, list]) -> None:
        from ._layout import layout
        g = self.groups[gid]
        for kind, x in g["it"]:
            if kind == "g" and self.groups[x]["k"] in ("scope", "run"):
                self._layout_tree(x, by_group)
        self._count(gid)
        refs = g["it"]
        sizes = [self._box(r) for r in refs]
        es = by_group.get(gid, [])
        lay = layout(sizes, [(a, b) for a, b, _ in es])
        xy = []
        for i, (w, h) in enumerate(sizes):
            xy += [round(lay.x[i], 1), round(lay.y[i], 1), round(w, 1), round(h, 1)]
        edges = []
        for (a, b, crossing), pts in zip(es, lay.edges):
            names = sorted({v.name for v, _, _ in crossing})
            label = self._ty(crossing[0][0]) if len(names) == 1 else f"{len(names)} values"
            # where the first value comes from and goes to inside the two members (member indices)
            _, below_a, below_b = crossing[0]
            edges.append([a, b, label, [round(c, 1) for p in pts for c in p], names[:8],
                          [i for _, i in below_a], [i for _, i in below_b]])
        g["L"] = {"w": round(lay.width, 1), "h": round(lay.height, 1), "xy": xy, "e": edges}
        g["it"] = [x if kind == "n" else -1 - x for kind, x in refs]

