"""Passes inside model-local functions whose nodes refer to the function's
attributes (``alpha = @a``): such an attribute has no value until a call binds
it, and two calls may bind it differently.

Common subexpressions must tell ``@a`` from ``@b`` (and from a literal), while
nodes with the same reference may merge.  Every pass that reads attributes
must leave a node alone when its value is only a reference: each model below
calls its function twice with different values, and the model optimized at
the runtime level (every pass) must give what the model as written gives, for
both calls."""

from __future__ import annotations

import numpy as np
import pytest

import onnxkit
from onnxkit.passes import optimize
from onnxkit.passes.cse import CommonSubexpressions

RNG = np.random.default_rng(11)


def _const(name: str, array: np.ndarray) -> str:
    """A Constant node in the text syntax."""
    dims = ",".join(map(str, array.shape))
    values = ", ".join(repr(float(v)) for v in array.reshape(-1))
    return f"{name} = Constant <value = float[{dims}] {{{values}}}> ()\n"


def _model_text(body: str, params: str, calls: tuple[str, str], decl: str, fn_opset: int = 21) -> str:
    """A model whose graph calls local.f twice (attributes ``calls[0]``, then
    ``calls[1]``) on its one input x; f's body reads x and writes y."""
    return f'''<ir_version: 10, opset_import: ["" : 21, "local" : 1]>
g ({decl}) => (y1, y2) {{
    y1 = local.f <{calls[0]}> (x)
    y2 = local.f <{calls[1]}> (x)
}}
<domain: "local", opset_import: ["" : {fn_opset}]>
f <{params}> (x) => (y) {{
{body}
}}'''


def _same_results(model_a, model_b, feeds):
    want = onnxkit.Session(model_a, optimize="none").run(None, feeds)
    got = onnxkit.Session(model_b, optimize="none").run(None, feeds)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def _body_ops(model) -> list[str]:
    return [n.op_type for n in model.functions[0].graph]


# ------------------------------------------------------------ common subexpressions
X34 = {"x": np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)}


def _cse(body: str, params: str = "a, b", calls=("a = 0.1, b = 0.2", "a = 0.3, b = 0.3")):
    text = _model_text(body, params, calls, "float[3,4] x")
    m = onnxkit.parse(text)
    changed = CommonSubexpressions()(m)
    _same_results(onnxkit.parse(text), m, X34)
    return m, changed


def test_cse_keeps_nodes_referring_to_different_attributes_apart():
    m, changed = _cse("""p = LeakyRelu <alpha: float = @a> (x)
        q = LeakyRelu <alpha: float = @b> (x)
        y = Add (p, q)""")
    assert not changed and _body_ops(m) == ["LeakyRelu", "LeakyRelu", "Add"]


def test_cse_merges_nodes_referring_to_the_same_attribute():
    m, changed = _cse("""p = LeakyRelu <alpha: float = @a> (x)
        q = LeakyRelu <alpha: float = @a> (x)
        y = Add (p, q)""")
    assert changed and _body_ops(m) == ["LeakyRelu", "Add"]


def test_cse_keeps_a_reference_and_a_literal_apart():
    """alpha = @a is 0.1 at the first call only: it is not the literal 0.1."""
    m, changed = _cse("""p = LeakyRelu <alpha: float = @a> (x)
        q = LeakyRelu <alpha: float = 0.1> (x)
        y = Add (p, q)""")
    assert not changed and _body_ops(m) == ["LeakyRelu", "LeakyRelu", "Add"]


def test_cse_keeps_constants_of_different_references_apart():
    m, changed = _cse("""p = Constant <value_float: float = @a> ()
        q = Constant <value_float: float = @b> ()
        r = Mul (x, p)
        s = Mul (x, q)
        y = Sub (r, s)""")
    assert not changed and _body_ops(m) == ["Constant", "Constant", "Mul", "Mul", "Sub"]


def test_cse_merges_chains_below_equal_references():
    m, changed = _cse("""p = Constant <value_float: float = @a> ()
        q = Constant <value_float: float = @a> ()
        r = Mul (x, p)
        s = Mul (x, q)
        y = Sub (r, s)""")
    assert changed and _body_ops(m) == ["Constant", "Mul", "Sub"]


