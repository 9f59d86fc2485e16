"""`onnxkit extract`, `onnxkit merge` and `onnxkit edit`, in-process through main(argv):
the files they write are checked by onnx and run by onnxruntime."""

from __future__ import annotations

import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import onnxkit
from onnxkit.builder import GraphBuilder
from onnxkit.cli import main

TEXT = '''<ir_version: 10, opset_import: ["" : 21]>
g (float[N, 4] x, float[N, 4] z) => (float[N, 4] y) <float[4] w = {1, 2, 3, 4}> {
   t = Relu (x)
   u = Add (t, z)
   y = Mul (u, w)
}'''


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _ort(path: str, feeds: dict) -> dict:
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, feeds)))


@pytest.fixture
def model_path(tmp_path):
    p = str(tmp_path / "m.onnx")
    onnxkit.save(onnxkit.parse(TEXT), p)
    return p


X = np.arange(8, dtype=np.float32).reshape(2, 4) - 3
Z = np.ones((2, 4), np.float32)


def test_extract(capsys, model_path, tmp_path):
    out = str(tmp_path / "part.onnx")
    code, text, err = run_cli(capsys, "extract", model_path, out, "--inputs", "t,z", "--outputs", "u")
    assert code == 0, err
    lines = text.splitlines()
    assert lines[0] == "kept 1 of 3 nodes and 0 of 1 initializer"
    assert lines[1] == "inputs: t: float[N,4], z: float[N,4]" and lines[2] == "outputs: u: float[N,4]"
    assert lines[3].startswith(f"wrote {out} (")
    onnx.checker.check_model(out, full_check=True)
    np.testing.assert_array_equal(_ort(out, {"t": X, "z": Z})["u"], X + Z)


def test_extract_errors_are_one_line(capsys, model_path, tmp_path):
    code, _, err = run_cli(capsys, "extract", model_path, str(tmp_path / "p.onnx"),
                           "--inputs", "t", "--outputs", "y")
    assert code == 1
    assert err.startswith("onnxkit: error: 'y' cannot be computed from the given inputs ('t'): "
                          "it needs 'z'") and err.count("\n") == 1
    assert not os.path.exists(tmp_path / "p.onnx")
    code, _, err = run_cli(capsys, "extract", model_path, str(tmp_path / "p.onnx"), "--inputs", "x")
    assert code == 2 and "--outputs" in err


def test_merge(capsys, model_path, tmp_path):
    out = str(tmp_path / "merged.onnx")
    code, text, err = run_cli(capsys, "merge", model_path, model_path, out, "--connect", "y=x",
                              "--prefix-b", "second_")
    assert code == 0, err
    assert text.splitlines()[0] == "connected y -> x"
    assert "inputs: x, z, second_z; outputs: second_y" in text
    onnx.checker.check_model(out, full_check=True)
    w = np.float32([1, 2, 3, 4])
    once = (np.maximum(X, 0) + Z) * w
    got = _ort(out, {"x": X, "z": Z, "second_z": Z})["second_y"]
    np.testing.assert_allclose(got, (np.maximum(once, 0) + Z) * w)
    code, _, err = run_cli(capsys, "merge", model_path, model_path, out, "--connect", "y=q")
    assert code == 1 and "second model" in err and "no input named 'q'" in err
    code, _, err = run_cli(capsys, "merge", model_path, model_path, out, "--connect", "y")
    assert code == 2 and "A_OUTPUT=B_INPUT" in err


def test_edit(capsys, model_path, tmp_path):
    out = str(tmp_path / "edited.onnx")
    code, text, err = run_cli(capsys, "edit", model_path, out, "--rename", "x=pixels",
                              "--set-shape", "pixels=2,4", "--set-shape", "z=2,?",
                              "--add-output", "t", "--strip", "doc,value_info")
    assert code == 0, err
    lines = text.splitlines()
    assert lines[0] == "renamed x -> pixels"
    assert lines[1] == "input pixels: float[N,4] -> float[2,4]"
    assert lines[2] == "input z: float[N,4] -> float[2,?]"
    assert lines[3] == "outputs now y: float[2,4]"
    assert lines[4] == "added outputs t: float[2,4]"
    assert lines[5] == "stripped doc, value_info"
    assert lines[6].startswith(f"wrote {out}")
    onnx.checker.check_model(out, full_check=True)
    got = _ort(out, {"pixels": X, "z": Z})
    np.testing.assert_array_equal(got["t"], np.maximum(X, 0))
    np.testing.assert_array_equal(got["y"], (np.maximum(X, 0) + Z) * np.float32([1, 2, 3, 4]))


