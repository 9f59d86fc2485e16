"""Adapters one family at a time, and what a conversion carries through:
each converted model passes onnxkit's and onnx's checkers at the target and
gives the original's outputs in onnxkit and onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import onnxkit
from onnxkit.check import find_problems
from onnxkit.convert import ConversionError, Refusal, convert_version, onnxruntime_limits
from onnxkit.errors import OnnxkitError


def _model(text: str) -> onnxkit.Model:
    """A model from text, its graph outputs typed (the checker wants them)."""
    m = onnxkit.parse(text)
    typed = onnxkit.infer_shapes(onnxkit.parse(text))
    for v, t in zip(m.graph.outputs, typed.graph.outputs):
        v.type = v.type or t.type
    return m


def _ops(m: onnxkit.Model) -> list[str]:
    return [n.op_type for n in m.graph]


def _same_outputs(model: onnxkit.Model, target, feeds: dict, *, ort_check: bool = True) -> onnxkit.Model:
    want = onnxkit.Session(model, optimize="none").run(None, feeds)
    out = convert_version(model, target)
    assert not find_problems(out), find_problems(out)
    data = onnxkit.to_bytes(out)
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    got = onnxkit.Session(onnxkit.load(data), optimize="none").run(None, feeds)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    if ort_check:
        got = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feeds)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    return out


X345 = {"x": np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)}


# ------------------------------------------------------------------ axes: Reduce, Squeeze, Split
@pytest.mark.parametrize("src,dst", [(18, 11), (18, 13), (11, 18), (13, 21), (21, 9)])
def test_reduce_axes_attribute_and_input(src, dst):
    if src >= 18:
        body = "axes = Constant <value = int64[1] {1}> () \n y = ReduceMean <keepdims = 0> (x, axes)"
    else:
        body = "y = ReduceMean <keepdims = 0, axes = [1]> (x)"
    m = _model(f'<ir_version: 8, opset_import: ["" : {src}]> g (float[3,4,5] x) => (float[3,5] y) {{ {body} }}')
    out = _same_outputs(m, dst, X345)
    red = [n for n in out.graph if n.op_type == "ReduceMean"][0]
    assert (red.attr("axes") is not None) == (dst < 18)


def test_reduce_noop_with_empty_axes_refused_down():
    m = _model('<ir_version: 8, opset_import: ["" : 18]> g (float[3,4,5] x) => (y) '
               '{ y = ReduceSum <noop_with_empty_axes = 1> (x) }')
    with pytest.raises(ConversionError, match="noop_with_empty_axes"):
        convert_version(m, 11)          # ReduceSum has had an axes input since 13


def test_reduce_computed_axes_refused_with_the_node():
    m = _model('<ir_version: 8, opset_import: ["" : 18]> g (float[3,4,5] x, int64[1] a) => (y) '
               '{ y = ReduceSum (x, a) }')
    with pytest.raises(ConversionError) as e:
        convert_version(m, 11)
    (r,) = e.value.refusals
    assert isinstance(r, Refusal) and r.op_type == "ReduceSum" and r.index == 0 and "not a constant" in r.reason


@pytest.mark.parametrize("src,dst", [(13, 11), (11, 13), (21, 7)])
def test_squeeze_unsqueeze(src, dst):
    if src >= 13:
        body = ("a = Constant <value = int64[2] {0, -1}> () \n u = Unsqueeze (x, a) \n"
                "b = Constant <value = int64[1] {0}> () \n y = Squeeze (u, b)")
    else:
        body = "u = Unsqueeze <axes = [0, -1]> (x) \n y = Squeeze <axes = [0]> (u)"
    m = _model(f'<ir_version: 8, opset_import: ["" : {src}]> g (float[3,4,5] x) => (y) {{ {body} }}')
    _same_outputs(m, dst, X345)


@pytest.mark.parametrize("dst", [13, 11])
def test_split_num_outputs_down(dst):
    m = _model('<ir_version: 8, opset_import: ["" : 18]> g (float[3,4,5] x) => (a, b) '
               '{ a, b = Split <axis = 2, num_outputs = 2> (x) }')
    _same_outputs(m, dst, X345)


def test_split_up_names_its_parts():
    m = _model('<ir_version: 8, opset_import: ["" : 13]> g (float[3,4,5] x) => (a, b) '
               '{ a, b = Split <axis = 1> (x) }')
    out = _same_outputs(m, 18, X345)
    assert out.graph.nodes[0].attr("num_outputs") == 2


# ------------------------------------------------------------------ inputs: Clip, Pad, Slice, TopK
@pytest.mark.parametrize("src,dst", [(11, 9), (9, 13), (13, 6)])
def test_clip(src, dst):
    body = ("lo = Constant <value = float {-0.5}> () \n hi = Constant <value = float {0.5}> () \n"
            "y = Clip (x, lo, hi)") if src >= 11 else "y = Clip <min = -0.5, max = 0.5> (x)"
    m = _model(f'<ir_version: 8, opset_import: ["" : {src}]> g (float[3,4,5] x) => (y) {{ {body} }}')
    _same_outputs(m, dst, X345)


@pytest.mark.parametrize("src,dst", [(18, 10), (10, 18), (11, 21)])
def test_pad(src, dst):
    if src >= 18:
        body = ('p = Constant <value = int64[2] {1, 2}> () \n v = Constant <value = float {1.5}> () \n'
                'ax = Constant <value = int64[1] {2}> () \n y = Pad (x, p, v, ax)')
    elif src >= 11:
        body = ('p = Constant <value = int64[6] {0, 0, 1, 0, 0, 2}> () \n v = Constant <value = float {1.5}> () \n'
                'y = Pad (x, p, v)')
    else:
        body = "y = Pad <pads = [0, 0, 1, 0, 0, 2], value = 1.5> (x)"
    m = _model(f'<ir_version: 8, opset_import: ["" : {src}]> g (float[3,4,5] x) => (y) {{ {body} }}')
    _same_outputs(m, dst, X345)


@pytest.mark.parametrize("src,dst", [(13, 9), (9, 13)])
def test_slice(src, dst):
    if src >= 10:
        body = ('s = Constant <value = int64[2] {1, 0}> () \n e = Constant <value = int64[2] {3, -1}> () \n'
                'a = Constant <value = int64[2] {1, -1}> () \n y = Slice (x, s, e, a)')
    else:
        body = "y = Slice <starts = [1, 0], ends = [3, -1], axes = [1, 2]> (x)"
    m = _model(f'<ir_version: 8, opset_import: ["" : {src}]> g (float[3,4,5] x) => (y) {{ {body} }}')
    _same_outputs(m, dst, X345)


def test_slice_steps_refused_before_10():
    m = _model('<ir_version: 8, opset_import: ["" : 13]> g (float[3,4,5] x) => (y) {'
               's = Constant <value = int64[1] {0}> () \n e = Constant <value = int64[1] {4}> () \n'
               'a = Constant <value = int64[1] {1}> () \n t = Constant <value = int64[1] {2}> () \n'
               'y = Slice (x, s, e, a, t) }')
    with pytest.raises(ConversionError, match="steps"):
        convert_version(m, 9)


@pytest.mark.parametrize("src,dst", [(11, 9), (9, 11)])
def test_topk(src, dst):
    body = ('k = Constant <value = int64[1] {2}> () \n v, i = TopK <axis = 1> (x, k)' if src >= 10
            else "v, i = TopK <axis = 1, k = 2> (x)")
    m = _model(f'<ir_version: 8, opset_import: ["" : {src}]> g (float[3,4,5] x) => (v, i) {{ {body} }}')
    _same_outputs(m, dst, X345)


# ------------------------------------------------------------------ Softmax family at 13
@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_axis_semantics_both_ways(op, axis):
    m13 = _model(f'<ir_version: 8, opset_import: ["" : 13]> g (float[3,4,5] x) => (float[3,4,5] y) '
                 f'{{ y = {op} <axis = {axis}> (x) }}')
    out = _same_outputs(m13, 11, X345)
    assert ("Transpose" in _ops(out)) == (axis in (0, 1))
    m11 = _model(f'<ir_version: 8, opset_import: ["" : 11]> g (float[3,4,5] x) => (float[3,4,5] y) '
                 f'{{ y = {op} <axis = {axis}> (x) }}')
    out = _same_outputs(m11, 13, X345)
    assert ("Flatten" in _ops(out)) == (axis in (0, 1))


def test_softmax_down_refused_without_rank():
    m = _model('<ir_version: 8, opset_import: ["" : 13]> g (float[2,3] x) => (y) { y = Softmax <axis = 0> (x) }')
    m.graph.inputs[0].type = onnxkit.TensorType(onnxkit.DataType.FLOAT, None)     # rank unknown
    with pytest.raises(ConversionError, match="rank is unknown"):
        convert_version(m, 12)


# ------------------------------------------------------------------ norms, dropout, cast, functions
def test_batchnorm_and_dropout_down_to_7():
    m = _model('<ir_version: 8, opset_import: ["" : 15]> g (float[2,3,4] x) => (y) {'
               's = Constant <value = float[3] {1, 2, 3}> () \n b = Constant <value = float[3] {0, 1, 0}> () \n'
               'mu = Constant <value = float[3] {0, 0.5, 1}> () \n v = Constant <value = float[3] {1, 2, 4}> () \n'
               'n = BatchNormalization (x, s, b, mu, v) \n y = Dropout (n) }')
    x = {"x": np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)}
    _same_outputs(m, 7, x)
    _same_outputs(m, 9, x)


@pytest.mark.parametrize("dst", [16, 13, 9])
def test_layernorm_expanded_below_17(dst):
    m = _model('<ir_version: 8, opset_import: ["" : 17]> g (float[3,4,5] x) => (y) {'
               's = Constant <value = float[5] {1, 2, 3, 4, 5}> () \n b = Constant <value = float[5] {0, 1, 0, 1, 0}> () \n'
               'y = LayerNormalization <epsilon = 0.001> (x, s, b) }')
    out = _same_outputs(m, dst, X345)
    assert "LayerNormalization" not in _ops(out)


@pytest.mark.parametrize("approx", ["none", "tanh"])
def test_gelu_expanded_below_20(approx):
    m = _model(f'<ir_version: 9, opset_import: ["" : 20]> g (float[3,4,5] x) => (y) '
               f'{{ y = Gelu <approximate = "{approx}"> (x) }}')
    out = _same_outputs(m, 17, X345)
    assert "Gelu" not in _ops(out)


def test_function_body_expansion_hardswish():
    m = _model('<ir_version: 8, opset_import: ["" : 14]> g (float[3,4,5] x) => (y) { y = HardSwish (x) }')
    out = _same_outputs(m, 13, X345)
    assert _ops(out) == ["HardSigmoid", "Mul"]


def test_castlike_to_cast():
    m = _model('<ir_version: 8, opset_import: ["" : 15]> g (float[3,4,5] x, int32[1] like) => (y) '
               '{ y = CastLike (x, like) }')
    out = _same_outputs(m, 13, {**X345, "like": np.zeros(1, np.int32)})
    assert _ops(out) == ["Cast"]


def test_dtype_not_accepted_at_target_is_refused():
    m = _model('<ir_version: 8, opset_import: ["" : 14]> g (int8[4] x) => (y) { y = Relu (x) }')
    with pytest.raises(ConversionError, match=r"tensor\(int8\).*Relu-13.*from opset 14"):
        convert_version(m, 13)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
def test_small_int_arithmetic_computed_in_int64_with_exact_casts(op):
    m = _model(f'<ir_version: 8, opset_import: ["" : 14]> g (int8[4] x, int8[4] y) => (z) {{ z = {op} (x, y) }}')
    feeds = {"x": np.array([120, -128, 7, -7], np.int8), "y": np.array([10, -1, 2, 3], np.int8)}
    out = _same_outputs(m, 13, feeds)
    assert _ops(out) == ["Cast", "Cast", op, "Cast"]


# ------------------------------------------------------------------ resize / upsample
@pytest.mark.parametrize("src,dst", [(9, 11), (9, 13), (13, 10), (13, 9)])
def test_upsample_resize(src, dst):
    if src == 9:
        body = 's = Constant <value = float[4] {1, 1, 2, 3}> () \n y = Upsample <mode = "nearest"> (x, s)'
    else:
        body = ('r = Constant <value = float[0] {}> () \n s = Constant <value = float[4] {1, 1, 2, 3}> () \n'
                'y = Resize <mode = "nearest", coordinate_transformation_mode = "asymmetric", '
                'nearest_mode = "floor"> (x, r, s)')
    m = _model(f'<ir_version: 7, opset_import: ["" : {src}]> g (float[1,2,3,4] x) => (y) {{ {body} }}')
    x = {"x": np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)}
    _same_outputs(m, dst, x, ort_check=dst >= 10)


def test_resize_half_pixel_refused_at_10():
    m = _model('<ir_version: 7, opset_import: ["" : 13]> g (float[1,2,3,4] x) => (y) {'
               'r = Constant <value = float[0] {}> () \n s = Constant <value = float[4] {1, 1, 2, 2}> () \n'
               'y = Resize <mode = "linear"> (x, r, s) }')
    with pytest.raises(ConversionError, match="asymmetric"):
        convert_version(m, 10)


# ------------------------------------------------------------------ what is carried through
def test_subgraphs_functions_metadata_value_info():
    m = _model('''<ir_version: 8, opset_import: ["" : 18, "local" : 1]>
    g (float[3,4,5] x, bool c) => (float[3,4] y) {
        t = local.F (x)
        y = If (c) <then_branch = g1 () => (float[3,4] a) {
                ax = Constant <value = int64[1] {2}> ()
                a = ReduceSum <keepdims = 0> (t, ax) },
            else_branch = g2 () => (float[3,4] b) {
                ax2 = Constant <value = int64[1] {2}> ()
                b = ReduceMax <keepdims = 0> (t, ax2) }>
    }
    <domain: "local", opset_import: ["" : 18]>
    F (x) => (y) { ax = Constant <value = int64[1] {1}> ()
                   m = ReduceMean <keepdims = 1> (x, ax)
                   y = Sub (x, m) }''')
    m.metadata_props["author"] = "me"
    m.graph.value_info.append(onnxkit.Value("t", onnxkit.TensorType(onnxkit.DataType.FLOAT, [3, 4, 5])))
    feeds = {**X345, "c": np.array(True)}
    out = _same_outputs(m, 13, feeds)
    assert out.metadata_props == {"author": "me"}
    assert [v.name for v in out.graph.value_info] == ["t"]
    assert out.functions[0].opset_imports[""] == 13
    reds = [n for g in out.all_graphs() for n in g if n.op_type in ("ReduceMax", "ReduceMean")]
    assert len(reds) == 2 and all(n.attr("axes") is not None for n in reds)
    feeds["c"] = np.array(False)
    _same_outputs(m, 13, feeds)


def test_one_error_lists_every_node_and_model_is_unchanged():
    text = ('<ir_version: 8, opset_import: ["" : 20]> g (float[3,4,5] x, int64[1] a) => (y, z) {'
            'y = ReduceSum (x, a) \n z = ReduceMax (x, a) }')
    m = _model(text)
    before = onnxkit.to_text(m)
    with pytest.raises(ConversionError) as e:
        convert_version(m, 11, inplace=True)
    assert isinstance(e.value, OnnxkitError)
    assert [(r.index, r.op_type) for r in e.value.refusals] == [(0, "ReduceSum"), (1, "ReduceMax")]
    assert "node 0" in str(e.value) and "node 1" in str(e.value)
    assert onnxkit.to_text(m) == before


def test_inplace_returns_the_model():
    m = _model('<ir_version: 8, opset_import: ["" : 13]> g (float[3,4,5] x) => (y) { y = Relu (x) }')
    assert convert_version(m, 17, inplace=True) is m and m.opset == 17 and m.ir_version == 8


def test_weights_are_not_read(tmp_path):
    b = onnxkit.GraphBuilder("g")
    x = b.input("x", "float", [3, 4])
    w = b.initializer(np.ones((4, 4), np.float32), "W")
    b.output(b.op.Relu(b.op.MatMul(x, w)), "y")
    path = str(tmp_path / "m.onnx")
    onnxkit.save(b.model(opset=17), path, external_data=True, size_threshold=0)
    m = onnxkit.load(path)
    tensor = m.graph.initializers["W"].const_value
    calls = []
    orig = type(tensor).numpy
    type(tensor).numpy = lambda self: calls.append(1) or orig(self)
    try:
        out = convert_version(m, 11)
    finally:
        type(tensor).numpy = orig
    assert not calls and out.graph.initializers["W"].const_value is tensor


def test_targets_dict_and_onnxruntime():
    m = _model('<ir_version: 10, opset_import: ["" : 21]> g (float[3,4,5] x) => (y) { y = Relu (x) }')
    assert convert_version(m, {"": 13}).opset == 13
    assert convert_version(m, {"ai.onnx": 17}).opset == 17
    ir, onnx_max, _ = onnxruntime_limits()
    out = convert_version(m, "onnxruntime")
    assert out.opset == min(21, onnx_max) and out.ir_version <= ir
    with pytest.raises(ConversionError, match="unknown target"):
        convert_version(m, "tensorrt")


def test_onnxruntime_facts_match_the_installed_onnxruntime():
    from onnx import helper
    ir, onnx_max, ml_max = onnxruntime_limits()

    def loads(ir_version, opset, ml=None):
        g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", 1, [1])],
                              [helper.make_tensor_value_info("y", 1, [1])])
        ops = [helper.make_opsetid("", opset)] + ([helper.make_opsetid("ai.onnx.ml", ml)] if ml else [])
        mp = helper.make_model(g, opset_imports=ops)
        mp.ir_version = ir_version
        try:
            ort.InferenceSession(mp.SerializeToString(), providers=["CPUExecutionProvider"])
            return True
        except Exception:   # noqa: BLE001
            return False

    assert loads(ir, onnx_max, ml_max)
    assert not loads(ir, onnx_max + 1) and not loads(ir, onnx_max, ml_max + 1)


def test_ir_version_follows_the_opset():
    m = _model('<ir_version: 10, opset_import: ["" : 21]> g (float[3,4,5] x) => (y) { y = Relu (x) }')
    assert convert_version(m, 11).ir_version == 6
    assert convert_version(m, 11, ir_version=8).ir_version == 8
    m = _model('<ir_version: 6, opset_import: ["" : 11]> g (float[3,4,5] x) => (y) { y = Relu (x) }')
    assert convert_version(m, 21).ir_version == 10


@pytest.mark.parametrize("attrs", ["is_causal = 1", "kv_num_heads = 2, q_num_heads = 4", "softcap = 2.0"])
def test_attention_expanded_below_23(attrs):
    three_d = "q_num_heads" in attrs
    qs, ks = ("[2,3,8]", "[2,5,4]") if three_d else ("[2,2,3,4]", "[2,2,5,4]")
    m = _model(f'<ir_version: 10, opset_import: ["" : 23]> g (float{qs} q, float{ks} k, float{ks} v) => (y) '
               f'{{ y = Attention <{attrs}> (q, k, v) }}')
    rng = np.random.default_rng(2)
    feeds = {n: rng.standard_normal([getattr(d, "value", d) for d in m.graph.inputs[i].shape]).astype(np.float32)
             for i, n in enumerate(["q", "k", "v"])}
    out = _same_outputs(m, 17, feeds)
    assert "Attention" not in _ops(out)


def test_refusal_says_how_far_the_node_goes():
    m = _model('<ir_version: 8, opset_import: ["" : 14]> g (int8[4] x) => (y) { y = Relu (x) }')
    with pytest.raises(ConversionError) as e:
        convert_version(m, 13)
    assert e.value.refusals[0].lowest == 14 and "lowest opset it converts to: 14" in str(e.value)


def test_one_type_per_type_parameter():
    m = _model('<ir_version: 8, opset_import: ["" : 13]> g (float[4] x, double[4] p) => (y) { y = Pow (x, p) }')
    with pytest.raises(ConversionError, match="must have one type"):
        convert_version(m, 11)


def test_mod_fmod0_on_floats_needs_28():
    m = _model('<ir_version: 8, opset_import: ["" : 28]> g (float[4] x, float[4] y) => (z) { z = Mod (x, y) }')
    with pytest.raises(ConversionError, match="fmod=0"):
        convert_version(m, 13)
    m = _model('<ir_version: 8, opset_import: ["" : 28]> g (int32[4] x, int32[4] y) => (z) { z = Mod (x, y) }')
    assert convert_version(m, 13).opset == 13


def test_shape_start_end_down_to_slice():
    m = _model('<ir_version: 8, opset_import: ["" : 21]> g (float[3,4,5] x) => (y) { y = Shape <start = -2> (x) }')
    out = _same_outputs(m, 13, X345)
    assert "Shape" in _ops(out) and "Slice" in _ops(out)


def test_resize_18_axes_become_full_rank_scales():
    m = _model('<ir_version: 8, opset_import: ["" : 19]> g (float[1,2,3,4] x) => (y) {'
               's = Constant <value = float[2] {2, 3}> () \n'
               'y = Resize <mode = "nearest", axes = [2, 3]> (x, , s) }')
    x = {"x": np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)}
    out = _same_outputs(m, 13, x)
    assert out.graph.nodes[-1].attr("axes") is None


def test_int_constant_becomes_an_initializer_below_9():
    m = _model('<ir_version: 8, opset_import: ["" : 13]> g (float[3,4,5] x) => (y) {'
               's = Constant <value = int64[2] {4, 15}> () \n y = Reshape (x, s) }')
    out = _same_outputs(m, 7, X345)
    assert _ops(out) == ["Reshape"] and list(out.graph.initializers) == ["s"]
    assert _ops(convert_version(m, 4)) == ["Reshape"]     # the shape as an attribute again
    m = _model('<ir_version: 8, opset_import: ["" : 13]> g (float[3,4,5] x) => (y) {'
               's = Constant <value = int64[2] {4, 15}> () \n y = Expand (x, s) }')
    with pytest.raises(ConversionError):
        convert_version(m, 7)


def test_pool_ceil_window_in_the_padding_is_refused_across_22():
    text = ('<ir_version: 8, opset_import: ["" : 22]> g (float[1,1,4,4] x) => (y) '
            '{{ y = AveragePool <kernel_shape = [2, 2], strides = [2, 2], pads = [{p}], ceil_mode = 1> (x) }}')
    x = {"x": np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)}
    _same_outputs(_model(text.format(p="0, 0, 0, 0")), 19, x)
    with pytest.raises(ConversionError, match="right padding"):
        convert_version(_model(text.format(p="0, 0, 1, 1")), 19)


def test_convtranspose_same_padding_is_refused_across_11():
    m = _model('<ir_version: 8, opset_import: ["" : 13]> g (float[1,1,3,3] x, float[1,1,3,3] w) => (y) '
               '{ y = ConvTranspose <auto_pad = "SAME_UPPER", strides = [2, 2]> (x, w) }')
    with pytest.raises(ConversionError, match="SAME_UPPER"):
        convert_version(m, 10)


def test_ai_onnx_ml_domain_is_converted_by_its_own_target():
    m = onnxkit.parse('''<ir_version: 8, opset_import: ["" : 13, "ai.onnx.ml" : 3]>
        g (float[3,2] x) => (float[3,1] y) {
            y = ai.onnx.ml.TreeEnsembleRegressor <n_targets = 1, nodes_featureids = [0],
                nodes_modes = ["LEAF"], nodes_nodeids = [0], nodes_treeids = [0],
                nodes_truenodeids = [0], nodes_falsenodeids = [0],
                nodes_values = [0.0], target_ids = [0], target_nodeids = [0], target_treeids = [0],
                target_weights = [1.5]> (x) }''')
    out = convert_version(m, {"ai.onnx.ml": 1})
    assert out.opset_imports == {"": 13, "ai.onnx.ml": 1}
    want = onnxkit.Session(m, optimize="none").run(None, {"x": np.ones((3, 2), np.float32)})
    got = onnxkit.Session(out, optimize="none").run(None, {"x": np.ones((3, 2), np.float32)})
    np.testing.assert_allclose(got[0], want[0])
    with pytest.raises(ConversionError, match="TreeEnsemble"):
        convert_version(m, {"ai.onnx.ml": 5})


def test_unknown_or_bad_targets_are_refused():
    m = _model('<ir_version: 10, opset_import: ["" : 21]> g (float[3,4,5] x) => (y) { y = Relu (x) }')
    for bad in (99, 0, "11", {"": "x"}, 2.5):
        with pytest.raises(ConversionError):
            convert_version(m, bad)


def test_binary_broadcast_attributes_before_7():
    m = _model('<ir_version: 8, opset_import: ["" : 13]> g (float[3,4,5] x, float[5] b) => (y) { y = Add (x, b) }')
    feeds = {**X345, "b": np.arange(5, dtype=np.float32)}
    out = _same_outputs(m, 6, feeds, ort_check=False)
    assert out.graph.nodes[0].attr("broadcast") == 1
    m6 = _model('<ir_version: 3, opset_import: ["" : 6]> g (float[3,4,5] x, float[4] b) => (y) '
                '{ y = Add <broadcast = 1, axis = 1> (x, b) }')
    feeds = {**X345, "b": np.arange(4, dtype=np.float32)}
    out = _same_outputs(m6, 13, feeds)
    assert _ops(out) == ["Unsqueeze", "Add"] or _ops(out)[-1] == "Add"
    m = _model('<ir_version: 8, opset_import: ["" : 13]> g (float[3,1,5] x, float[4,1] b) => (y) { y = Add (x, b) }')
    with pytest.raises(ConversionError, match="broadcasting"):
        convert_version(m, 6)


def test_refusals_inside_subgraphs_name_the_path():
    m = _model('''<ir_version: 8, opset_import: ["" : 18]>
    g (float[3,4,5] x, bool c, int64[1] a) => (float[3,4,5] y) {
        y = If (c) <then_branch = g1 () => (float[3,4,5] t) { t = Relu (x) },
                    else_branch = g2 () => (float[3,4,5] e) { r = ReduceMax <keepdims = 1> (x, a)
                                                              e = Sub (x, r) }>
    }''')
    with pytest.raises(ConversionError) as e:
        convert_version(m, 13)
    (r,) = e.value.refusals
    assert r.where == "main graph > node 0 (If) else_branch" and r.index == 0 and r.op_type == "ReduceMax"


def test_value_info_follows_the_value_an_adapter_replaces():
    m = _model('<ir_version: 8, opset_import: ["" : 13]> g (float[3,4,5] x) => (float[3,4,5] y) '
               '{ t = Softmax <axis = 0> (x) \n y = Relu (t) }')
    m.graph.value_info.append(m.graph.nodes[0].outputs[0])
    m.graph.nodes[0].outputs[0].type = onnxkit.TensorType(onnxkit.DataType.FLOAT, [3, 4, 5])
    out = _same_outputs(m, 11, X345)
    (vi,) = out.graph.value_info
    assert vi.name == "t" and vi.producer().op_type == "Transpose"


# ------------------------------------------------------------------ PRelu 7, Max/Min 12, Reshape 14, Pad 18
def test_prelu_per_channel_slope_up_to_7():
    """PRelu-6's 1-D slope applies per channel (axis 1); at 7 it broadcasts
    from the right, so it is unsqueezed to (C, 1, 1)."""
    m = _model('<ir_version: 3, opset_import: ["" : 6]> g (float[2,3,4,5] x) => (float[2,3,4,5] y) '
               '{ s = Constant <value = float[3] {0.1, 0.2, 0.3}> () \n y = PRelu (x, s) }')
    x = {"x": np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)}
    out = _same_outputs(m, 13, x)
    assert "Unsqueeze" in _ops(out)
    want = np.where(x["x"] < 0, x["x"] * np.array([0.1, 0.2, 0.3], np.float32).reshape(3, 1, 1), x["x"])
    np.testing.assert_allclose(onnxkit.Session(out).run(None, x)[0], want, rtol=1e-6)


@pytest.mark.parametrize("op", ["Max", "Min"])
def test_integer_max_min_down_to_11_through_where(op):
    """Max/Min take integers from 12; below, Where(Greater(a, b), a, b) is
    exact for every int64 (a float Cast would not be)."""
    m = _model(f'<ir_version: 8, opset_import: ["" : 13]> g (int64[4] a, int64[2,1] b, int64[4] c) => (int64[2,4] y) '
               f'{{ y = {op} (a, b, c) }}')
    big = 2**62 + 1
    feeds = {"a": np.array([big, -big, 3, 0], np.int64), "b": np.array([[big - 1], [-5]], np.int64),
             "c": np.array([1, 2, big + 2, -1], np.int64)}
    out = _same_outputs(m, 11, feeds)
    assert op not in _ops(out) and "Where" in _ops(out)
    with pytest.raises(ConversionError) as e:
        convert_version(m, 8)
    (r,) = e.value.refusals
    assert r.op_type == op and r.lowest == 9 and "Where" in r.reason


def test_reshape_allowzero_with_a_computed_shape_goes_down_exactly():
    """allowzero=1 with a shape computed at run time: at 13 an If makes the
    empty result of a shape holding 0, the Reshape runs otherwise."""
    m = _model('<ir_version: 8, opset_import: ["" : 18]> g (float[N,3] x, int64[2] s) => (float[A,B] y) '
               '{ y = Reshape <allowzero = 1> (x, s) }')
    for x, s in ((np.zeros((0, 3), np.float32), [3, 0]), (np.arange(6, dtype=np.float32).reshape(2, 3), [3, 2]),
                 (np.arange(6, dtype=np.float32).reshape(2, 3), [-1, 1])):
        out = _same_outputs(m, 13, {"x": x, "s": np.array(s, np.int64)})
        assert "If" in _ops(out)
    y = onnxkit.Session(out).run(None, {"x": np.zeros((0, 3), np.float32), "s": np.array([3, 0], np.int64)})[0]
    assert y.shape == (3, 0)        # allowzero=0 would have copied the input's dim 1 (3)


def test_reshape_allowzero_from_the_input_shape_needs_no_if():
    """Exporters' Concat(Shape slices, constants): a dim taken from the
    input's own dim at the same place is the same whether or not it is 0."""
    m = _model('<ir_version: 8, opset_import: ["" : 18]> g (float[N,6] x) => (float[N,2,3] y) '
               '{ n = Shape <start = 0, end = 1> (x) \n c = Constant <value = int64[2] {2, 3}> () \n'
               ' s = Concat <axis = 0> (n, c) \n y = Reshape <allowzero = 1> (x, s) }')
    for rows in (0, 4):
        out = _same_outputs(m, 11, {"x": np.ones((rows, 6), np.float32)})
        assert "If" not in _ops(out) and "Reshape" in _ops(out)


