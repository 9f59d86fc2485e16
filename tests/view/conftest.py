"""Models for the view tests, built node by node so that names, scopes,
subgraphs, functions, constants and source lines are what the tests say."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from onnxkit.ir import Attribute, DataType, Function, Graph, Model, Node, Tensor, TensorType, Value


def _f(name: str, shape=None) -> Value:
    return Value(name, TensorType(DataType.FLOAT, shape) if shape is not None else None)


def scoped_model(layers: int = 3, width: int = 8) -> Model:
    """x -> `layers` blocks (/enc/layer.i/fc/MatMul, Add; /enc/layer.i/act/Relu)
    -> /head/Softmax(axis=1) -> /head/If (then Relu, else Neg) -> a call of the
    model-local function custom.Scale -> y; a Constant folded into an Add; W0
    with zeros; the first MatMul carries a source line."""
    rng = np.random.default_rng(0)
    x = _f("x", ["batch", width])
    inits, nodes = [], []
    h = x
    for i in range(layers):
        w = rng.standard_normal((width, width)).astype(np.float32)
        if i == 0:
            w[:, :2] = 0          # a quarter of zeros
        W = Value(f"W{i}", TensorType(DataType.FLOAT, [width, width]), const_value=Tensor(w, name=f"W{i}"))
        B = Value(f"B{i}", TensorType(DataType.FLOAT, [width]),
                  const_value=Tensor(rng.standard_normal(width).astype(np.float32), name=f"B{i}"))
        inits += [W, B]
        p = f"/enc/layer.{i}"
        mm = Node("MatMul", [h, W], [Value(f"{p}/fc/MatMul_output_0")], name=f"{p}/fc/MatMul")
        if i == 0:
            mm.metadata_props["source"] = "model.py:12 in forward: h = self.fc(x)"
        add = Node("Add", [mm.outputs[0], B], [Value(f"{p}/fc/Add_output_0")], name=f"{p}/fc/Add")
        relu = Node("Relu", [add.outputs[0]], [Value(f"{p}/act/Relu_output_0")], name=f"{p}/act/Relu")
        nodes += [mm, add, relu]
        h = relu.outputs[0]
    c = Node("Constant", [], [Value("/head/Constant_output_0")], name="/head/Constant",
             attributes=[Attribute.infer("value", Tensor(np.array([0.5], np.float32)))])
    add = Node("Add", [h, c.outputs[0]], [Value("/head/Add_output_0")], name="/head/Add")
    sm = Node("Softmax", [add.outputs[0]], [Value("/head/Softmax_output_0")], name="/head/Softmax",
              attributes={"axis": 1})
    # If's condition must be one bool: all(softmax >= 0) through Cast / ReduceMin / Cast
    ge = Node("GreaterOrEqual", [sm.outputs[0], sm.outputs[0]], [Value("/head/ge")], name="/head/GreaterOrEqual")
    cast = Node("Cast", [ge.outputs[0]], [Value("/head/cast")], name="/head/Cast", attributes={"to": 1})
    rmin = Node("ReduceMin", [cast.outputs[0]], [Value("/head/rmin")], name="/head/ReduceMin",
                attributes={"keepdims": 0})
    cb = Node("Cast", [rmin.outputs[0]], [Value("/head/flag")], name="/head/Cast_1", attributes={"to": 9})
    then_out = _f("then_y", ["batch", width])
    then_g = Graph([], [then_out], [Node("Relu", [sm.outputs[0]], [then_out], name="then_relu")], name="then")
    else_out = _f("else_y", ["batch", width])
    else_g = Graph([], [else_out], [Node("Neg", [sm.outputs[0]], [else_out], name="else_neg")], name="else")
    iff = Node("If", [cb.outputs[0]], [Value("/head/If_output_0")], name="/head/If",
               attributes=[Attribute.infer("then_branch", then_g), Attribute.infer("else_branch", else_g)])
    # the function: Scale(X) = X * 2
    fx, fy = Value("X"), Value("Y")
    two = Node("Constant", [], [Value("two")], attributes=[Attribute.infer("value", Tensor(np.array(2.0, np.float32)))])
    fmul = Node("Mul", [fx, two.outputs[0]], [fy], name="scale_mul")
    fn = Function("custom", "Scale", Graph([fx], [fy], [two, fmul]), opset_imports={"": 17})
    y = _f("y", ["batch", width])
    call = Node("Scale", [iff.outputs[0]], [y], domain="custom", name="/head/scale")
    nodes += [c, add, sm, ge, cast, rmin, cb, iff, call]
    g = Graph([x], [y], nodes, initializers=inits, name="scoped")
    m = Model(g, ir_version=10, opset_imports={"": 17, "custom": 1}, functions=[fn])
    return m


def transformer_like(layers: int, per_block: int = 12) -> Model:
    """A generated model of ``layers`` layers, name scopes four deep
    (/model/layers.i/attn|mlp/part/Op_k), chains of Add/Mul/Relu: for size, not sense."""
    x = _f("x", ["batch", 16])
    h = x
    nodes = []
    ops = ["Add", "Mul", "Relu", "Sigmoid"]
    one = Value("one", TensorType(DataType.FLOAT, [16]), const_value=Tensor(np.ones(16, np.float32), name="one"))
    k = 0
    for i in range(layers):
        for part in ("attn", "mlp"):
            for sub in ("a", "b"):
                block_in = h
                for j in range(per_block):
                    op = ops[j % 4]
                    ins = [h, one] if op in ("Add", "Mul") else [h]
                    n = Node(op, ins, [Value(f"v{k}")], name=f"/model/layers.{i}/{part}/{sub}/{op}_{j}")
                    nodes.append(n)
                    h = n.outputs[0]
                    k += 1
                n = Node("Add", [h, block_in], [Value(f"v{k}")], name=f"/model/layers.{i}/{part}/{sub}/residual")
                nodes.append(n)
                h = n.outputs[0]
                k += 1
    y = _f("y", ["batch", 16])
    nodes.append(Node("Identity", [h], [y], name="/out"))
    return Model(Graph([x], [y], nodes, initializers=[one], name="generated"), ir_version=10,
                 opset_imports={"": 17})


@pytest.fixture(scope="session")
def bert_path(tmp_path_factory):
    """A small BERT (transformers, random weights) exported by torch's legacy exporter."""
    from tests._real_models import make_exporter
    return make_exporter(tmp_path_factory)("bert", "torchscript")


@contextlib.contextmanager
def wrong_relu():
    """Within the block onnxkit's Relu computes abs(x): a kernel that disagrees with onnxruntime."""
    from onnxkit.ops import _registry
    _registry.find_kernel("Relu", 17)          # the registry loads its kernels on first use
    versions, regs = _registry._KERNELS[("", "Relu")]
    i = len(versions) - 1
    good = regs[i]
    regs[i] = _registry.Registration("Relu", "", versions[i], lambda x: np.abs(x))
    try:
        yield
    finally:
        regs[i] = good
