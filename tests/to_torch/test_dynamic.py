"""torch.export / torch.compile of imported models (issue 15, items 2 and 3).

The shape computations of exported transformers (Shape -> Gather -> Concat ->
Reshape, Range over the sequence, torch.onnx's ``Where(Equal(shape, -1))``
before Expand, ``Max`` of two shapes) run as size arithmetic, so
``torch.export`` with dynamic batch and sequence dims traces them
symbolically and the exported program answers as onnxruntime does at
another size; ``torch.compile(dynamic=True, fullgraph=True)`` compiles them
without a graph break and without recompiling at a second size.  If and Loop
become ``torch.cond`` / ``while_loop`` under tracing.  (The compile tests use
the ``aot_eager`` backend: the same capture inductor gets, without its
minutes of C++ compilation on this machine.)
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto as T  # noqa: E402
from onnx import helper  # noqa: E402

import onnxkit  # noqa: E402
from onnxkit.to_torch import to_torch  # noqa: E402
from onnxkit.to_torch._control import IfModule, LoopModule  # noqa: E402

from .._real_models import feeds_for  # noqa: E402

EXPORTED, OTHER = (2, 8), (3, 5)        # the size the ONNX files were exported at, another one


def _imported(exported, name, exporter):
    path = exported(name, exporter)
    module = to_torch(path)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return module, sess, names


def _args(names, size, seed):
    feeds = feeds_for(names, *size, seed=seed)
    return feeds, tuple(torch.from_numpy(feeds[n]) for n in names)


def _check(run, sess, names, size, seed):
    feeds, args = _args(names, size, seed)
    with torch.no_grad():
        got = run(*args)
    want = sess.run(None, feeds)[0]
    assert tuple(got.shape) == want.shape
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-4, atol=2e-5)


def _dynamic_shapes(names):
    batch = torch.export.Dim("batch", min=1, max=64)
    seq = torch.export.Dim("seq", min=2, max=64)
    return tuple({0: batch} if n == "pixels" else {0: batch, 1: seq} for n in names)


@pytest.mark.parametrize("name,exporter", [
    ("bert", "torchscript"), ("gpt2", "torchscript"), ("llama", "torchscript"), ("vit", "torchscript"),
    ("bert", "dynamo"), ("llama", "onnxkit"),
])
def test_torch_export_with_dynamic_batch_and_sequence(exported, name, exporter):
    module, sess, names = _imported(exported, name, exporter)
    _, args = _args(names, EXPORTED, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = torch.export.export(module, args, dynamic_shapes=_dynamic_shapes(names))
    # the dims stayed symbolic: no value of batch or sequence was baked in
    placeholders = [n for n in ep.graph.nodes if n.op == "placeholder" and n.name in ep.graph_signature.user_inputs]
    for node in placeholders:
        assert all(isinstance(d, torch.SymInt) for d in node.meta["val"].shape[:2 if node.name != "pixels" else 1])
    run = ep.module()
    _check(run, sess, names, OTHER, seed=1)
    _check(run, sess, names, (1, 11), seed=2)


@pytest.mark.parametrize("name,exporter", [("gpt2", "torchscript"), ("resnet", "onnxkit"),
                                           ("mobilenet", "torchscript")])
def test_torch_compile_dynamic_without_graph_breaks_or_recompiles(exported, name, exporter):
    module, sess, names = _imported(exported, name, exporter)
    torch._dynamo.reset()
    compiled = torch.compile(module, dynamic=True, fullgraph=True, backend="aot_eager")
    _check(compiled, sess, names, EXPORTED, seed=0)
    with torch.compiler.set_stance("fail_on_recompile"):
        _check(compiled, sess, names, OTHER, seed=1)


def test_running_statistics_are_buffers(exported):
    """BatchNormalization's mean and variance (onnxkit.export keeps them) are
    buffers as in torch's BatchNorm: the parameters are the trainable ones,
    and torch.export accepts F.batch_norm with them."""
    module, sess, names = _imported(exported, "resnet", "onnxkit")
    params = dict(module.named_parameters())
    assert params and not any(module.onnx_names[n].endswith(("running_mean", "running_var")) for n in params)
    assert any(module.onnx_names[n].endswith("running_mean") for n, _ in module.named_buffers())
    _, args = _args(names, EXPORTED, seed=0)
    ep = torch.export.export(module, args, dynamic_shapes=_dynamic_shapes(names))
    _check(ep.module(), sess, names, OTHER, seed=1)


# ---------------------------------------------------------------- If and Loop


def _branch(y):
    x = y * 2
    if y.sum() > 0:
        return x + y
    return x * y


def test_if_from_onnxkit_export_runs_as_torch_cond_under_export():
    model = onnxkit.export(_branch, (torch.randn(3, 4),), dynamic_shapes={"y": {0: "n"}})
    module = to_torch(model)
    (if_mod,) = [m for m in module.modules() if isinstance(m, IfModule)]
    assert if_mod.traceable
    pos, neg = torch.ones(5, 4), -torch.ones(2, 4)
    for y in (pos, neg):                                    # eager: a Python if
        torch.testing.assert_close(module(y), _branch(y))
    ep = torch.export.export(module, (torch.randn(3, 4),),
                             dynamic_shapes=({0: torch.export.Dim("n", min=2, max=64)},))
    assert any(n.target is torch.ops.higher_order.cond for n in ep.graph.nodes)
    for y in (pos, neg, torch.randn(7, 4)):
        torch.testing.assert_close(ep.module()(y), _branch(y))
    torch._dynamo.reset()
    compiled = torch.compile(module, dynamic=True, fullgraph=True, backend="aot_eager")
    for y in (pos, neg):
        torch.testing.assert_close(compiled(y), _branch(y))


def _loop_model():
    """v <- v * w + i while sum(v) < limit, at most M times: a data-dependent
    trip count, one carried value of a fixed shape, an outer-scope weight."""
    body = helper.make_graph(
        [helper.make_node("Mul", ["v_in", "w"], ["m"]),
         helper.make_node("Cast", ["i"], ["fi"], to=T.FLOAT),
         helper.make_node("Add", ["m", "fi"], ["v_out"]),
         helper.make_node("ReduceSum", ["v_out"], ["s"], keepdims=0),
         helper.make_node("Less", ["s", "limit"], ["c_out"])],
        "body",
        [helper.make_tensor_value_info("i", T.INT64, []), helper.make_tensor_value_info("c_in", T.BOOL, []),
         helper.make_tensor_value_info("v_in", T.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("c_out", T.BOOL, []),
         helper.make_tensor_value_info("v_out", T.FLOAT, ["n", 4])])
    g = helper.make_graph(
        [helper.make_node("Loop", ["M", "", "v0"], ["v_final"], body=body)], "g",
        [helper.make_tensor_value_info("M", T.INT64, []), helper.make_tensor_value_info("v0", T.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("v_final", T.FLOAT, ["n", 4])],
        [helper.make_tensor("w", T.FLOAT, [4], [1.0, 1.5, 0.5, 2.0]),
         helper.make_tensor("limit", T.FLOAT, [], [500.0])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def test_loop_runs_as_while_loop_under_export():
    model = _loop_model()
    module = to_torch(model)
    (loop,) = [m for m in module.modules() if isinstance(m, LoopModule)]
    assert loop.traceable
    sess = onnxkit.Session(model.SerializeToString())

    def check(run, n, trips):
        v = np.random.default_rng(n).random((n, 4), dtype=np.float32)
        want = sess.run(None, {"M": np.array(trips, np.int64), "v0": v})[0]
        with torch.no_grad():
            got = run(torch.tensor(trips), torch.from_numpy(v))
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)

    for n, trips in ((3, 10), (2, 0), (4, 100)):
        check(module, n, trips)
    ep = torch.export.export(module, (torch.tensor(10), torch.randn(3, 4)),
                             dynamic_shapes=(None, {0: torch.export.Dim("n", min=2, max=64)}))
    assert any("while_loop" in str(n.target) for n in ep.graph.nodes)
    for n, trips in ((5, 10), (2, 0), (4, 100)):          # stops on M, at once, on the condition
        check(ep.module(), n, trips)


def test_loop_with_scan_outputs_stays_python():
    """Scan outputs grow with the trip count: no while_loop form, the Python loop."""
    body = helper.make_graph(
        [helper.make_node("Add", ["v_in", "one"], ["v_out"]), helper.make_node("Identity", ["c_in"], ["c_out"]),
         helper.make_node("Identity", ["v_out"], ["scan"])],
        "body",
        [helper.make_tensor_value_info("i", T.INT64, []), helper.make_tensor_value_info("c_in", T.BOOL, []),
         helper.make_tensor_value_info("v_in", T.FLOAT, [2])],
        [helper.make_tensor_value_info("c_out", T.BOOL, []), helper.make_tensor_value_info("v_out", T.FLOAT, [2]),
         helper.make_tensor_value_info("scan", T.FLOAT, [2])])
    g = helper.make_graph([helper.make_node("Loop", ["M", "", "v0"], ["v", "ys"], body=body)], "g",
                          [helper.make_tensor_value_info("M", T.INT64, []),
                           helper.make_tensor_value_info("v0", T.FLOAT, [2])],
                          [helper.make_tensor_value_info("v", T.FLOAT, [2]),
                           helper.make_tensor_value_info("ys", T.FLOAT, ["k", 2])],
                          [helper.make_tensor("one", T.FLOAT, [], [1.0])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    module = to_torch(model)
    (loop,) = [m for m in module.modules() if isinstance(m, LoopModule)]
    assert not loop.traceable
    v, ys = module(torch.tensor(3), torch.zeros(2))
    torch.testing.assert_close(v, torch.full((2,), 3.0))
    torch.testing.assert_close(ys, torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]))
