"""Training through imported models: gradients of a loss through
``onnxkit.to_torch(exported)`` equal the original PyTorch module's (rtol 1e-4),
weight by weight (mapped through ``module.onnx_names``), for an MLP, a small
CNN with BatchNormalization and a small BERT, each exported by
``torch.onnx.export(dynamo=False)``, ``torch.onnx.export(dynamo=True)`` and
``onnxkit.export``; then a few optimizer steps on the imported module, and
``onnxkit.export`` of the trained module gives a file onnxruntime runs with the
trained module's outputs.

The exports keep the weights as the original's parameters: the TorchScript
exporter with ``do_constant_folding=False`` and the dynamo exporter with
``optimize=False`` (both fold BatchNormalization into the convolutions and
rename or pre-transpose weights otherwise, after which an ONNX initializer is
no longer one of the original's parameters).  The weights are perturbed away
from their initial values because the TorchScript exporter stores tensors that
are equal (zero biases, LayerNorm's ones) once.

BatchNormalization: a module exported in ``eval()`` holds the inference form
(``training_mode=0``), which normalizes with the stored statistics; that is
the graph's meaning, so the imported module does so in ``train()`` as in
``eval()``, and its gradients are those of the original in ``eval()``.  A
module exported with ``training=TrainingMode.TRAINING`` holds the training
form, which normalizes with the batch's statistics: its gradients are those of
the original in ``train()``.  In neither case does the imported module update
its running statistics (the ONNX graph is a pure function; the exporters drop
the updated statistics) and no optimizer changes them.

Embeddings: ``nn.Embedding(padding_idx=i)`` (BERT's word embeddings, i = 0)
zeroes the gradient of row i; ONNX's Gather has no such notion, so an
imported embedding trains every row it reads.  The BERT inputs here do not
use token 0, so the gradients are the same.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
transformers = pytest.importorskip("transformers")

import onnxkit  # noqa: E402
from onnxkit.to_torch import to_torch  # noqa: E402

from .._real_models import _randomize_bn, _TextWrapper  # noqa: E402

EXPORTERS = ["torchscript", "dynamo", "onnxkit"]
RTOL = 1e-4


# ---------------------------------------------------------------- the models


class _MLP(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(8, 16)
        self.fc2 = torch.nn.Linear(16, 4)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x))).softmax(-1)


class _CNN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(8)
        self.conv2 = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(16)
        self.fc = torch.nn.Linear(16, 5)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(x.mean((2, 3)))


def _perturb(m: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return m


def _build(name: str):
    """(module in eval mode, example args, input names, dynamic axes, inputs at another size)."""
    torch.manual_seed(0)
    if name == "mlp":
        return (_perturb(_MLP()).eval(), (torch.randn(5, 8),), ["x"], {"x": {0: "batch"}},
                (torch.randn(7, 8),))
    if name == "cnn":
        return (_randomize_bn(_perturb(_CNN())).eval(), (torch.randn(4, 3, 12, 12),), ["x"],
                {"x": {0: "batch"}}, (torch.randn(6, 3, 12, 12),))
    if name == "bert":
        cfg = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
                                      num_attention_heads=2, intermediate_size=64,
                                      max_position_embeddings=32)
        model = _perturb(transformers.BertModel(cfg, add_pooling_layer=False))
        module = _TextWrapper(model.eval()).eval()

        def text(batch, seq):
            mask = torch.ones(batch, seq, dtype=torch.int64)
            mask[0, -2:] = 0                          # some padding
            return torch.randint(1, 100, (batch, seq)), mask      # no padding_idx 0: see above
        dyn = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}}
        return module, text(2, 6), ["input_ids", "attention_mask"], dyn, text(3, 5)
    raise ValueError(name)


def _export(module, args, names, dyn, exporter: str, path: str, training: bool = False) -> str:
    """Export keeping the weights as the original's parameters (see the module docstring)."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if exporter == "onnxkit":
            onnxkit.save(onnxkit.export(module, args, input_names=names, dynamic_shapes=dyn), path)
        elif exporter == "torchscript":
            mode = torch.onnx.TrainingMode.TRAINING if training else torch.onnx.TrainingMode.EVAL
            torch.onnx.export(module, args, path, dynamo=False, input_names=names, dynamic_axes=dyn,
                              opset_version=17, do_constant_folding=False, training=mode)
        else:
            dims: dict = {}
            shapes = {n: {i: dims.setdefault(d, torch.export.Dim(d, min=1, max=64)) for i, d in ax.items()}
                      for n, ax in dyn.items()}
            torch.onnx.export(module, args, path, dynamo=True, input_names=names, dynamic_shapes=shapes,
                              optimize=False, external_data=False, verbose=False)
    return path


