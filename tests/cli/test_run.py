"""``onnxkit run`` and ``onnxkit compare`` on a small model."""

from __future__ import annotations

import numpy as np
import pytest

import onnxkit
from onnxkit.cli import main
from onnxkit.ops import _registry

from tests.runtime.test_session import _mlp


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
    assert main(["run", model_path, "--input", f"nope={tmp_path / 'x.npy'}"]) == 2
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


# ------------------------------------------------------- misuse: one line of onnxkit's own


def _one_line(err: str, *fragments: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("onnxkit: error: ") and "Traceback" not in err, err
    for f in fragments:
        assert f in lines[0], lines[0]


@pytest.mark.parametrize("cmd", ["run", "compare"])
@pytest.mark.parametrize("dim, says", [
    ("batch=abc", "--dim batch=abc: the size must be a whole number"),
    ("batch=-1", "--dim batch=-1: a size cannot be negative"),
    ("batch", "--dim 'batch' must look like NAME=VALUE"),
    ("seq=4", "--dim seq: no input of the model has a dim named 'seq'; its named dims are batch"),
])
def test_bad_dims_are_usage_errors(model_path, capsys, cmd, dim, says):
    assert main([cmd, model_path, "--dim", dim]) == 2
    out, err = capsys.readouterr()
    _one_line(err, says)


def test_bad_input_files_are_usage_errors(model_path, tmp_path, capsys):
    text = tmp_path / "x.txt"
    text.write_text("1 2 3 4\n")
    objects = tmp_path / "obj.npy"
    np.save(objects, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    npz = tmp_path / "x.npz"
    np.savez(npz, x=np.ones((1, 4), np.float32))
    for path, says in [(text, "it is not a .npy file"), (objects, "it holds Python objects (pickled)"),
                       (npz, "an .npz archive; give one .npy file per input")]:
        assert main(["run", model_path, "--input", f"x={path}"]) == 2
        _one_line(capsys.readouterr().err, f"--input x={path}: {says}")
    assert main(["run", model_path, "--input", f"x={tmp_path / 'missing.npy'}"]) == 1
    _one_line(capsys.readouterr().err, "missing.npy", "No such file")


def test_run_says_which_dims_it_used(tmp_path, capsys):
    from onnxkit.builder import GraphBuilder

    b = GraphBuilder("g")
    x = b.input("x", "float", ["batch", None, 3])
    b.output(b.op.Relu(x), "y")
    path = str(tmp_path / "g.onnx")
    onnxkit.save(b.model(opset=21), path)
    assert main(["run", path, "--dim", "batch=2"]) == 0
    out = capsys.readouterr().out
    assert "random inputs with batch=2; dims with no name set to 1: x[1]" in out
    assert "input  x: float32[2, 1, 3]" in out
    assert main(["run", path]) == 0
    assert "random inputs with batch=1 (default); dims with no name set to 1: x[1]" in capsys.readouterr().out


def test_run_prints_latency_and_a_readable_profile(tmp_path, capsys):
    from onnxkit.builder import GraphBuilder

    long_name = "/encoder/layer.11/attention/output/dense/MatMul_with_a_very_long_tail"
    b = GraphBuilder("g")
    x = b.input("x", "float", [2, 4])
    w = b.initializer(np.ones((4, 4), np.float32), "w")
    b.output(b.node("MatMul", x, w, name=long_name), "y")
    path = str(tmp_path / "g.onnx")
    onnxkit.save(b.model(opset=21), path)
    assert main(["run", path, "--repeat", "3"]) == 0
    assert "ms (median of 3 runs; session created in" in capsys.readouterr().out
    assert main(["run", path, "--profile", "--optimize", "none"]) == 0
    out = capsys.readouterr().out
    assert "latency: " in out and "one run, the first profiled" in out
    header = [line for line in out.splitlines() if line.startswith("slowest nodes")][0]
    assert "op type" in header
    row = [line for line in out.splitlines() if "MatMul_with_a_very_long_tail" in line][0]
    assert row.startswith("/encoder/layer.11/attention/output/dense/") and "  MatMul  " in row
    assert main(["run", path, "--repeat", "0"]) == 2


def test_session_takes_python_lists_and_names_bad_inputs():
    from onnxkit.errors import InvalidInputError

    sess = onnxkit.Session(_mlp())
    x = [[1.0, -2.0, 3.0, -4.0]]
    (y,) = sess.run(None, {"x": x})
    np.testing.assert_allclose(y, sess.run(None, {"x": np.array(x, np.float32)})[0])
    with pytest.raises(InvalidInputError, match="input 'x': cannot be read as a tensor"):
        sess.run(None, {"x": [[1.0, 2.0], [3.0]]})
    with pytest.raises(InvalidInputError, match="input 'x': expected element type float"):
        sess.run(None, {"x": [["a", "b", "c", "d"]]})
    with pytest.raises(InvalidInputError, match=r"not the string 'y'; write \['y'\]"):
        sess.run("y", {"x": x})


def test_compare_leaks_no_numpy_warning():
    import warnings

    from onnxkit.runtime._debug import _errors

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _errors(np.array([np.inf, 1.0]), np.array([np.inf, np.nan])) == (np.inf, np.inf)
        assert _errors(np.array([np.inf]), np.array([-np.inf]))[0] == np.inf
