"""The text of :meth:`ModelDiff.summary`: a screen, however big the models.

Repeats are grouped: fusions by the ops they removed, what replaced them and
their name scope with the numbers taken out (the twelve layer norms of a
BERT are one line, ``/encoder/layer.{0..11}/... x 12``); constant folding is
one line; nodes whose only change is that they now read a fusion's result
are counted, not listed; long lists stop at ``limit``.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._model import ModelDiff

_NUM = re.compile(r"(\d+)")
_OPS_LISTED = 10
#: groups of removed nodes with nothing added in their place: one line per kind
_OTHER_KINDS = {"folded": "constant folding: {n} ({ops})",
                "merged": "common subexpressions: {n} merged into equal ones ({ops})",
                "bypassed": "bypassed: {n} removed, readers read their input ({ops})",
                "dead": "dead code: {n} removed ({ops})"}
#: a group kind with at most this many nodes lists them by name
_NAMED = 4


def summarize(d: ModelDiff, limit: int | None) -> str:
    data = d._data
    lines = [f"A: {d.a_label}", f"B: {d.b_label}"]
    nodes, weights, fusions = data["nodes"], data["weights"], data["fusions"]
    if data["equal"]:
        n = sum(1 for e in nodes if e["a"] is not None)
        unchecked = sum(1 for w in weights if w["status"] == "unchecked")
        note = f" ({unchecked} not compared: weights=False)" if unchecked else ""
        lines.append(f"equal: {n:,} nodes and {len(weights):,} weights match{note}")
        return "\n".join(lines) + "\n"
    nodes_same = not fusions and all(e["status"] == "same" for e in nodes)
    lines.append("different (weights only):" if nodes_same and not data["model"] else "different:")
    lines += _model_lines(data["model"])
    in_group = {_key(x) for f in fusions for side in ("a", "b") for x in f[side]}
    lines += _fusion_lines(fusions, limit)
    if not nodes_same:
        lines += _node_lines(nodes, in_group, limit)
    folded = {(f["a"][0]["graph"] if f["a"] else "", name) for f in fusions for name in f.get("initializers", ())}
    lines += _weight_lines(weights, folded, limit)
    return "\n".join(lines) + "\n"


def _key(nid: dict[str, Any]) -> tuple[str, int]:
    return nid["graph"], nid["index"]


def _cap(items: list, limit: int | None) -> tuple[list, int]:
    if limit is None or len(items) <= limit:
        return items, 0
    return items[:limit], len(items) - limit


# ------------------------------------------------------------------ model


def _model_lines(model: dict[str, Any]) -> list[str]:
    out = []
    if "ir_version" in model:
        a, b = model["ir_version"]
        out.append(f"  ir_version: {a} -> {b}")
    for dom, (a, b) in model.get("opsets", {}).items():
        out.append(f"  opset {dom}: {'-' if a is None else a} -> {'-' if b is None else b}")
    for k, (a, b) in model.get("metadata", {}).items():
        out.append(f"  {k}: {_short(a)} -> {_short(b)}")
    for key in ("inputs", "outputs"):
        for c in model.get(key, ()):
            out.append(f"  {key[:-1]} {c}")
    funcs = model.get("functions", {})
    for what in ("added", "removed"):
        if funcs.get(what):
            out.append(f"  functions {what}: {', '.join(funcs[what])}")
    for name, why in funcs.get("changed", {}).items():
        out.append(f"  function {name}: {'; '.join(why)}")
    return out


def _short(x: Any, n: int = 40) -> str:
    s = repr(x)
    return s if len(s) <= n else s[:n - 3] + "..."


# ------------------------------------------------------------------ fusions


def _fusion_lines(fusions: list[dict[str, Any]], limit: int | None) -> list[str]:
    real = [f for f in fusions if f["kind"] == "fusion"]
    out = []
    if real:
        removed = sum(len(f["a"]) for f in real)
        added = sum(len(f["b"]) for f in real)
        out.append(f"fusions: {len(real)} ({removed:,} nodes -> {added:,}):")
        groups: dict[tuple, list[dict[str, Any]]] = {}
        for f in real:
            ops = tuple(x["op_type"] for x in f["a"] if x["op_type"] != "Constant") \
                or tuple(x["op_type"] for x in f["a"])
            scope = _scope([x["name"] for x in f["a"]])
            groups.setdefault((ops, f["label"], _NUM.sub("#", scope)), []).append(scope)
        rows, more = _cap(list(groups.items()), limit)
        for (ops, label, _), scopes in rows:
            where = _merge_scopes(scopes).strip("/")
            where = "/" + where if where and scopes[0].startswith("/") else where
            times = f"  \u00d7 {len(scopes)}" if len(scopes) > 1 else ""
            out.append(f"  {_ops_text(ops)}{f' ({where})' if where else ''} -> {label}{times}")
        if more:
            out.append(f"  ... and {more} more kinds")
    for kind, text in _OTHER_KINDS.items():
        these = [f for f in fusions if f["kind"] == kind]
        if not these:
            continue
        ops = Counter(x["op_type"] for f in these for x in f["a"])
        n = sum(ops.values())
        listed = ", ".join(_nid_text(x) for f in these for x in f["a"]) if n <= _NAMED else _counts(ops)
        line = text.format(n=_plural(n, "node"), ops=listed)
        if kind == "folded":
            inits = sum(len(f.get("initializers", ())) for f in these)
            line += f" -> {inits:,} initializers"
        out.append(line)
    return out


def _scope(names: list[str]) -> str:
    """The name scope the nodes share: their longest common prefix, to a ``/``."""
    names = [n for n in names if n]
    scoped = [n for n in names if "/" in n]
    names = scoped or names             # "Identity_12" beside "/encoder/..." says nothing
    if not names:
        return ""
    lo, hi = min(names), max(names)
    i = 0
    while i < len(lo) and i < len(hi) and lo[i] == hi[i]:
        i += 1
    prefix = lo[:i]
    if len(names) == 1 or "/" not in prefix:
        return prefix.rstrip("/_") if "/" not in prefix else prefix[:prefix.rfind("/")] or prefix
    return prefix[:prefix.rfind("/")] or prefix


def _merge_scopes(scopes: list[str]) -> str:
    """One text for scopes that differ only in their numbers: ``layer.{0..11}``."""
    if len(scopes) == 1:
        return scopes[0]
    parts = [_NUM.split(s) for s in scopes]
    out = []
    for k, tok in enumerate(parts[0]):
        if k % 2 == 0:
            out.append(tok)
            continue
        nums = sorted({int(p[k]) for p in parts})
        if len(nums) == 1:
            out.append(tok)
        elif nums == list(range(nums[0], nums[-1] + 1)):
            out.append(f"{{{nums[0]}..{nums[-1]}}}")
        else:
            shown = ",".join(map(str, nums[:6])) + (",..." if len(nums) > 6 else "")
            out.append(f"{{{shown}}}")
    return "".join(out)


def _ops_text(ops: tuple[str, ...]) -> str:
    if len(ops) <= _OPS_LISTED:
        return ", ".join(ops)
    return _counts(Counter(ops), 8) + f" ({len(ops)} nodes)"


def _counts(c: Counter, top: int = 6) -> str:
    items = c.most_common()
    text = ", ".join(f"{op} {n}" if n > 1 else op for op, n in items[:top])
    return text + (f", ... {len(items) - top} more ops" if len(items) > top else "")


# ------------------------------------------------------------------ nodes


def _node_lines(nodes: list[dict[str, Any]], in_group: set, limit: int | None) -> list[str]:
    same = sum(1 for e in nodes if e["status"] == "same")
    rewired = [e for e in nodes if e["status"] == "changed" and e.get("via_fusion")]
    renamed = [e for e in nodes if e["status"] == "changed" and not e.get("via_fusion")
               and len(e["changes"]) == 1 and e["changes"][0].startswith("renamed ")]
    changed = [e for e in nodes if e["status"] == "changed" and not e.get("via_fusion")
               and not (len(e["changes"]) == 1 and e["changes"][0].startswith("renamed "))]
    added = [e for e in nodes if e["status"] == "added" and _key(e["b"]) not in in_group]
    removed = [e for e in nodes if e["status"] == "removed" and _key(e["a"]) not in in_group]
    head = f"nodes: {same:,} same, {len(changed):,} changed, {len(added):,} added, {len(removed):,} removed"
    if in_group:
        head += " (besides the groups above)"
    out = [head]
    if renamed and limit is not None and len(renamed) > _NAMED:
        out.append(f"  {_plural(len(renamed), 'node')} only renamed (matched by structure)")
    elif renamed:
        changed = renamed + changed
    if rewired:
        out.append(f"  {_plural(len(rewired), 'node')} read another value where A read a removed node's "
                   "output (the groups above)")
    texts: dict[str, list[str]] = {}
    for e in changed:
        rest = [c for c in e["changes"] if not c.startswith("renamed ")]
        if len(rest) < len(e["changes"]):          # matched by structure under another name
            name = f"{e['a']['name'] or '#%d' % e['a']['index']} -> {_nid_text(e['b'])}"
        else:
            name = _nid_text(e["b"])
        line = f"{name}: {'; '.join(rest) or 'renamed'}"
        texts.setdefault(_NUM.sub("#", line), []).append(line)
    rows, more = _cap(list(texts.values()), limit)
    for lines in rows:
        times = f"  \u00d7 {len(lines)}" if len(lines) > 1 else ""
        out.append(f"  changed  {_merge_scopes(lines)}{times}")
    if more:
        out.append(f"  ... and {more} more kinds of change")
    for what, entries, side in (("added", added, "b"), ("removed", removed, "a")):
        if limit is not None and len(entries) > limit:
            ops = Counter(e[side]["op_type"] for e in entries)
            out.append(f"  {what:<8} {len(entries):,} nodes: {_counts(ops, 10)}")
        else:
            out += [f"  {what:<8} {_nid_text(e[side])}" for e in entries]
    return out


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _nid_text(nid: dict[str, Any]) -> str:
    where = "" if nid["graph"] == "main" else f"[{nid['graph']}] "
    name = nid["name"] or f"#{nid['index']}"
    return f"{where}{name} ({nid['op_type']})"


# ------------------------------------------------------------------ weights


def _weight_lines(weights: list[dict[str, Any]], folded: set, limit: int | None) -> list[str]:
    if not weights:
        return []
    by = Counter(w["status"] for w in weights)
    n_fold = sum(1 for w in weights if w["status"] == "added" and (w["graph"], w["name"]) in folded)
    fused = Counter(w["status"] for w in weights if w.get("fusion"))
    parts = [f"{by[s]:,} {s}" for s in ("same", "changed", "shape", "added", "removed", "unchecked") if by[s]]
    head = "weights: " + ", ".join(parts)
    notes = [f"{n:,} {s} inside fusions" for s, n in sorted(fused.items())]
    notes += [f"{n_fold:,} added by constant folding"] if n_fold else []
    if notes:
        head += f" ({', '.join(notes)})"
    out = [head]
    listed = [w for w in weights if w["status"] in ("changed", "shape", "added", "removed")
              and not w.get("fusion")
              and not (w["status"] == "added" and (w["graph"], w["name"]) in folded)]
    rows, more = _cap(listed, limit)
    width = max((len(w["name"]) for w in rows), default=0)
    texts = [_weight_text(w).split("  ", 1) for w in rows]
    width2 = max((len(t[0]) for t in texts), default=0)
    for w, t in zip(rows, texts):
        line = f"  {w['status']:<8} {w['name'].ljust(width)}  {t[0].ljust(width2)}  {t[1] if len(t) > 1 else ''}"
        out.append(line.rstrip())
    if more:
        out.append(f"  ... and {more} more")
    return out


def _weight_text(w: dict[str, Any]) -> str:
    dims = "[" + ",".join(map(str, w["a_shape"] or w["b_shape"] or [])) + "]"
    renamed = f"  (in B: {w['b_name']})" if w.get("b_name") else ""
    if w["status"] == "shape":
        dt = w["dtype"].split(" -> ")
        return f"{dt[0]}{w['a_shape']} -> {dt[-1]}{w['b_shape']}".replace(" ", "") + renamed
    if w["status"] != "changed":
        return f"{w['dtype']}{dims}{renamed}"
    size = 1
    for x in w["a_shape"]:
        size *= x
    if w["max_abs"] is None:
        return f"{w['dtype']}{dims}  {w['differing']:,} of {size:,} elements differ{renamed}"
    return (f"{w['dtype']}{dims}  max abs {w['max_abs']:.3g}  max rel {w['max_rel']:.3g}  "
            f"({w['differing']:,} of {size:,} differ){renamed}")
