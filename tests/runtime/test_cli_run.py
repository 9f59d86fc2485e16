"""``onnxkit run`` and ``onnxkit compare`` on a small model."""

from __future__ import annotations

import numpy as np
import pytest

import onnxkit
from onnxkit.cli import main
from onnxkit.ops import _registry

from .test_session import _mlp


@pytest.fixture()
def model_path(tmp_path):
    p = tmp_path / "mlp.onnx"
    onnxkit.save(_mlp(), p)
    return str(p)


def test_run_random_inputs_with_dims_and_profile(model_path, tmp_path, capsys):
    out = tmp_path / "outs"
    assert main(["run", model_path, "--dim", "batch=5", "--save-outputs", str(out), "--profile",
                 "--optimize", "none"]) == 0
    text = capsys.readouterr().out
    assert "input  x: float32[5, 4]" in text and "output y: float32[5, 2]" in text
    assert "MatMul" in text and "Relu" in text and "profile: 2 nodes" in text
    y = np.load(out / "y.npy")
    assert y.shape == (5, 2)
    # by default the session runs the optimized graph: one fused product + activation
    assert main(["run", model_path, "--dim", "batch=5", "--save-outputs", str(out), "--profile"]) == 0
    text = capsys.readouterr().out
    assert "FusedMatMul" in text and "profile: 1 nodes" in text
    np.testing.assert_allclose(np.load(out / "y.npy"), y, rtol=1e-6)


def test_run_given_input(model_path, tmp_path, capsys):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "x.npy", x)
    assert main(["run", model_path, "--input", f"x={tmp_path / 'x.npy'}", "--save-outputs", str(tmp_path)]) == 0
    want = np.maximum(x @ (np.arange(8, dtype=np.float32).reshape(4, 2) / 8), 0)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, rtol=1e-6)


def test_run_unknown_input_is_an_error(model_path, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.ones(3))
    assert main(["run", model_path, "--input", f"nope={tmp_path / 'x.npy'}"]) == 1
    assert "no input 'nope'" in capsys.readouterr().err


def test_compare_agrees(model_path, capsys):
    pytest.importorskip("onnxruntime")
    assert main(["compare", model_path, "--dim", "batch=3"]) == 0
    assert "all 2 nodes compared agree" in capsys.readouterr().out


def test_compare_finds_the_first_wrong_kernel(model_path, capsys):
    pytest.importorskip("onnxruntime")
    versions, regs = _registry._KERNELS[("", "Relu")]
    i = len(versions) - 1
    good = regs[i]
    regs[i] = _registry.Registration("Relu", "", versions[i], lambda x: np.abs(x))  # a wrong kernel
    try:
        assert main(["compare", model_path, "--dim", "batch=3", "--seed", "1"]) == 1
    finally:
        regs[i] = good
    out = capsys.readouterr().out
    assert "first divergence: node 1 'act' (Relu)" in out