def test_edit_usage_errors(capsys, model_path, tmp_path):
    out = str(tmp_path / "e.onnx")
    code, _, err = run_cli(capsys, "edit", model_path, out)
    assert code == 2 and "nothing to do" in err
    code, _, err = run_cli(capsys, "edit", model_path, out, "--set-shape", "x")
    assert code == 2 and "NAME=D1,D2" in err
    code, _, err = run_cli(capsys, "edit", model_path, out, "--strip", "docs")
    assert code == 2 and "doc, metadata, value_info" in err
    code, _, err = run_cli(capsys, "edit", model_path, out, "--rename", "x=t")
    assert code == 1 and "two values the name 't'" in err
    assert not os.path.exists(out)


def test_external_data_is_kept_or_copied(capsys, tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    big = np.arange(4096 * 4, dtype=np.float32).reshape(4096, 4)
    b = GraphBuilder("g")
    ids = b.input("ids", "int64", ["k"])
    b.output(b.op.Gather(b.initializer(big, "table"), ids), "rows", dtype="float", shape=["k", 4])
    onnxkit.save(b.model(opset=21), str(src / "m.onnx"), external_data=True)
    code, text, err = run_cli(capsys, "edit", str(src / "m.onnx"), str(src / "e.onnx"), "--rename", "ids=i")
    assert code == 0, err
    assert f"external data {src / 'm.onnx.data'} (64.0 KiB) kept where it is, not read" in text
    code, text, err = run_cli(capsys, "extract", str(src / "m.onnx"), str(dst / "p.onnx"),
                              "--inputs", "ids", "--outputs", "rows")
    assert code == 0, err
    assert "copied by the kernel, not read" in text
    copied = os.stat(dst / "m.onnx.data")      # a copy: onnx refuses hard-linked external data
    assert copied.st_ino != os.stat(src / "m.onnx.data").st_ino and copied.st_nlink == 1
    onnx.checker.check_model(str(dst / "p.onnx"), full_check=True)
    got = _ort(str(dst / "p.onnx"), {"ids": np.array([3, 4095])})["rows"]
    np.testing.assert_array_equal(got, big[[3, 4095]])


def test_set_shape_then_optimize_folds_the_shape_chains(capsys, exported, tmp_path):
    src = exported("bert", "torchscript")
    fixed, opt = str(tmp_path / "fixed.onnx"), str(tmp_path / "opt.onnx")
    code, text, err = run_cli(capsys, "edit", src, fixed, "--set-shape", "input_ids=1,8",
                              "--set-shape", "attention_mask=1,8")
    assert code == 0, err
    assert "input input_ids: int64[batch,seq] -> int64[1,8]" in text
    assert "outputs now out: float[1,8,64]" in text
    code, _, err = run_cli(capsys, "optimize", fixed, opt)
    assert code == 0, err
    ops = [n.op_type for n in onnx.load(opt).graph.node]
    assert "Shape" not in ops and "Concat" not in ops
    assert sum(n.op_type == "Shape" for n in onnx.load(src).graph.node) > 5
    from .._real_models import feeds_for
    feeds = feeds_for(["input_ids", "attention_mask"], 1, 8, 0)
    np.testing.assert_allclose(_ort(opt, feeds)["out"], _ort(src, feeds)["out"], rtol=1e-4, atol=1e-5)


def test_a_model_the_checker_rejects_needs_no_check(capsys, tmp_path):
    src, out = str(tmp_path / "untyped.onnx"), str(tmp_path / "out.onnx")
    onnxkit.save(onnxkit.parse(TEXT.replace("=> (float[N, 4] y)", "=> (y)")), src)
    code, _, err = run_cli(capsys, "edit", src, out, "--rename", "x=pixels")
    assert code == 1 and "graph output 0 'y' has no type" in err and not os.path.exists(out)
    code, text, err = run_cli(capsys, "edit", src, out, "--rename", "x=pixels", "--no-check")
    assert code == 0, err
    assert [i.name for i in onnx.load(out).graph.input] == ["pixels", "z"]
