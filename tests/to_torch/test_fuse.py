"""The run-time fusions of ``onnxkit.to_torch._fuse`` on real exports: each
pattern fires on the files the exporters write (torch.onnx.export
dynamo=False / dynamo=True, onnxkit.export), and the fused module gives the
outputs of onnxruntime on the same file and the gradients of the import
without fusions, weight by weight (the fused calls use the ONNX parameters
themselves)."""

from __future__ import annotations

import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

import torch.nn.functional as F  # noqa: E402

from onnxkit.to_torch import _convert, to_torch, to_source  # noqa: E402

from .._real_models import feeds_for  # noqa: E402

#: (model, exporter) -> the fused calls each import must hold at least one of
CASES = {
    ("bert", "torchscript"): ("linear", "gelu", "attention"),
    ("bert", "dynamo"): ("linear", "gelu", "attention"),
    ("bert", "onnxkit"): ("linear", "gelu"),
    ("gpt2", "torchscript"): ("gelu_tanh", "attention"),
    ("gpt2", "dynamo"): ("gelu_tanh", "attention"),
    ("gpt2", "onnxkit"): ("linear", "gelu_tanh"),
    ("vit", "torchscript"): ("linear", "gelu", "attention"),
    ("vit", "dynamo"): ("linear", "gelu", "attention"),
    ("vit", "onnxkit"): ("linear", "gelu", "attention"),
    ("llama", "torchscript"): ("attention",),
}


def _calls(module, rules: bool = True) -> dict:
    """How many fused calls the module makes (``rules``: counting the Gelu-20
    node's rule, which is one F.gelu call too; the dynamo exporter writes Gelu)."""
    from onnxkit.to_torch._rules.elementwise import gelu
    out = {"linear": 0, "gelu": 0, "gelu_tanh": 0, "attention": 0}
    for n in module.graph.nodes:
        if n.op != "call_function":
            continue
        if n.target is F.linear:
            out["linear"] += 1
        elif n.target is F.gelu or (rules and n.target is gelu):
            out["gelu_tanh" if n.kwargs.get("approximate") == "tanh" else "gelu"] += 1
        elif n.target is F.scaled_dot_product_attention:
            out["attention"] += 1
    return out


def _unfused(path, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(_convert, "fuse", lambda *args: {})
        return to_torch(path)


@pytest.mark.parametrize("name,exporter", sorted(CASES))
def test_fusions_fire_and_keep_outputs_and_gradients(exported, monkeypatch, name, exporter):
    path = exported(name, exporter)
    fused = to_torch(path)
    plain = _unfused(path, monkeypatch)
    calls = _calls(fused)
    for what in CASES[name, exporter]:
        assert calls[what] > 0, (what, calls)
    assert _calls(plain, rules=False) == {k: 0 for k in calls}     # the ONNX graph itself holds none of them
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    for batch, seq in ((2, 8), (3, 5)):
        feeds = feeds_for(names, batch, seq, seed=batch)
        args = [torch.from_numpy(feeds[n]) for n in fused.onnx_inputs]
        want = sess.run(None, feeds)[0]
        with torch.no_grad():
            got = fused(*args)
        got = got if isinstance(got, torch.Tensor) else got[0]
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=2e-5)
    # gradients: the same parameters (by ONNX name), the same gradients as without fusions
    # (one-element float constants a fused pattern consumed, such as GELU's 0.5 and sqrt(2), are no
    # longer used, so no longer parameters; every weight is)
    fused_params = {fused.onnx_names[k]: p for k, p in fused.named_parameters()}
    plain_params = {plain.onnx_names[k]: p for k, p in plain.named_parameters()}
    assert set(fused_params) <= set(plain_params)
    assert all(plain_params[k].numel() == 1 for k in set(plain_params) - set(fused_params))
    feeds = feeds_for(names, 2, 8, seed=5)
    grads = []
    for module in (fused, plain):
        out = module(*[torch.from_numpy(feeds[n]) for n in module.onnx_inputs])
        out = out if isinstance(out, torch.Tensor) else out[0]
        (out.float() ** 2).mean().backward()
        grads.append({module.onnx_names[k]: p.grad for k, p in module.named_parameters()})
    for k, g in grads[1].items():
        if k not in grads[0]:
            continue
        if g is None:
            assert grads[0][k] is None, k
            continue
        np.testing.assert_allclose(grads[0][k].numpy(), g.numpy(), rtol=1e-4, atol=1e-6, err_msg=k)


def test_fused_module_writes_out_as_source(exported, tmp_path):
    """``to_source`` writes the fused calls as plain torch calls; the written module matches."""
    path = exported("bert", "torchscript")
    module = to_torch(path)
    assert all(_calls(module)[k] for k in ("linear", "gelu", "attention"))
    out = tmp_path / "pkg"
    to_source(path, str(out))
    text = (out / "module.py").read_text()
    for call in ("scaled_dot_product_attention(", "linear(", "gelu("):
        assert re.search(r"= torch\.[\w.]*\b" + re.escape(call), text), call
    # the fused call is named after the ONNX value it computes (the last node of its pattern)
    assert re.search(r"\b\w*intermediate_dense_add_output_0 = torch\.[\w.]*linear\(", text)


def test_attention_with_an_unguarded_mask_is_left_alone():
    """softmax(q @ kT + mask) @ v with a mask that may hold -inf and no NaN guard:
    a fully masked row is NaN there and 0 in scaled_dot_product_attention, so it stays decomposed."""
    import onnxkit

    def f(q, k, v, mask):
        return torch.softmax(q @ k.transpose(-1, -2) + mask, -1) @ v
    q, k, v = (torch.randn(1, 2, 4, 8) for _ in range(3))
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 1, :] = float("-inf")
    module = to_torch(onnxkit.export(f, (q, k, v, mask)))
    assert _calls(module)["attention"] == 0
    got, want = module(q, k, v, mask), f(q, k, v, mask)
    assert torch.isnan(want[0, :, 1]).all() and torch.isnan(got[0, :, 1]).all()
    torch.testing.assert_close(got[:, :, [0, 2, 3]], want[:, :, [0, 2, 3]])