def test_pad_axes_with_computed_pads_down_to_13():
    m = _model('<ir_version: 8, opset_import: ["" : 18]> g (float[3,4,5] x, int64[2] p) => (y) '
               '{ ax = Constant <value = int64[1] {-1}> () \n y = Pad (x, p, , ax) }')
    out = _same_outputs(m, 13, {**X345, "p": np.array([1, 2], np.int64)})
    assert "Gather" in _ops(out)


@pytest.mark.parametrize("upper,k", [(1, None), (0, -1), (1, 2)])
def test_trilu_down_to_13_through_where(upper, k):
    kin = ", kk" if k is not None else ""
    kdef = f"kk = Constant <value = int64 {{{k}}}> () \n" if k is not None else ""
    m = _model(f'<ir_version: 8, opset_import: ["" : 14]> g (int32[2,3,5] x) => (int32[2,3,5] y) '
               f'{{ {kdef} y = Trilu <upper = {upper}> (x{kin}) }}')
    x = {"x": np.arange(30, dtype=np.int32).reshape(2, 3, 5) + 1}
    out = _same_outputs(m, 13, x)
    assert "Trilu" not in _ops(out) and "Where" in _ops(out)
    want = (np.triu if upper else np.tril)(x["x"], 0 if k is None else k)
    np.testing.assert_array_equal(onnxkit.Session(out).run(None, x)[0], want)


