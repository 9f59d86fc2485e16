"""Cast's ``to`` (a type name before opset 6, a number since) and CastLike
(new at 15: a Cast to the type of its second input, when that type is known);
:func:`widen_through_casts`: a node whose type its target schema lacks, run
in a wider type between exact Casts when the op only moves, selects or
compares values (so the wider type gives the same values back)."""

from __future__ import annotations

from ..defs import get_schema, type_string
from ..ir import DataType, Node, Value
from ..ir._types import TensorType
from ._context import Step
from ._registry import Adapter

__all__ = ["ADAPTERS"]


def _cast6_up(ctx: Step) -> None:
    to = ctx.attr("to")
    if isinstance(to, str):
        try:
            ctx.set_attr("to", int(DataType[to.upper()]), 2)
        except KeyError:
            ctx.refuse(f"unknown type name to={to!r}")


def _cast6_down(ctx: Step) -> None:
    to = ctx.attr("to")
    if isinstance(to, int):
        ctx.set_attr("to", DataType(to).name, 3)


def _castlike_down(ctx: Step) -> None:
    n = ctx.node
    dt = ctx.dtype(n.inputs[1])
    if dt is None:
        ctx.refuse("CastLike needs opset 15 when the type of its target_type input is unknown")
    attrs = {"to": int(dt)}
    for name in ("saturate", "round_mode"):
        if name in n.attributes:
            attrs[name] = n.attributes[name]
    ctx.replace("Cast", [n.inputs[0]], attrs)


#: ops whose results are values of their inputs moved, selected, or compared
#: (never computed): run in a wider type whose Cast is exact both ways, they
#: give the same values, ties and orders
MOVE_SELECT_COMPARE = frozenset("""
    Identity Reshape Transpose Squeeze Unsqueeze Flatten Concat Split Slice Expand Tile
    Gather GatherElements GatherND Compress ReverseSequence OneHot Unique Where
    DepthToSpace SpaceToDepth Max Min ReduceMax ReduceMin ArgMax ArgMin TopK
    Equal Less Greater LessOrEqual GreaterOrEqual Relu Abs Neg Sign
""".split())

#: exact widenings: every value of the narrow type is one of the wide type
_WIDER = {DataType.BFLOAT16: DataType.FLOAT, DataType.FLOAT16: DataType.FLOAT,
          DataType.INT8: DataType.INT32, DataType.INT16: DataType.INT32,
          DataType.UINT8: DataType.INT32, DataType.UINT16: DataType.INT32,
          DataType.UINT32: DataType.INT64}


def widen_through_casts(driver, graph, node: Node, domain: str, opset: int) -> bool:
    """Put Casts to an exact wider type before the inputs and back after the
    outputs of ``node`` where the schema at ``opset`` lacks their type, for
    the ops of :data:`MOVE_SELECT_COMPARE`.  False (nothing changed) when that
    does not make every type of the node allowed, or the Casts themselves are
    not allowed at ``opset``."""
    from ._types import allowed
    if domain or node.op_type not in MOVE_SELECT_COMPARE:
        return False
    schema, cast = get_schema(node.op_type, opset, ""), get_schema("Cast", opset, "")
    if schema is None or cast is None:
        return False
    cast_ok = set(allowed(cast, cast.inputs[0]) or ()) & set(allowed(cast, cast.outputs[0]) or ())
    plan: dict[str, tuple[DataType, DataType]] = {}       # type parameter -> (narrow, wide)
    slots = [(p, v, True) for p, v in zip(_formals(schema.inputs, node.inputs), node.inputs)] + \
            [(p, v, False) for p, v in zip(_formals(schema.outputs, node.outputs), node.outputs)]
    for p, v, _ in slots:
        if v is None or p is None:
            continue
        ok = allowed(schema, p)
        t = type_string(v.type)
        if ok is None or t is None or t in ok:
            continue
        narrow = v.dtype
        wide = _WIDER.get(narrow)
        if node.op_type in ("Neg", "Abs") and narrow is not None and narrow.is_integer:
            return False        # -(-128) leaves int8: the Cast back would have to wrap
        if wide is None or type_string(TensorType(wide)) not in ok or p.type_str not in schema.type_constraints \
                or any(type_string(TensorType(d)) not in cast_ok for d in (narrow, wide)):
            return False
        if plan.setdefault(p.type_str, (narrow, wide)) != (narrow, wide):
            return False
    if not plan:
        return False
    for p, v, is_input in slots:
        if v is None or p is None or p.type_str not in plan or v.dtype != plan[p.type_str][0]:
            continue
        narrow, wide = plan[p.type_str]
        if is_input:
            out = Value(driver.fresh_name((v.name or "v") + "_wide"), TensorType(wide, v.shape))
            graph.insert_before(node, Node("Cast", [v], [out], attributes={"to": int(wide)},
                                           name=driver.fresh_name("Cast")))
            node.set_input(list(node.inputs).index(v), out)
        else:
            back = Value(None, TensorType(narrow, v.shape))
            c = Node("Cast", [v], [back], attributes={"to": int(narrow)}, name=driver.fresh_name("Cast"))
            graph.insert_after(node, c)
            v.replace_all_uses_with(back, replace_graph_outputs=True)
            c.set_input(0, v)
            name, v.name = v.name, driver.fresh_name((v.name or "v") + "_wide")
            back.name = name
            v.type = TensorType(wide, v.shape)
            driver.moved.append((v, back))      # its declared type goes to ``back``
    return True


def _formals(formals, actuals):
    """The formal parameter of each actual (the last one repeats: variadic)."""
    return [formals[i] if i < len(formals) else (formals[-1] if formals else None) for i in range(len(actuals))]


ADAPTERS = {
    ("Cast", 6): Adapter(_cast6_up, _cast6_down),
    ("CastLike", 15): Adapter("CastLike is new at opset 15", _castlike_down),
}
