"""The "torch" execution provider: ``Session(model, providers=["torch"])``
runs the module of ``onnxkit.to_torch`` with the numpy provider's API and
answers; unknown or unavailable providers are errors, never a fallback; the
``onnxkit run --provider`` flag and the backend API's ``providers=``."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import onnxkit  # noqa: E402
import onnxkit.backend  # noqa: E402
from onnxkit.cli import main  # noqa: E402
from onnxkit.errors import InvalidInputError, ProviderError  # noqa: E402


def _cnn():
    rng = np.random.default_rng(0)
    b = onnxkit.GraphBuilder("cnn")
    x = b.input("x", "float", ["batch", 3, 8, 8])
    h = b.op.Conv(x, b.initializer(rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3, "w1"),
                  b.initializer(rng.standard_normal(4).astype(np.float32) * 0.1, "b1"),
                  kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    h = b.op.MaxPool(b.op.Relu(h), kernel_shape=[2, 2], strides=[2, 2])
    flat = b.op.Flatten(h, axis=1)
    logits = b.op.Gemm(flat, b.initializer(rng.standard_normal((5, 64)).astype(np.float32) * 0.2, "w2"),
                       b.initializer(rng.standard_normal(5).astype(np.float32) * 0.1, "b2"), transB=1)
    b.output(b.op.Softmax(logits, axis=-1), "y", dtype="float", shape=["batch", 5])
    b.output(b.op.ArgMax(logits, axis=1, keepdims=0), "k", dtype="int64", shape=["batch"])
    b.output(flat, "flat", dtype="float", shape=["batch", 64])
    return b.model(opset=21)


@pytest.fixture()
def feeds():
    return {"x": np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)}


def test_torch_provider_matches_numpy(feeds):
    model = _cnn()
    ref = onnxkit.Session(model)
    sess = onnxkit.Session(model, providers=["torch"], provider_options=[{"device": "cpu", "compile": False}])
    assert ref.get_providers() == ["numpy"] and sess.get_providers() == ["torch"]
    assert sess.get_provider_options() == {"torch": {"device": "cpu", "compile": False}}
    assert sess.get_inputs() == ref.get_inputs() and sess.get_outputs() == ref.get_outputs()
    want, got = ref.run(None, feeds), sess.run(None, feeds)
    assert len(got) == 3
    for w, g in zip(want, got):
        assert isinstance(g, np.ndarray) and g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    # a selection of outputs, in the order asked; another batch size
    k, y = sess.run(["k", "y"], feeds)
    np.testing.assert_array_equal(k, want[1])
    np.testing.assert_allclose(y, want[0], rtol=1e-5, atol=1e-6)
    big = {"x": np.random.default_rng(2).standard_normal((5, 3, 8, 8)).astype(np.float32)}
    np.testing.assert_allclose(sess.run(["y"], big)[0], ref.run(["y"], big)[0], rtol=1e-5, atol=1e-6)


def test_torch_provider_checks_inputs_like_numpy(feeds):
    sess = onnxkit.Session(_cnn(), providers=["torch"])
    with pytest.raises(InvalidInputError, match="missing input 'x'"):
        sess.run(None, {})
    with pytest.raises(InvalidInputError, match="element type"):
        sess.run(None, {"x": feeds["x"].astype(np.float64)})
    with pytest.raises(InvalidInputError, match="unknown output"):
        sess.run(["nope"], feeds)
    with pytest.raises(ProviderError, match="numpy"):
        sess.run(None, feeds, profile=True)


def test_unknown_provider_is_an_error():
    with pytest.raises(ProviderError, match="unknown execution provider 'CUDAExecutionProvider'"):
        onnxkit.Session(_cnn(), providers=["CUDAExecutionProvider"])
    with pytest.raises(ProviderError, match="one execution provider"):
        onnxkit.Session(_cnn(), providers=["torch", "numpy"])
    with pytest.raises(ProviderError, match="unknown option"):
        onnxkit.Session(_cnn(), providers=["torch"], provider_options=[{"devise": "cpu"}])


def test_cuda_without_gpu_is_an_error_not_a_fallback(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ProviderError, match="cannot run on device 'cuda'.*is_available"):
        onnxkit.Session(_cnn(), providers=["torch"], provider_options=[{"device": "cuda"}])
    assert onnxkit.backend.supports_device("CPU")
    assert not onnxkit.backend.supports_device("CUDA")
    with pytest.raises(ProviderError):
        onnxkit.backend.prepare(_cnn(), "CUDA", providers=["torch"])


def test_torch_not_installed_is_an_error(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "onnxkit.to_torch._provider", None)    # import fails
    with pytest.raises(ProviderError, match="'torch' is not available"):
        onnxkit.Session(_cnn(), providers=["torch"])
    assert not onnxkit.backend.supports_device("CUDA")


def test_backend_prepare_with_torch_provider(feeds):
    model = _cnn()
    rep = onnxkit.backend.prepare(model, "CPU", providers=["torch"])
    assert rep.session.get_providers() == ["torch"]
    got = rep.run([feeds["x"]])
    want = onnxkit.backend.prepare(model, "CPU").run([feeds["x"]])
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    assert onnxkit.backend.supports_device("CUDA") == torch.cuda.is_available()


def test_cli_provider_flag(tmp_path, capsys, feeds):
    p = tmp_path / "cnn.onnx"
    onnxkit.save(_cnn(), p)
    np.save(tmp_path / "x.npy", feeds["x"])
    for provider in ("numpy", "torch"):
        out = tmp_path / provider
        assert main(["run", str(p), "--input", f"x={tmp_path / 'x.npy'}", "--provider", provider,
                     "--save-outputs", str(out)]) == 0
    assert "provider torch, device cpu" in capsys.readouterr().out
    for name in ("y", "k", "flat"):
        np.testing.assert_allclose(np.load(tmp_path / "torch" / f"{name}.npy"),
                                   np.load(tmp_path / "numpy" / f"{name}.npy"), rtol=1e-5, atol=1e-6)
    assert main(["run", str(p), "--device", "cuda"]) == 2          # the numpy provider has no device
    capsys.readouterr()


def test_cli_cuda_without_gpu(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    p = tmp_path / "cnn.onnx"
    onnxkit.save(_cnn(), p)
    assert main(["run", str(p), "--provider", "torch", "--device", "cuda"]) == 1
    assert "cannot run on device 'cuda'" in capsys.readouterr().err
