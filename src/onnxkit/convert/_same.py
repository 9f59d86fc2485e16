"""Steps that changed no semantics: a version bump that only widened the
types, removed an attribute that meant nothing (``consumed_inputs``), or added
an attribute, input or output whose default keeps the old behaviour.

One adapter, :class:`Same`, handles them all from the two schemas: going up
it drops attributes the new version lost (when harmless) and spells out
defaults that changed; going down it refuses new attributes that are not at
their default, new inputs or used new outputs, new attribute values, and
negative axes where they became legal (normalised when the rank is known).
The node's types are checked against the target schema by the driver.
"""

from __future__ import annotations

from typing import Any, Callable

from ..defs import get_schema
from ._context import Step
from ._registry import Adapter

__all__ = ["ADAPTERS", "ML_ADAPTERS", "Same"]


class Same(Adapter):
    def __init__(self, *, drop_up: tuple[str, ...] = ("consumed_inputs",), neg: dict | None = None,
                 new_values: dict | None = None, neutral: dict | None = None,
                 up: Callable[[Step], None] | None = None, down: Callable[[Step], None] | None = None) -> None:
        super().__init__(self._up, self._down)
        self.drop_up = drop_up
        self.neg = neg or {}
        self.new_values = new_values or {}
        self.neutral = neutral or {}
        self.extra_up = up
        self.extra_down = down

    def __repr__(self) -> str:
        return "Same()"

    @staticmethod
    def _schemas(ctx: Step):
        n = ctx.node
        v = ctx.version if ctx.direction == "up" else ctx.version + 1
        return get_schema(n.op_type, v - 1, n.domain), get_schema(n.op_type, v, n.domain), v

    def _up(self, ctx: Step) -> None:
        old, new, s = self._schemas(ctx)
        n = ctx.node
        for name in list(n.attributes):
            if name not in new.attributes:
                if name in self.drop_up:
                    ctx.drop_attr(name)
                else:
                    ctx.refuse(f"attribute {name!r} was removed at opset {s}")
        _spell_changed_defaults(ctx, old, new, old)
        if self.extra_up:
            self.extra_up(ctx)

    def _down(self, ctx: Step) -> None:
        old, new, s = self._schemas(ctx)
        n = ctx.node
        for name, a in list(n.attributes.items()):
            if name in old.attributes:
                continue
            d = new.attributes.get(name)
            if d is not None and (_same_value(a.value, d.default) or _neutral(self.neutral.get(name), a.value)):
                ctx.drop_attr(name)
            else:
                ctx.refuse(f"attribute {name}={a.value!r} is new at opset {s}")
        for name, values in self.new_values.items():
            val = n.attr(name)
            if val in values:
                ctx.refuse(f"{name}={val!r} is new at opset {s}")
        _spell_changed_defaults(ctx, old, new, new)
        ins = list(n.inputs)
        if len(ins) > old.max_input:
            if any(v is not None for v in ins[old.max_input:]):
                ctx.refuse(f"it uses input {old.max_input} ({new.inputs[min(old.max_input, len(new.inputs) - 1)].name}), "
                           f"which is new at opset {s}")
            ctx.set_inputs(ins[:old.max_input])
        for i, p in enumerate(old.inputs):
            if p.option == 0 and (i >= len(ins) or ins[i] is None) and i < old.min_input:
                ctx.refuse(f"input {i} ({p.name}) is required before opset {s}")
        if len(n.outputs) > old.max_output:
            ctx.replace(n.op_type, n.inputs, dict(n.attributes), outputs=old.max_output)
        for name, where in self.neg.items():
            normalize_axes(ctx, name, where, s)
        if self.extra_down:
            self.extra_down(ctx)


def _same_value(a: Any, b: Any) -> bool:
    if b is None:
        return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b


def _neutral(kind: str | None, value: Any) -> bool:
    if kind == "ones":
        return isinstance(value, (list, tuple)) and all(x == 1 for x in value)
    return False