# ------------------------------------------------------------ every pass, two calls
def _conv_body(conv_attrs: str, after: str = "y = Relu (c)") -> str:
    return (_const("w", RNG.standard_normal((4, 2, 3, 3)).astype(np.float32) * 0.3)
            + f"c = Conv {f'<{conv_attrs}> ' if conv_attrs else ''}(x, w)\n{after}")


def _bn_body() -> str:
    w = RNG.standard_normal((3, 2, 1, 1)).astype(np.float32)
    scale, bias, mean = (RNG.standard_normal(3).astype(np.float32) for _ in range(3))
    var = RNG.uniform(0.1, 1, 3).astype(np.float32)
    return ("".join(_const(n, a) for n, a in [("w", w), ("s", scale), ("b", bias), ("m", mean), ("v", var)])
            + "c = Conv (x, w)\ny = BatchNormalization <epsilon: float = @e> (c, s, b, m, v)")


def _dense_body(product: str, after: str = "y = Identity (p)") -> str:
    """w is square (4x4), so a product reads it either way round."""
    return (_const("w", RNG.standard_normal((4, 4)).astype(np.float32))
            + _const("bias", RNG.standard_normal(4).astype(np.float32)) + f"{product}\n{after}")


IMAGE = "float[1,2,7,7] x"
MATRIX = "float[3,4] x"
HEADS = "float[1,2,4,4] x"

# id -> (function body, its attribute parameters, the two calls, input declaration, function opset)
CASES = {
    "NhwcConv: Conv strides": (_conv_body("strides: ints = @s"), "s", ("s = [1, 1]", "s = [2, 2]"), IMAGE, 21),
    "NhwcConv: Conv pads and dilations": (_conv_body("pads: ints = @p, dilations: ints = @d"), "p, d",
                                          ("p = [1, 1, 1, 1], d = [1, 1]", "p = [0, 1, 2, 0], d = [2, 1]"),
                                          IMAGE, 21),
    # (the weight allows group 1 only: strides make the two calls differ)
    "NhwcConv: Conv group": (_conv_body("group: int = @g, strides: ints = @s"), "g, s",
                             ("g = 1, s = [1, 1]", "g = 1, s = [2, 1]"), IMAGE, 21),
    "NhwcConv: LeakyRelu alpha": (_conv_body("pads = [1, 1, 1, 1]", "y = LeakyRelu <alpha: float = @a> (c)"), "a",
                                  ("a = 0.1", "a = 0.5"), IMAGE, 21),
    "NhwcConv: HardSigmoid alpha, beta": (_conv_body("", "y = HardSigmoid <alpha: float = @a, beta: float = @b> (c)"),
                                          "a, b", ("a = 0.2, b = 0.5", "a = 0.5, b = 0.1"), IMAGE, 21),
    "NhwcConv: Clip-6 min, max": (_conv_body("", "y = Clip <min: float = @lo, max: float = @hi> (c)"), "lo, hi",
                                  ("lo = 0.0, hi = 6.0", "lo = -0.5, hi = 0.5"), IMAGE, 6),
    "NhwcMaxPool: MaxPool strides": (_conv_body("", "r = Relu (c)\ny = MaxPool <kernel_shape = [2, 2], "
                                                    "strides: ints = @s> (r)"), "s", ("s = [1, 1]", "s = [2, 2]"),
                                     IMAGE, 21),
    "Conv + BatchNormalization: epsilon": (_bn_body(), "e", ("e = 0.00001", "e = 0.5"), IMAGE, 21),
    "FusedMatMul: Gemm transB": (_dense_body("p = Gemm <transB: int = @t> (x, w, bias)"), "t",
                                 ("t = 0", "t = 1"), MATRIX, 21),
    "FusedMatMul: Gemm beta": (_dense_body("p = Gemm <beta: float = @b> (x, w, bias)"), "b",
                               ("b = 1.0", "b = 0.5"), MATRIX, 21),
    "FusedMatMul: Gemm alpha": (_dense_body("p = Gemm <alpha: float = @a> (x, w, bias)"), "a",
                                ("a = 1.0", "a = 2.0"), MATRIX, 21),
    "FusedMatMul: Transpose perm": (_dense_body("t = Transpose <perm: ints = @p> (w)\np = MatMul (x, t)"), "p",
                                    ("p = [1, 0]", "p = [0, 1]"), MATRIX, 21),
    "FusedMatMul: Gelu approximate": (_dense_body("m = MatMul (x, w)\np = Add (m, bias)",
                                                  "y = Gelu <approximate: string = @ap> (p)"), "ap",
                                      ('ap = "none"', 'ap = "tanh"'), MATRIX, 20),
    "Attention: Softmax axis": ("""t = Transpose <perm = [0, 1, 3, 2]> (x)
        s = MatMul (x, t)
        p = Softmax <axis: int = @ax> (s)
        y = MatMul (p, x)""", "ax", ("ax = -1", "ax = 2"), HEADS, 21),
    "LayerNormalization: ReduceMean axes": ("""mu = ReduceMean <axes: ints = @ax> (x)
        d = Sub (x, mu)
        sq = Mul (d, d)
        var = ReduceMean <axes: ints = @ax> (sq)
        eps = Constant <value_float = 0.00001> ()
        ve = Add (var, eps)
        sd = Sqrt (ve)
        y = Div (d, sd)""", "ax", ("ax = [-1]", "ax = [-2, -1]"), HEADS, 17),
    "identity: Transpose perm": ("y = Transpose <perm: ints = @p> (x)", "p",
                                 ("p = [0, 1, 2, 3]", "p = [0, 1, 3, 2]"), HEADS, 21),
    "identity: Cast to": ("y = Cast <to: int = @t> (x)", "t", ("t = 1", "t = 11"), MATRIX, 21),
    "identity: Slice-1 axes": ("y = Slice <starts = [0], ends = [2], axes: ints = @ax> (x)", "ax",
                               ("ax = [1]", "ax = [2]"), HEADS, 9),
    "shape folding: Shape start": ("y = Shape <start: int = @st> (x)", "st", ("st = 0", "st = 2"), HEADS, 21),
    "constant folding: Constant value": (_const("w", np.ones(4, np.float32))
                                         + "k = Constant <value_float: float = @v> ()\nm = Mul (w, k)\n"
                                           "y = Add (x, m)", "v", ("v = 1.0", "v = 3.0"), MATRIX, 21),
}