def test_split_num_outputs_of_an_unknown_dim_down_to_13():
    """num_outputs over a dim known only at run time: the sizes (k-1 chunks
    of ceil(d / k), then the rest) are computed from the shape."""
    m = _model('<ir_version: 8, opset_import: ["" : 18]> g (float[N,2] x) => (a, b, c) '
               '{ a, b, c = Split <num_outputs = 3, axis = 0> (x) }')
    for n in (7, 9, 3):
        out = _same_outputs(m, 13, {"x": np.arange(2 * n, dtype=np.float32).reshape(n, 2)})
    assert "Split" in _ops(out) and "Div" in _ops(out)
    with pytest.raises(ConversionError, match="not a constant"):
        convert_version(m, 11)          # Split-11 takes its sizes as an attribute


@pytest.mark.parametrize("op,target", [("ReverseSequence", 21), ("Unique", 13)])
def test_bfloat16_moved_values_go_down_between_exact_casts(op, target):
    """ReverseSequence / Unique take bfloat16 from 28: below, they run on
    float between Casts (every bfloat16 is a float: the same values, order
    and ties come back)."""
    import ml_dtypes
    if op == "Unique":
        text = 'g (bfloat16[6] x) => (bfloat16[N] y) { y = Unique <sorted = 1> (x) }'
        x = np.array([3.5, -1, 3.5, 0.1, -0.0, 0], ml_dtypes.bfloat16)
    else:
        text = ('g (bfloat16[3,2] x) => (bfloat16[3,2] y) { l = Constant <value = int64[2] {3, 1}> () \n'
                ' y = ReverseSequence <batch_axis = 1, time_axis = 0> (x, l) }')
        x = np.arange(6).reshape(3, 2).astype(ml_dtypes.bfloat16) / 3
    m = _model('<ir_version: 10, opset_import: ["" : 28]> ' + text)
    out = convert_version(m, target)
    assert out.opset == target and _ops(out).count("Cast") == 2
    assert not find_problems(out), find_problems(out)
    want = onnxkit.Session(m, optimize="none").run(None, {"x": x})[0]
    got = onnxkit.Session(out, optimize="none").run(None, {"x": x})[0]
    assert got.dtype == want.dtype and np.array_equal(got.view(np.uint16), want.view(np.uint16))
    with pytest.raises(ConversionError, match="does not accept"):
        convert_version(m, 11)      # no Cast takes bfloat16 before 13


def test_initializer_made_going_down_raises_an_ir_3_model_to_4():
    """Constant-9 -> 8 turns an int64 Constant into an initializer, which IR
    3 allows only as a graph input: the IR version goes to 4."""
    m = _model('<ir_version: 3, opset_import: ["" : 9]> g (float[2,6] x) => (float[3,4] y) '
               '{ s = Constant <value = int64[2] {3, 4}> () \n y = Reshape (x, s) }')
    out = _same_outputs(m, 8, {"x": np.arange(12, dtype=np.float32).reshape(2, 6)})
    assert out.ir_version == 4 and "s" in out.graph.initializers


def test_reshape_allowzero_with_a_computed_shape_is_refused_below_9():
    m = _model('<ir_version: 8, opset_import: ["" : 18]> g (float[N,3] x, int64[2] s) => (float[A,B] y) '
               '{ y = Reshape <allowzero = 1> (x, s) }')
    with pytest.raises(ConversionError, match="allowzero=1") as e:
        convert_version(m, 8)
    assert e.value.refusals[0].op_type == "Reshape"
