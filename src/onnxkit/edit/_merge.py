"""Glue two models together: outputs of the first feed inputs of the second.

Both models are copied (sharing their weights), the second's names are made
unique against the first's (with the prefixes asked for, then, for what still
collides, ``b_``), the connected inputs of the second are replaced by the
first's values (in subgraphs too: readers hold the Value, not its name), and
the nodes of the second are moved behind those of the first.  Opsets must
agree: where the two import different ai.onnx versions the older model is
converted up (:func:`onnxkit.convert_version`), else the newer one down, else
the merge is refused with both reasons and the command that would convert one.
"""

from __future__ import annotations

from typing import Mapping

from ..errors import EditError
from ..ir import Model, Node, TensorType, Value, clone_model
from ..ir._domain import normalize_domain, normalize_opsets
from ._common import finish, main_values, unknown
from ._rename import apply_renames, names_in

__all__ = ["merge"]


def merge(a: Model, b: Model, connect: Mapping[str, str], *,
          prefix: str | tuple[str, str] | None = None, labels: tuple[str, str] = ("A", "B"),
          inplace: bool = False, check: bool = True) -> Model:
    """One model computing ``b`` on what ``a`` computes.

    ``connect`` maps values of ``a``'s main graph (usually outputs) to inputs of
    ``b`` that they feed.  The result's inputs are ``a``'s inputs and ``b``'s
    inputs not connected; its outputs are ``b``'s outputs and ``a``'s outputs
    not connected.  ``prefix``: a str put before every name of ``b``, or a pair
    ``(prefix_a, prefix_b)``; names of ``b`` that still collide with ``a``'s get
    ``b_`` (more if needed).  ``labels`` name the models in error messages
    (file names, for the command line).  Both models' weights are shared;
    ``inplace=True`` makes ``a`` the merged model (``b`` is left as it was).

    Raises :class:`~onnxkit.errors.EditError` for unknown names, types that do
    not fit, and opsets that cannot be reconciled.
    """
    if not isinstance(a, Model) or not isinstance(b, Model):
        raise EditError("merge takes two onnxkit Models (load files with onnxkit.load)")
    if not connect:
        raise EditError("merge needs at least one connection (connect={'a_output': 'b_input'})")
    pa, pb = (prefix if isinstance(prefix, tuple) else ("", prefix or ""))
    target = a if inplace else None
    a, b = _reconcile_opsets(a, b, labels)
    ga, gb = a.graph, b.graph
    if pa:
        _prefix_all(ga, pa)
    if pb:
        _prefix_all(gb, pb)
    va = main_values(ga)
    b_inputs = {v.name: v for v in gb.inputs if not v.is_initializer()}
    links: list[tuple[Value, Value]] = []
    for src, dst in connect.items():
        src_p, dst_p = pa + src, pb + dst     # the names as given, before the prefixes
        if src_p not in va:
            raise unknown("value", src, va, f"the first model ({labels[0]})")
        if dst_p not in b_inputs:
            raise unknown("input", dst, b_inputs, f"the second model ({labels[1]})")
        links.append((va[src_p], b_inputs[dst_p]))
    fed = {id(bv) for _, bv in links}
    if len(fed) != len(links):
        raise EditError("an input of the second model is connected twice")
    for av, bv in links:
        _check_fit(av, bv)
    # make the remaining names of b unique against a's
    taken_v, taken_n = names_in(ga)
    _uniquify(gb, taken_v, taken_n, skip=fed)

    for av, bv in links:
        bv.replace_all_uses_with(av, replace_graph_outputs=True)
    a_connected = {id(av) for av, _ in links}
    outputs = [*gb.outputs, *(v for v in ga.outputs if id(v) not in a_connected)]
    inputs = [*ga.inputs, *(v for v in gb.inputs if id(v) not in fed)]
    nodes = list(gb)
    saved = [n.inputs for n in nodes]
    for n in reversed(nodes):
        gb.remove(n, safe=False)
    for n, ins in zip(nodes, saved):
        n.set_inputs(ins)
        ga.append(n)
    for name, v in gb.initializers.items():
        ga.initializers[name] = v
    ga.sparse_initializers.extend(gb.sparse_initializers)
    ga.value_info.extend(gb.value_info)
    ga.quantization_annotation.extend(gb.quantization_annotation)
    gb.inputs, gb.outputs = [], []
    ga.inputs = inputs
    ga.outputs = outputs
    _merge_functions(a, b)
    have = normalize_opsets(a.opset_imports)
    for dom, ver in b.opset_imports.items():
        if normalize_domain(dom) not in have:    # ("ai.onnx" and "" are one domain)
            a.opset_imports[dom] = ver
    a.ir_version = max(a.ir_version, b.ir_version)
    for k, v in b.metadata_props.items():
        a.metadata_props.setdefault(k, v)
    finish(a, check)
    if target is None:
        return a
    for slot in ("graph", "opset_imports", "ir_version", "functions", "metadata_props"):
        setattr(target, slot, getattr(a, slot))
    return target