def _spell_changed_defaults(ctx: Step, old, new, keep) -> None:
    """An attribute whose default changed at the step: set it explicitly to the
    default of the version the node came from (``keep``)."""
    n = ctx.node
    for name in set(old.attributes) & set(new.attributes):
        a, b = old.attributes[name].default, new.attributes[name].default
        if a != b and name not in n.attributes:
            if keep.attributes[name].default is None:
                ctx.refuse(f"attribute {name!r} has no default at opset {keep.since_version} and is not given")
            ctx.set_attr(name, keep.attributes[name].default, keep.attributes[name].type)


def normalize_axes(ctx: Step, name: str, where: str, since: int) -> None:
    """Make attribute ``name`` (axis or axes) non-negative; ``where``: whose
    rank the axes count ("in": input 0, "out": output 0, "refuse": no
    normalisation, negative values are refused)."""
    n = ctx.node
    val = n.attr(name)
    if val is None:
        return
    vals = list(val) if isinstance(val, (list, tuple)) else [val]
    if all(x >= 0 for x in vals):
        return
    rank = None
    if where == "in":
        rank = ctx.rank(n.inputs[0]) if n.inputs else None
    elif where == "out":
        rank = ctx.rank(n.outputs[0])
        if rank is None and n.inputs and ctx.rank(n.inputs[0]) is not None:
            rank = ctx.rank(n.inputs[0]) + len(vals)
    elif where == "in+1":    # Flatten: axis in [-r, r]
        rank = ctx.rank(n.inputs[0]) if n.inputs else None
    if rank is None:
        ctx.refuse(f"negative {name}={val!r} needs opset {since} (the rank is unknown, so it cannot "
                   f"be made positive)")
    fixed = [x + rank if x < 0 else x for x in vals]
    ctx.set_attr(name, fixed if isinstance(val, (list, tuple)) else fixed[0])


def _same_shapes(ctx: Step) -> None:
    """Max/Min/Mean/Sum before 8 do not broadcast: every input the same shape."""
    shapes = [ctx.shape(v) for v in ctx.node.inputs]
    if any(s is None or any(not isinstance(d, int) for d in s) for s in shapes) or len(set(shapes)) > 1:
        ctx.refuse("it may broadcast its inputs, which needs opset 8 (shapes unknown or different)")


def _no_negative_indices(i: int):
    def check(ctx: Step) -> None:
        c = ctx.const(ctx.input(i))
        if c is None or (c < 0).any():
            ctx.refuse(f"its input {i} may hold negative indices, which need opset 11")
    return check


def _prelu_6(ctx: Step) -> None:
    x, slope = ctx.shape(ctx.input(0)), ctx.shape(ctx.input(1))
    if x is None or slope is None or not (slope == x or (all(isinstance(d, int) for d in slope)
                                                           and _prod(slope) == 1)):
        ctx.refuse("its slope may broadcast, which needs opset 7 (shapes unknown or different)")


def _prelu_7(ctx: Step) -> None:
    """Before 7 a 1-D slope of C values applies per channel (axis 1) of an
    input of rank > 2; from 7 it broadcasts from the right: unsqueeze it to
    (C, 1, ..., 1)."""
    x, slope = ctx.shape(ctx.input(0)), ctx.shape(ctx.input(1))
    if slope is not None and all(isinstance(d, int) for d in slope) and _prod(slope) == 1:
        return
    if x is None or slope is None:
        ctx.refuse("its slope may apply per channel (opset 6) or broadcast (opset 7): "
                   "the shapes are unknown")
    if len(slope) != 1 or len(x) <= 2:
        return
    if not isinstance(x[1], int) or not isinstance(slope[0], int):
        ctx.refuse("its 1-D slope may apply per channel (opset 6): the channel count is unknown")
    if x[1] == slope[0] != 1:
        (s,) = ctx.add("Unsqueeze", [ctx.input(1)], {"axes": list(range(1, len(x) - 1))})
        ins = list(ctx.node.inputs)
        ins[1] = s
        ctx.node.set_inputs(ins)


