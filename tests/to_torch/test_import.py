"""onnxkit.to_torch on real models: small transformers and CNNs exported from
PyTorch (tests/_real_models.py), compared with onnxruntime at the exported
size and at another batch/sequence size; gradients through an imported MLP
equal the original module's; control flow exported by onnxkit.export; the
module's interface (parameters, names, keywords, the non-CPU warning)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

import onnxkit  # noqa: E402
from onnxkit.to_torch import to_torch  # noqa: E402

from .._real_models import RUN_MODELS, feeds_for  # noqa: E402
from ._compare import import_matching_onnxruntime  # noqa: E402


@pytest.mark.parametrize("name", RUN_MODELS)
def test_real_model_matches_onnxruntime(exported, name):
    path = exported(name, "torchscript")
    module = import_matching_onnxruntime(path)
    assert isinstance(module, torch.fx.GraphModule)


def test_bert_against_onnxkit_session_and_keywords(exported):
    path = exported("bert", "torchscript")
    module = to_torch(path)
    feeds = feeds_for(["input_ids", "attention_mask"], 2, 8, seed=1)
    want = onnxkit.Session(path).run(None, feeds)[0]
    with torch.no_grad():
        got = module(input_ids=torch.from_numpy(feeds["input_ids"]),
                     attention_mask=torch.from_numpy(feeds["attention_mask"]))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=2e-5)
    # weights: float initializers are trainable parameters, named after the ONNX names
    params = dict(module.named_parameters())
    assert params and all(p.requires_grad for p in params.values())
    onnx_names = set(module.onnx_names.values())
    model = onnxkit.load(path)
    assert set(model.graph.initializers) <= onnx_names
    assert all(n.isidentifier() for n in module.onnx_names)


class _MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(8, 16)
        self.fc2 = torch.nn.Linear(16, 4)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x))).softmax(-1)


def _check_gradients(original, module, x, target):
    loss_fn = torch.nn.MSELoss()
    loss_fn(original(x), target).backward()
    loss_fn(module(x), target).backward()
    want = {n: p.grad for n, p in original.named_parameters()}
    got = {module.onnx_names[n]: p.grad for n, p in module.named_parameters()}
    assert set(want) <= set(got), (sorted(want), sorted(got))
    for n, g in want.items():
        torch.testing.assert_close(got[n], g, rtol=1e-4, atol=1e-7)


def test_gradients_through_torchscript_export(tmp_path):
    torch.manual_seed(0)
    original = _MLP()
    x = torch.randn(5, 8)
    path = str(tmp_path / "mlp.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(original, (x,), path, dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "batch"}}, do_constant_folding=False)
    module = to_torch(path)
    _check_gradients(original, module, torch.randn(7, 8), torch.rand(7, 4))


def test_gradients_through_onnxkit_export():
    torch.manual_seed(1)
    original = _MLP()
    model = onnxkit.export(original, (torch.randn(3, 8),), dynamic_shapes={"x": {0: "n"}})
    module = to_torch(model)
    x, target = torch.randn(6, 8), torch.rand(6, 4)
    with torch.no_grad():
        torch.testing.assert_close(module(x), original(x), rtol=1e-5, atol=1e-6)
    if not any(module.onnx_names.get(n) == "fc1.weight" for n, _ in module.named_parameters()):
        pytest.skip("onnxkit.export names the weights otherwise")
    _check_gradients(original, module, x, target)


def test_optimizer_steps_train_the_imported_module(tmp_path):
    torch.manual_seed(2)
    original = _MLP()
    path = str(tmp_path / "mlp.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(original, (torch.randn(2, 8),), path, dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "batch"}})
    module = to_torch(path)
    opt = torch.optim.SGD(module.parameters(), lr=0.5)
    x, target = torch.randn(32, 8), torch.rand(32, 4).softmax(-1)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(module(x), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_data_dependent_branch_exported_by_onnxkit():
    def f(y):
        x = y * 2
        if y.sum() > 0:
            return x + y
        return x * y

    model = onnxkit.export(f, (torch.randn(3, 4),), dynamic_shapes={"y": {0: "n"}})
    assert any(n.op_type == "If" for n in model.graph)
    module = to_torch(model)
    for y in (torch.ones(5, 4), -torch.ones(2, 4), torch.randn(3, 4)):
        torch.testing.assert_close(module(y), f(y))


def test_onnxkit_to_torch_is_callable_package():
    import onnxkit.to_torch as pkg
    assert callable(pkg)


def test_dtype_casts_float_weights(exported):
    module = to_torch(exported("resnet", "torchscript"), dtype=torch.float64)
    assert all(p.dtype == torch.float64 for p in module.parameters())
    x = torch.from_numpy(feeds_for(["pixels"], 1, 8, seed=0)["pixels"]).double()
    assert module(x).dtype == torch.float64