def _check_fit(av: Value, bv: Value) -> None:
    ta, tb = av.type, bv.type
    if isinstance(ta, TensorType) and isinstance(tb, TensorType):
        if ta.elem_type is not None and tb.elem_type is not None and ta.elem_type != tb.elem_type:
            raise EditError(f"cannot connect {av.name!r} ({ta}) to {bv.name!r} ({tb}): the "
                            "element types differ; add a Cast")
        if ta.shape is not None and tb.shape is not None:
            if len(ta.shape) != len(tb.shape) or any(
                    isinstance(x, int) and isinstance(y, int) and x != y
                    for x, y in zip(ta.shape, tb.shape)):
                raise EditError(f"cannot connect {av.name!r} ({ta}) to {bv.name!r} ({tb}): "
                                "the shapes do not fit")
    elif ta is not None and tb is not None and type(ta) is not type(tb):
        raise EditError(f"cannot connect {av.name!r} ({ta}) to {bv.name!r} ({tb})")


def _prefix_all(g, prefix: str) -> None:
    vmap: dict[Value, str] = {}
    nmap: dict[Node, str] = {}
    for sub in g.all_graphs():
        for v in [*sub.values(), *sub.outputs]:
            if v.name:
                vmap[v] = prefix + v.name
        for n in sub:
            if n.name:
                nmap[n] = prefix + n.name
    apply_renames(g, vmap, nmap)


def _uniquify(g, taken_v: set[str], taken_n: set[str], skip: set[int]) -> None:
    own_v, own_n = names_in(g)
    vmap: dict[Value, str] = {}
    nmap: dict[Node, str] = {}

    def fresh(name: str, taken: set[str], own: set[str]) -> str:
        new, k = "b_" + name, 2
        while new in taken or new in own:
            new, k = f"b{k}_{name}", k + 1
        own.add(new)
        return new

    for sub in g.all_graphs():
        for v in [*sub.values(), *sub.outputs]:
            if v.name in taken_v and id(v) not in skip and v not in vmap:
                vmap[v] = fresh(v.name, taken_v, own_v)
        for n in sub:
            if n.name in taken_n and n not in nmap:
                nmap[n] = fresh(n.name, taken_n, own_n)
    apply_renames(g, vmap, nmap)


def _merge_functions(a: Model, b: Model) -> None:
    have = {f.identifier: f for f in a.functions}
    for f in b.functions:
        if f.identifier in have:
            from ..text import to_text
            if to_text(have[f.identifier]) != to_text(f):
                d, n, o = f.identifier
                raise EditError(f"both models define function {d}.{n}{':' + o if o else ''} "
                                "differently; rename one of them first")
            continue
        a.functions.append(f)


def _reconcile_opsets(a: Model, b: Model, labels: tuple[str, str]) -> tuple[Model, Model]:
    """Copies of ``a`` and ``b`` that import the same version of every domain both use."""
    oa, ob = normalize_opsets(a.opset_imports), normalize_opsets(b.opset_imports)
    for dom in set(oa) & set(ob):
        if dom and oa[dom] != ob[dom]:
            raise EditError(f"the models import different versions of domain {dom!r} "
                            f"({labels[0]}: {oa[dom]}, {labels[1]}: {ob[dom]}); onnxkit converts "
                            "ai.onnx only")
    va, vb = oa.get(""), ob.get("")
    if va is None or vb is None or va == vb:
        return clone_model(a), clone_model(b)
    from ..convert import ConversionError, convert_version

    (old, new), (lo, hi) = ((0, 1), (va, vb)) if va < vb else ((1, 0), (vb, va))
    pair = [a, b]
    try:
        pair[old] = convert_version(pair[old], hi)
        pair[new] = clone_model(pair[new])
        return pair[0], pair[1]
    except ConversionError as e:
        up = e
    try:
        pair[new] = convert_version(pair[new], lo)
        pair[old] = clone_model(pair[old])
        return pair[0], pair[1]
    except ConversionError as e:
        down = e

    # both may still meet in between: the older up as far as it goes, the newer down to there
    reach_up = min((r.highest for r in up.refusals if r.highest is not None), default=None)
    reach_down = max((r.lowest for r in down.refusals if r.lowest is not None), default=None)
    if reach_up is not None and reach_down is not None and lo < reach_down <= reach_up < hi:
        try:
            pair[old] = convert_version(pair[old], reach_up)
            pair[new] = convert_version(pair[new], reach_up)
            return pair[0], pair[1]
        except ConversionError:
            pair = [a, b]

    def why(e: ConversionError) -> str:
        shown = "; ".join(str(r) for r in e.refusals[:3])
        return shown + (f"; and {len(e.refusals) - 3} more" if len(e.refusals) > 3 else "")

    n_old = reach_up if reach_up is not None else "N"
    n_new = reach_down if reach_down is not None else "N"
    raise EditError(
        f"the models import different ai.onnx versions ({labels[0]}: {va}, {labels[1]}: {vb}) "
        f"and cannot be brought to one: {labels[old]} to opset {hi}: {why(up)}; "
        f"{labels[new]} to opset {lo}: {why(down)}. Change the nodes named, or convert what "
        f"can be converted (onnxkit convert {labels[old]} OUT.onnx --opset {n_old}; onnxkit "
        f"convert {labels[new]} OUT.onnx --opset {n_new}) and merge again")