def _feeds(decl: str) -> dict:
    dims = [int(d) for d in decl[decl.index("[") + 1:decl.index("]")].split(",")]
    return {"x": RNG.standard_normal(dims).astype(np.float32)}


@pytest.mark.parametrize("case", CASES)
def test_runtime_level_leaves_attribute_references_to_each_call(case):
    body, params, calls, decl, fn_opset = CASES[case]
    text = _model_text(body, params, calls, decl, fn_opset)
    feeds = _feeds(decl)
    as_written = onnxkit.Session(onnxkit.parse(text), optimize="none").run(None, feeds)
    first, second = as_written
    assert first.dtype != second.dtype or not np.array_equal(first, second), \
        "the two calls must give different results, or a value baked in would not show"
    optimized = optimize(onnxkit.parse(text), "runtime")        # raises OptimizeError if a pass fails
    _same_results(onnxkit.parse(text), optimized, feeds)


# the same bodies with literal attributes: the rewrites still happen inside functions
LITERAL = {
    "NhwcConv": (_conv_body("strides = [2, 2], pads = [1, 1, 1, 1]", "y = LeakyRelu <alpha = 0.2> (c)"), IMAGE,
                 {"NhwcConv": 1, "Conv": 0, "LeakyRelu": 0}),
    "Conv + BatchNormalization": (_bn_body().replace("epsilon: float = @e", "epsilon = 0.001"), IMAGE,
                                  {"Conv": 0, "BatchNormalization": 0, "NhwcConv": 1}),
    "FusedMatMul": (_dense_body("p = Gemm <transB = 1, beta = 0.5> (x, w, bias)"), MATRIX,
                    {"FusedMatMul": 1, "Gemm": 0}),
}


@pytest.mark.parametrize("case", LITERAL)
def test_literal_attributes_in_a_function_still_fuse(case):
    body, decl, want_ops = LITERAL[case]
    text = _model_text(body, "unused", ("unused = 0", "unused = 1"), decl)
    optimized = optimize(onnxkit.parse(text), "runtime")
    ops = _body_ops(optimized)
    assert {op: ops.count(op) for op in want_ops} == want_ops
    _same_results(onnxkit.parse(text), optimized, _feeds(decl))