def _minmax_ints(compare: str):
    """Max/Min before 12 take floating-point inputs only: on integers (exact
    in no float type when 64-bit) they become ``Where(Greater(a, b), a, b)``
    (``Less`` for Min), folded over the inputs (Where and Greater exist from 9
    and take every integer type; broadcasting is the same; below 9 the
    Where refuses, naming this node)."""
    def down(ctx: Step) -> None:
        n = ctx.node
        dt = ctx.dtype(n.inputs[0]) if n.inputs else None
        if dt is None or dt.is_floating:
            return
        ins = [v for v in n.inputs if v is not None]
        if len(ins) == 1:
            ctx.replace("Identity", ins, {})
            return
        acc = ins[0]
        for b in ins[1:-1]:
            (c,) = ctx.add(compare, [acc, b])
            (acc,) = ctx.add("Where", [c, acc, b])
        (c,) = ctx.add(compare, [acc, ins[-1]])
        ctx.replace("Where", [c, acc, ins[-1]], {})
    return down


def _refuse(reason: str):
    def refuse(ctx: Step) -> None:
        ctx.refuse(reason)
    return refuse


def _constant_9(ctx: Step) -> None:
    """Constant before 9 holds floating-point tensors only: another tensor
    becomes an initializer of the graph (function bodies have none: refused)."""
    from ..ir import Value
    n = ctx.node
    a = n.attributes.get("value")
    if a is None or a.ref_attr_name or a.value.dtype.is_floating:
        return
    g = ctx.graph
    if any(g is f.graph for f in ctx.driver.model.functions):
        ctx.refuse(f"a {a.value.dtype.short_name} Constant needs opset 9 in a function body "
                   "(which has no initializers)")
    out = n.outputs[0]
    init = Value(ctx.driver.fresh_name(out.name or "constant"), out.type, const_value=a.value)
    ctx.take_output(out, init)          # init takes the output's name
    g.add_initializer(init)
    g.remove(n, safe=False)


def _no_same_padding(ctx: Step) -> None:
    """ConvTranspose before 11 documents SAME_UPPER / SAME_LOWER the other way round."""
    if ctx.attr("auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER"):
        ctx.refuse("auto_pad SAME_UPPER / SAME_LOWER is specified differently before opset 11")


