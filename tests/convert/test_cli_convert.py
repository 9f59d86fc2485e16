"""`onnxkit convert MODEL OUT --opset N [--ir-version K]` and `--for onnxruntime`."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort

import onnxkit
from onnxkit.cli import main
from tests.cli.test_cli import build_rich_model


def _cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_convert_opset_down_and_ir(capsys, tmp_path):
    src, out = tmp_path / "m.onnx", tmp_path / "m13.onnx"
    onnxkit.save(build_rich_model(), str(src))
    rc, text, err = _cli(capsys, "convert", src, out, "--opset", 13)
    assert rc == 0, err
    assert "opset 21 -> 13" in text
    m = onnx.load(str(out))
    onnx.checker.check_model(m, full_check=True)
    assert {o.domain: o.version for o in m.opset_import}[""] == 13
    feeds = {"x": np.ones((2, 32), np.float32), "cond": np.array(True)}
    want = onnxkit.Session(str(src)).run(None, feeds)[0]
    got = ort.InferenceSession(str(out)).run(None, feeds)[0]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    rc, _, err = _cli(capsys, "convert", src, tmp_path / "ir9.onnx", "--opset", 13, "--ir-version", 9)
    assert rc == 0 and onnx.load(str(tmp_path / "ir9.onnx")).ir_version == 9


def test_convert_for_onnxruntime(capsys, tmp_path):
    src, out = tmp_path / "m.onnx", tmp_path / "ort.onnx"
    onnxkit.save(build_rich_model(), str(src))
    rc, text, err = _cli(capsys, "convert", src, out, "--for", "onnxruntime")
    assert rc == 0, err
    ort.InferenceSession(str(out))


def test_convert_refusal_is_one_line(capsys, tmp_path):
    b = onnxkit.GraphBuilder("g")
    x = b.input("x", "float", ["n", 4])
    b.output(b.op.Gelu(x), "y")
    src = tmp_path / "gelu.onnx"
    m = b.model(opset=20)
    m.graph.nodes[0].outputs[0].type = None
    onnxkit.save(m, str(src))
    rc, _, err = _cli(capsys, "convert", src, tmp_path / "o.onnx", "--opset", 9)
    assert rc == 0, err          # Gelu expands into Erf arithmetic at opset 9
    rc, _, err = _cli(capsys, "convert", src, tmp_path / "o.onnx", "--opset", 7)
    assert rc == 1 and len(err.splitlines()) == 1 and "Erf" in err and "node" in err


def test_convert_for_an_older_onnxruntime(capsys, tmp_path):
    """--for onnxruntime==1.14: that release's limits (IR 8, opset 18)."""
    src, out = tmp_path / "m.onnx", tmp_path / "ort114.onnx"
    onnxkit.save(build_rich_model(), str(src))
    rc, text, err = _cli(capsys, "convert", src, out, "--for", "onnxruntime==1.14")
    assert rc == 0, err
    m = onnx.load(str(out))
    assert m.ir_version <= 8 and {o.domain: o.version for o in m.opset_import}[""] <= 18
    feeds = {"x": np.ones((2, 32), np.float32), "cond": np.array(True)}
    want = onnxkit.Session(str(src)).run(None, feeds)[0]
    np.testing.assert_allclose(ort.InferenceSession(str(out)).run(None, feeds)[0], want, rtol=1e-5)
    rc, _, err = _cli(capsys, "convert", src, out, "--for", "tensorrt")
    assert rc != 0 and "onnxruntime==X.Y" in err
