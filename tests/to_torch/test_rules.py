"""The conversion-rule table and the module's structure, on small models made
with onnx.helper: version selection, shape computations at every size, ONNX
names, the numpy fallback (and its warning off the CPU), a data-dependent
Loop, initializers listed as inputs."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto as T  # noqa: E402
from onnx import helper  # noqa: E402

import onnxkit  # noqa: E402
from onnxkit.to_torch import find_rule, rule, to_torch  # noqa: E402
from onnxkit.to_torch._rules import elementwise  # noqa: E402


def _model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _session(m, feeds):
    return onnxkit.Session(m.SerializeToString()).run(None, feeds)


def test_rule_versions_follow_the_opset():
    assert find_rule("Softmax", 11).fn is elementwise.softmax1       # 2-D coercion before 13
    assert find_rule("Softmax", 13).fn is elementwise.softmax
    assert find_rule("Softmax", 21).fn is elementwise.softmax
    assert find_rule("Add", 6).fn.__name__ == "add_legacy"             # broadcast by attribute
    assert find_rule("Add", 7).fn is torch.add                          # numpy broadcasting
    assert find_rule("StringNormalizer", 10) is None                    # strings: the numpy kernel
    with pytest.raises(ValueError, match="registered twice"):
        rule("Softmax", 13, fn=elementwise.softmax)


def _flatten_model():
    nodes = [
        helper.make_node("Shape", ["x.in"], ["/shape:0"]),
        helper.make_node("Gather", ["/shape:0", "idx0"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["newshape"], axis=0),
        helper.make_node("Reshape", ["x.in", "newshape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "2.weight"], ["y"]),
    ]
    inits = [helper.make_tensor("idx0", T.INT64, [], [0]), helper.make_tensor("ax0", T.INT64, [1], [0]),
             helper.make_tensor("minus1", T.INT64, [1], [-1]),
             helper.make_tensor("2.weight", T.FLOAT, [12, 2], np.arange(24, dtype=np.float32).tolist())]
    return _model(nodes, [helper.make_tensor_value_info("x.in", T.FLOAT, ["b", 3, 4])],
                  [helper.make_tensor_value_info("y", T.FLOAT, None)], inits)


def test_shape_computations_run_at_every_size():
    m = _flatten_model()
    module = to_torch(m)
    for b in (1, 5):
        x = np.random.default_rng(b).standard_normal((b, 3, 4), dtype=np.float32)
        got = module(torch.from_numpy(x))
        np.testing.assert_allclose(got.detach().numpy(), _session(m, {"x.in": x})[0], rtol=1e-5)
    assert "shape" in module.code                   # Shape is an op of the module, not a constant
    # the chain runs on Python ints (no int64 tensors in between)
    assert "as_tensor" not in module.code and "_sizes_shape" in module.code


def test_onnx_names_are_kept_and_sanitized():
    module = to_torch(_flatten_model())
    assert module.onnx_names["_2_weight"] == "2.weight"
    assert all(k.isidentifier() for k in module.onnx_names)
    assert [n for n, _ in module.named_parameters()] == ["_2_weight"]
    # the integer constants of the shape computation are baked into it: not state
    assert set(module.onnx_names.values()) == {"2.weight"}


def test_ops_without_rule_run_the_numpy_kernel():
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Unique", ["r"], ["u", "idx", "inv", "counts"], sorted=1)]
    outs = [helper.make_tensor_value_info(n, T.INT64 if n != "u" else T.FLOAT, None)
            for n in ("u", "idx", "inv", "counts")]
    m = _model(nodes, [helper.make_tensor_value_info("x", T.FLOAT, [6])], outs)
    module = to_torch(m)
    assert [f.split()[0] for f in module.onnx_fallbacks] == ["Unique"]
    x = np.array([2, -1, 2, 3, 0, 3], np.float32)
    got = module(torch.from_numpy(x))
    for g, w in zip(got, _session(m, {"x": x})):
        np.testing.assert_array_equal(g.numpy(), w)
    with pytest.warns(UserWarning, match="numpy kernel") as record:
        to_torch(m, device="meta")
    assert len(record) == 1 and "Unique" in str(record[0].message)


def test_loop_with_a_data_dependent_trip_count():
    # while (sum < limit): sum += x; count iterations, collect the partial sums
    body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "x"], ["s_out"]),
         helper.make_node("ReduceSum", ["s_out"], ["total"], keepdims=0),
         helper.make_node("Less", ["total", "limit"], ["cond_out"]),
         helper.make_node("Identity", ["s_out"], ["scan"])],
        "body",
        [helper.make_tensor_value_info("i", T.INT64, []), helper.make_tensor_value_info("cond", T.BOOL, []),
         helper.make_tensor_value_info("s_in", T.FLOAT, [2])],
        [helper.make_tensor_value_info("cond_out", T.BOOL, []), helper.make_tensor_value_info("s_out", T.FLOAT, [2]),
         helper.make_tensor_value_info("scan", T.FLOAT, [2])])
    nodes = [helper.make_node("Loop", ["", "go", "s0"], ["s_final", "partials"], body=body)]
    m = _model(nodes, [helper.make_tensor_value_info("x", T.FLOAT, [2]),
                       helper.make_tensor_value_info("limit", T.FLOAT, []),
                       helper.make_tensor_value_info("s0", T.FLOAT, [2])],
               [helper.make_tensor_value_info("s_final", T.FLOAT, None),
                helper.make_tensor_value_info("partials", T.FLOAT, None)],
               [helper.make_tensor("go", T.BOOL, [], [True])])
    module = to_torch(m)
    for limit in (1.0, 10.0):
        feeds = {"x": np.array([0.5, 1.0], np.float32), "limit": np.array(limit, np.float32),
                 "s0": np.zeros(2, np.float32)}
        got = module(*[torch.from_numpy(feeds[n]) for n in module.onnx_inputs])
        for g, w in zip(got, _session(m, feeds)):
            np.testing.assert_allclose(g.numpy(), w, rtol=1e-6)
    # gradients flow through the Python loop
    x = torch.tensor([0.5, 1.0], requires_grad=True)
    s_final, _ = module(x, torch.tensor(10.0), torch.zeros(2))
    s_final.sum().backward()
    assert x.grad is not None and (x.grad > 0).all()


def test_initializers_listed_as_inputs_are_state():
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)]
    inits = [helper.make_tensor("w", T.FLOAT, [3, 4], np.ones(12, np.float32).tolist()),
             helper.make_tensor("b", T.FLOAT, [3], [1.0, 2.0, 3.0])]
    inputs = [helper.make_tensor_value_info(n, T.FLOAT, s) for n, s in (("x", ["n", 4]), ("w", [3, 4]), ("b", [3]))]
    m = _model(nodes, inputs, [helper.make_tensor_value_info("y", T.FLOAT, None)], inits, opset=13)
    module = to_torch(m)
    assert module.onnx_inputs == ["x"]
    assert sorted(module.onnx_names.values()) == ["b", "w"]
    y = module(torch.ones(2, 4))
    np.testing.assert_allclose(y.detach().numpy(), [[5.0, 6.0, 7.0]] * 2)


def test_shape_arithmetic_keeps_the_spec_types():
    # Shape -> Cast(int32) -> Mul: computed on Python ints, an int32 tensor where it leaves the chain
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Cast", ["s"], ["s32"], to=T.INT32),
             helper.make_node("Mul", ["s32", "two"], ["y"]), helper.make_node("Div", ["s", "minus3"], ["z"])]
    m = _model(nodes, [helper.make_tensor_value_info("x", T.FLOAT, ["a", 3])],
               [helper.make_tensor_value_info("y", T.INT32, None), helper.make_tensor_value_info("z", T.INT64, None)],
               [helper.make_tensor("two", T.INT32, [], [2]), helper.make_tensor("minus3", T.INT64, [], [-3])])
    module = to_torch(m)
    assert "as_tensor" in module.code and "sizes_mul" in module.code
    x = np.ones((7, 3), np.float32)
    got = module(torch.from_numpy(x))
    for g, w in zip(got, _session(m, {"x": x})):
        assert g.dtype == torch.from_numpy(w).dtype
        np.testing.assert_array_equal(g.numpy(), w)          # integer division truncates: 7 / -3 = -2