def _pool_22(ctx: Step) -> None:
    """From opset 22 a ceil_mode window that would start in the right padding
    is dropped; before, it counted.  Same results unless such a window exists."""
    n = ctx.node
    if not ctx.attr("ceil_mode", 0):
        return
    shape, k = ctx.shape(n.inputs[0]), ctx.attr("kernel_shape")
    if ctx.attr("auto_pad", "NOTSET") != "NOTSET" or shape is None or k is None \
            or not all(isinstance(d, int) for d in shape[2:]):
        ctx.refuse("ceil_mode=1 windows starting in the padding count differently before opset 22 "
                   "(the spatial shape is unknown, or auto_pad is set)")
    r = len(k)
    strides = ctx.attr("strides") or [1] * r
    dil = ctx.attr("dilations") or [1] * r
    pads = ctx.attr("pads") or [0] * (2 * r)
    for i in range(r):
        size = shape[2 + i]
        ek = (k[i] - 1) * dil[i] + 1
        out = -(-(size + pads[i] + pads[i + r] - ek) // strides[i]) + 1
        if (out - 1) * strides[i] >= size + pads[i]:
            ctx.refuse("with ceil_mode=1 a window starts in the right padding, which opset 22 drops")


def _widen_small_ints(ctx: Step) -> None:
    """Add/Sub/Mul/Div before 14 lack (u)int8/(u)int16: compute in int64 and
    cast back.  Exact: the result wraps to the same bits (Cast discards the
    high bits), and int64 holds every product and quotient of such values."""
    from ..ir import DataType, TensorType
    n = ctx.node
    dt = ctx.dtype(n.inputs[0])
    small = (DataType.INT8, DataType.INT16, DataType.UINT8, DataType.UINT16)
    if dt not in small:
        return
    wide = [ctx.add("Cast", [v], {"to": int(DataType.INT64)})[0] for v in n.inputs[:2]]
    n.set_input(0, wide[0])
    n.set_input(1, wide[1])
    y = n.outputs[0]
    (back,) = ctx.add("Cast", [y], {"to": int(dt)}, after=True)
    ctx.take_output(y, back)
    back.producer().set_input(0, y)
    y.type = TensorType(DataType.INT64, y.shape)


def _mod_28(ctx: Step) -> None:
    """Mod before 28 requires fmod=1 for floating-point inputs."""
    dt = ctx.dtype(ctx.node.inputs[0])
    if ctx.attr("fmod", 0) == 0 and (dt is None or dt.is_floating):
        ctx.refuse("fmod=0 (a floor modulo) on floating-point inputs needs opset 28 "
                   "(or the input type is unknown)")


def _prod(xs) -> int:
    out = 1
    for x in xs:
        out *= x
    return out


#: op: the since-versions whose step changed no semantics (types widened,
#: consumed_inputs dropped, a new attribute/input/output whose default keeps
#: the old behaviour).  Reviewed against the spec's change log.
_TABLE = """
Abs 6 13; Acos 22; Acosh 22; Add 6 13 14; ArgMax 11 12 13; ArgMin 11 12 13
Asin 22; Asinh 22; Atan 22; Atanh 22
AveragePool 7 10 11 19 22; Bernoulli 22; BitShift 28
Cast 9 13 21 23 24 25 28; CastLike 21 23 24 25; Ceil 6 13; Celu 28; Clip 6 12 13
Compress 11 28; Concat 11 13; Constant 9 11 13 19 21 23 24 25
ConstantOfShape 20 21 23 24 25; Conv 11 22; ConvTranspose 11 22; Cos 22; Cosh 22; CumSum 14
DeformConv 22; DepthToSpace 11 13 28; DequantizeLinear 21 23 24 25 28; Det 22; Div 6 13 14
DequantizeLinear 19; Dropout 6 13 22; Einsum 28; Erf 13; Elu 6 22; Equal 11 13 19; Exp 6 13; Expand 13; EyeLike 22
Flatten 9 11 13 21 23 24 25; Floor 6 13; GRU 7 14 22; Gather 11 13; GatherElements 13
GatherND 12 13; Gemm 6 9 11 13; GlobalAveragePool 22; GlobalLpPool 22; GlobalMaxPool 22
Greater 9 13; GreaterOrEqual 16; GridSample 22; HardSigmoid 6 22; HardSwish 22; Hardmax 11
Identity 13 14 16 19 21 23 24 25; If 11 13 16 19 21 23 24 25; InstanceNormalization 6 22
IsInf 20; IsNaN 13 20; LRN 13; LSTM 7 14 22; LeakyRelu 6 16; Less 9 13; LessOrEqual 16
Log 6 13; LogSoftmax 11; Loop 11 13 16 19 21 23 24 25; LpNormalization 22; LpPool 11 18 22
MatMul 9 13; Max 6 8 12 13; MaxPool 8 10 11 12 22; MaxRoiPool 22; MaxUnpool 11 22
Mean 6 8 13; MeanVarianceNormalization 13; Min 6 8 12 13; Mish 22; Mod 13 28; Mul 6 13 14
Multinomial 22; Neg 6 13; NegativeLogLikelihoodLoss 13 22; NonMaxSuppression 11; NonZero 13
OneHot 11 28; Optional 28; OptionalGetElement 18 28; OptionalHasElement 18 28
PRelu 6 7 9 16; Pow 12; QLinearMatMul 21; BatchNormalization 6 15; Pad 13 19 21 23 24 25; Pow 13 15; QuantizeLinear 21 23 24 25 28
RNN 7 14 22; RandomNormal 22; RandomNormalLike 22; RandomUniform 22; RandomUniformLike 22
Range 27; Reciprocal 6 13; ReduceL1 11 13; ReduceL2 11 13; ReduceLogSum 11 13 28
ReduceLogSumExp 11 13 28; ReduceMax 11 12 13 20; ReduceMean 11 13; ReduceMin 11 12 13 20
ReduceProd 11 13; ReduceSum 11; ReduceSumSquare 11 13; Relu 6 13 14
Reshape 13 19 21 23 24 25; Resize 19; ReverseSequence 28; RoiAlign 22; Round 22
Scan 11 16 19 21 23 24 25; ScatterElements 13 16 18; ScatterND 13 16 18; Selu 6 22
Shape 13 19 21 23 24 25; Sigmoid 6 13; Sign 13; Sin 22; Sinh 22
Size 13 19 21 23 24 25; Slice 13; Softmax 11; SoftmaxCrossEntropyLoss 13
Softplus 22; Softsign 22; SpaceToDepth 13 28; Split 11; SplitToSequence 24; Sqrt 6 13
Squeeze 11 21 23 24 25; Sub 6 13 14; Sum 6 8 13; Tan 22; Tanh 6 13; ThresholdedRelu 22
Tile 13; TopK 11 24; Transpose 13 21 23 24 25; Unique 28; Unsqueeze 11 21 23 24 25; Where 16
"""

_IN = {"axis": "in"}
#: extra checks of some of those steps, by (op, since)
_OPTIONS: dict[tuple[str, int], dict] = {
    **{(op, 11): dict(neg=_IN) for op in ("ArgMax", "ArgMin", "Compress", "Concat", "Hardmax",
                                          "LogSoftmax", "Softmax", "Split", "TopK")},
    **{(op, 11): dict(neg={"axes": "in"}) for op in (
        "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
        "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare", "Squeeze")},
    ("Unsqueeze", 11): dict(neg={"axes": "out"}),
    ("Flatten", 11): dict(neg={"axis": "in+1"}),
    ("Gather", 11): dict(neg=_IN, down=_no_negative_indices(1)),
    ("OneHot", 11): dict(neg={"axis": "out"}, down=_no_negative_indices(0)),
    ("Scan", 11): dict(neg={"scan_input_axes": "refuse", "scan_output_axes": "refuse"}),
    **{(op, 8): dict(down=_same_shapes) for op in ("Max", "Min", "Mean", "Sum")},
    ("PRelu", 7): dict(up=_prelu_7, down=_prelu_6),
    ("Max", 12): dict(down=_minmax_ints("Greater")),
    ("Min", 12): dict(down=_minmax_ints("Less")),
    ("Mod", 28): dict(down=_mod_28),
    **{(op, 14): dict(down=_widen_small_ints) for op in ("Add", "Sub", "Mul", "Div")},
    ("ConvTranspose", 11): dict(up=_no_same_padding, down=_no_same_padding),
    ("Constant", 9): dict(down=_constant_9),
    **{(op, 7): dict(up=_refuse("opset 1's recurrence is written without the transpose of R; "
                                "not converted"),
                     down=_refuse("the output_sequence attribute of opset 1 decides whether Y is "
                                  "produced; not converted")) for op in ("GRU", "LSTM", "RNN")},
    ("AveragePool", 22): dict(up=_pool_22, down=_pool_22),
    ("MaxPool", 22): dict(up=_pool_22, down=_pool_22),
    ("Pad", 19): dict(new_values={"mode": {"wrap"}}),
    ("Resize", 19): dict(new_values={"coordinate_transformation_mode": {"half_pixel_symmetric"}}),
    ("ScatterElements", 18): dict(new_values={"reduction": {"max", "min"}}),
    ("ScatterND", 18): dict(new_values={"reduction": {"max", "min"}}),
    **{(op, 19): dict(neutral={"dilations": "ones"}) for op in ("AveragePool",)},
    ("LpPool", 18): dict(neutral={"dilations": "ones"}),
    ("MaxPool", 10): dict(neutral={"dilations": "ones"}),
}


def _parse(text: str) -> dict[tuple[str, int], Same]:
    out = {}
    for line in text.strip().splitlines():
        for item in line.split(";"):
            op, *versions = item.split()
            for v in versions:
                if (op, int(v)) in out:
                    raise RuntimeError(f"{op} {v} listed twice")
                out[(op, int(v))] = Same(**_OPTIONS.get((op, int(v)), {}))
    return out


ADAPTERS = _parse(_TABLE)
assert set(_OPTIONS) <= set(ADAPTERS), set(_OPTIONS) - set(ADAPTERS)

ML_ADAPTERS = {("TreeEnsembleClassifier", 3): Same(), ("TreeEnsembleRegressor", 3): Same()}