def _loss(out: torch.Tensor) -> torch.Tensor:
    """A loss that weighs every output element differently (a fixed pattern)."""
    w = torch.linspace(-1.0, 2.0, out.numel()).reshape(out.shape)
    return (out * w).sum() + out.square().mean()


def _assert_same_gradients(original, module, args) -> None:
    original.zero_grad()
    module.zero_grad()
    want_loss = _loss(original(*args))
    want_loss.backward()
    got_loss = _loss(module(*args))
    got_loss.backward()
    torch.testing.assert_close(got_loss, want_loss, rtol=RTOL, atol=1e-6)
    by_onnx = {module.onnx_names[n]: p for n, p in module.named_parameters()}
    want = dict(original.named_parameters())
    missing = sorted(set(want) - set(by_onnx))
    assert not missing, f"original parameters that are not parameters of the import: {missing}"
    # an absolute tolerance far below the gradients' size, for the entries that are zero in exact
    # arithmetic (a key's bias cannot change a softmax) and come out as rounding noise
    atol = 1e-6 * max(float(p.grad.abs().max()) for p in want.values())
    for name, p in want.items():
        g = by_onnx[name].grad
        assert g is not None, f"no gradient reached {name}"
        torch.testing.assert_close(g, p.grad, rtol=RTOL, atol=atol,
                                   msg=lambda m, name=name: f"gradient of {name}: {m}")
    # what is not a parameter of the original (BatchNorm statistics, constants) gets no gradient
    for name, p in by_onnx.items():
        if name not in want:
            assert p.grad is None or not p.grad.any(), f"{name} is not trainable but got a gradient"


# ---------------------------------------------------------------- gradients


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", ["mlp", "cnn", "bert"])
def test_gradients_equal_the_original(tmp_path, name, exporter):
    original, args, names, dyn, other = _build(name)
    module = to_torch(_export(original, args, names, dyn, exporter, str(tmp_path / "m.onnx")))
    _assert_same_gradients(original, module, args)
    _assert_same_gradients(original, module, other)        # another batch (and sequence) size
    if name == "cnn":
        # an inference-form BatchNormalization keeps its meaning in train(): stored statistics
        module.train()
        with torch.no_grad():
            torch.testing.assert_close(module(*other), original(*other), rtol=RTOL, atol=1e-6)
        _assert_same_gradients(original, module, other)


def test_training_form_batchnorm_uses_batch_statistics(tmp_path):
    original, args, names, dyn, other = _build("cnn")
    reference = copy.deepcopy(original).train()   # the export runs the module, moving its statistics
    path = _export(original, args, names, dyn, "torchscript", str(tmp_path / "train.onnx"), training=True)
    model = onnxkit.load(path)
    bns = [n for n in model.graph if n.op_type == "BatchNormalization"]
    assert bns and all(n.attributes["training_mode"].value == 1 for n in bns)
    module = to_torch(path)
    stats = {n: b.detach().clone() for n, b in [*module.named_parameters(), *module.named_buffers()]
             if "running" in module.onnx_names.get(n, "")}
    assert stats
    _assert_same_gradients(reference, module, other)
    eval_ref = copy.deepcopy(reference).eval()
    with torch.no_grad():
        assert not torch.allclose(module(*other), eval_ref(*other), atol=1e-3)   # really batch statistics
    for n, before in stats.items():
        torch.testing.assert_close(getattr(module, n), before, rtol=0, atol=0)


# ---------------------------------------------------------------- train, then export again


def _session(model) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(onnxkit.to_bytes(model), so, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("name", ["mlp", "cnn", "bert"])
def test_train_then_export_again(tmp_path, name):
    original, args, names, dyn, other = _build(name)
    module = to_torch(_export(original, args, names, dyn, "onnxkit", str(tmp_path / "m.onnx")))
    stats = {n: b.detach().clone() for n, b in [*module.named_parameters(), *module.named_buffers()]
             if "running" in module.onnx_names.get(n, "")}
    opt = torch.optim.Adam(module.parameters(), lr=1e-2)
    losses = []
    for _ in range(4):
        opt.zero_grad()
        loss = _loss(module(*args))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], losses
    for n, before in stats.items():      # BatchNorm statistics are not trained
        torch.testing.assert_close(getattr(module, n), before, rtol=0, atol=0)

    with torch.no_grad():
        model = onnxkit.export(module, args, input_names=names, dynamic_shapes=dyn)
    assert model.ir_version <= 13
    sess = _session(model)
    for inputs in (args, other):          # the exported size and another one
        feeds = {n: a.numpy() for n, a in zip(names, inputs)}
        (got,) = sess.run(None, feeds)
        with torch.no_grad():
            want = module(*inputs).numpy()
            before = original(*inputs).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
        assert not np.allclose(got, before, rtol=1e-4, atol=1e-5)    # the trained weights, not the old
