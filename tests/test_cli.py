"""The `onnxkit` command, run in-process through main(argv)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest

import onnxkit
from onnxkit.builder import FunctionBuilder, GraphBuilder
from onnxkit.cli import main


def build_rich_model() -> onnxkit.Model:
    """An initializer of 4 KiB, a symbolic batch dim, an If with two branches
    and a model-local function."""
    fb = FunctionBuilder("my.fns", "Scale", inputs=["X"], attributes=["alpha"])
    c = fb.node("Constant", value_float=fb.attr_ref("alpha", "float"))
    fb.output(fb.op.Mul(fb.inputs[0], c), "Y")

    b = GraphBuilder("rich", doc_string="a graph for the cli tests")
    x = b.input("x", "float", ["batch", 32])
    cond = b.input("cond", "bool", [])
    w = b.initializer(np.arange(32 * 32, dtype=np.float32).reshape(32, 32) / 1024, "W")
    bias = b.initializer(np.ones(32, np.float32), "bias")  # 128 bytes: stays inline
    h = b.op.Add(b.op.MatMul(x, w), bias)
    then, other = b.subgraph("then"), b.subgraph("else")
    then.output(then.op.Relu(h), "t")
    other.output(other.op.Neg(h), "e")
    h2 = b.op.If(cond, then_branch=then, else_branch=other)
    b.output(b.call(fb, h2, alpha=2.0), "y", dtype="float", shape=["batch", 32])
    return b.model(opset=21, doc_string="rich test model")


@pytest.fixture
def rich_path(tmp_path):
    path = str(tmp_path / "rich.onnx")
    onnxkit.save(build_rich_model(), path)
    return path


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_error_line(err: str, *fragments: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("onnxkit: error: ")
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0]


# ---------------------------------------------------------------- info


def test_info(capsys, rich_path):
    rc, out, err = run_cli(capsys, "info", rich_path)
    assert rc == 0 and err == ""
    assert "ir_version: 10" in out
    assert "opsets:     ai.onnx 21, my.fns 1" in out
    assert f"producer:   onnxkit {onnxkit.__version__}" in out
    assert "doc:        rich test model" in out
    assert "graph doc:  a graph for the cli tests" in out
    assert "x     float32[batch,32]" in out
    assert "cond  bool[]" in out
    assert "y  float32[batch,32]" in out
    # 5 nodes in the main graph (MatMul, Add, If, Scale and ...) + 2 in the branches
    assert "nodes:      6 (2 in subgraphs), 6 op types" in out
    ops = out[out.index("nodes:"):out.index("parameters:")].splitlines()[1:]
    assert [line.split()[0] for line in ops] == ["Add", "If", "MatMul", "Neg", "Relu", "my.fns.Scale"]
    assert f"parameters: {32 * 32 + 32:,} in 2 initializers (4.1 KiB)" in out
    assert "external data: none" in out
    assert "my.fns.Scale(X) -> (Y)  2 nodes, attributes: alpha" in out


def test_info_external_data_reads_no_tensor_bytes(capsys, rich_path, tmp_path):
    ext = str(tmp_path / "ext.onnx")
    assert run_cli(capsys, "convert", rich_path, ext, "--external-data")[0] == 0
    rc, out, _ = run_cli(capsys, "info", ext)
    assert rc == 0
    assert "external data files (1):" in out
    assert "ext.onnx.data  4.0 KiB in 1 tensor, found" in out
    # info needs only metadata: an emptied data file changes nothing but the status
    open(ext + ".data", "wb").close()
    rc, out2, _ = run_cli(capsys, "info", ext)
    assert rc == 0 and f"parameters: {32 * 32 + 32:,} in 2 initializers" in out2
    os.remove(ext + ".data")
    rc, out3, _ = run_cli(capsys, "info", ext)
    assert rc == 0 and "MISSING" in out3


def test_info_on_a_model_made_by_onnx(capsys, tmp_path):
    from onnx import TensorProto, helper

    def branch(name: str, op: str) -> onnx.GraphProto:
        return helper.make_graph([helper.make_node(op, ["x"], [name + "_y"])], name, [],
                                 [helper.make_tensor_value_info(name + "_y", TensorProto.FLOAT, None)])

    graph = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], then_branch=branch("then", "Relu"),
                          else_branch=branch("else", "Neg"))], "g",
        [helper.make_tensor_value_info("c", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", None])])
    path = tmp_path / "if.onnx"
    path.write_bytes(helper.make_model(graph, producer_name="onnx-helper").SerializeToString())
    rc, out, _ = run_cli(capsys, "info", str(path))
    assert rc == 0
    assert "nodes:      3 (2 in subgraphs), 3 op types" in out
    assert "x  float32[N,?]" in out and "producer:   onnx-helper" in out


# ---------------------------------------------------------------- print


def test_print(capsys, rich_path):
    pytest.importorskip("onnxkit.text")
    rc, out, err = run_cli(capsys, "print", rich_path)
    assert rc == 0 and err == ""
    assert "MatMul" in out and "Scale" in out


def test_print_plumbing(capsys, monkeypatch, rich_path):
    """The command with a stand-in printer, and without any printer."""
    import types

    fake = types.ModuleType("onnxkit.text")
    fake.to_text = lambda model: f"<{model.graph.name}: {len(model.graph)} nodes>"
    monkeypatch.setitem(sys.modules, "onnxkit.text", fake)
    rc, out, err = run_cli(capsys, "print", rich_path)
    assert (rc, out, err) == (0, "<rich: 4 nodes>\n", "")

    monkeypatch.setitem(sys.modules, "onnxkit.text", None)  # import fails
    rc, out, err = run_cli(capsys, "print", rich_path)
    assert rc == 1 and out == ""
    assert_one_error_line(err, "onnxkit.text")


# ---------------------------------------------------------------- convert


def _without_external_markers(m: onnx.ModelProto) -> onnx.ModelProto:
    for t in m.graph.initializer:
        t.ClearField("data_location")
        del t.external_data[:]
    return m


def test_convert_to_external_data_and_back(capsys, rich_path, tmp_path):
    original = onnx.load(rich_path)

    ext = str(tmp_path / "sub" / "ext.onnx")
    os.makedirs(os.path.dirname(ext))
    rc, out, err = run_cli(capsys, "convert", rich_path, ext, "--external-data",
                           "--location", "weights.bin", "--size-threshold", "1000")
    assert rc == 0 and err == ""
    assert "weights.bin (4.0 KiB in 1 tensor)" in out
    raw = onnx.load(ext, load_external_data=False)
    locations = {t.name: t.data_location for t in raw.graph.initializer}
    assert locations == {"W": onnx.TensorProto.EXTERNAL, "bias": onnx.TensorProto.DEFAULT}
    assert _without_external_markers(onnx.load(ext)) == _without_external_markers(original)

    back = str(tmp_path / "inline.onnx")
    rc, out, _ = run_cli(capsys, "convert", ext, back, "--inline")
    assert rc == 0 and "weights.bin" not in out
    inlined = onnx.load(back, load_external_data=False)
    assert all(not t.external_data for t in inlined.graph.initializer)
    # inlining writes data_location=DEFAULT explicitly (as onnx.load does)
    assert _without_external_markers(inlined) == _without_external_markers(original)


def test_convert_default_keeps_small_models_inline(capsys, rich_path, tmp_path):
    out_path = str(tmp_path / "copy.onnx")
    rc, out, _ = run_cli(capsys, "convert", rich_path, out_path)
    assert rc == 0 and out.count("wrote") == 1
    assert onnx.load(out_path) == onnx.load(rich_path)


def test_convert_errors(capsys, rich_path, tmp_path):
    rc, _, err = run_cli(capsys, "convert", rich_path, str(tmp_path / "x.onnx"), "--inline",
                         "--location", "w.bin")
    assert rc == 2
    assert_one_error_line(err, "--location")
    rc, _, err = run_cli(capsys, "convert", rich_path, str(tmp_path / "x.onnx"),
                         "--location", "../outside.bin")
    assert rc == 1
    assert_one_error_line(err, "outside.bin")
    rc, _, err = run_cli(capsys, "convert", rich_path, str(tmp_path / "x.onnx"),
                         "--size-threshold", "-5")
    assert rc == 2
    assert_one_error_line(err, "negative")
    rc, _, err = run_cli(capsys, "convert", rich_path, str(tmp_path / "no" / "dir" / "x.onnx"))
    assert rc == 1
    assert_one_error_line(err, "No such file or directory")


# ---------------------------------------------------------------- demo


def test_demo_with_out(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "demo", "--out", str(tmp_path / "demo"))
    assert rc == 0 and err == ""
    path = tmp_path / "demo" / "demo_cnn.onnx"
    assert path.is_file()
    assert "[1/10] build: 13 nodes, 16 initializers" in out
    assert "image  float32[1,1,28,28]" in out and "probs  float32[1,10]" in out
    assert "[5/10] round trip: ok" in out
    assert "[6/10] check: ok" in out
    assert "[7/10] infer shapes: 13 of 13 values fully shaped; Conv float[1,4,28,28]" in out
    # the optimized model: BatchNormalization folded into the convolutions, standard ONNX
    assert "[8/10] optimize: 13 -> 11 nodes (" in out and "BatchNormalization" not in out.split("[8/10]")[1]
    opt = tmp_path / "demo" / "demo_cnn.optimized.onnx"
    onnx.checker.check_model(onnx.load(str(opt)), full_check=True)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    # the prediction printed is onnxruntime's too
    import onnxruntime

    from onnxkit.cli._demo import _digit_image
    sess = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (probs,) = sess.run(None, {"image": _digit_image()})
    k = int(np.argmax(probs))
    assert f"[9/10] run: a 28x28 test image -> class {k} with probability {float(probs[0, k]):.3f}" in out
    (p2,) = onnxruntime.InferenceSession(str(opt), providers=["CPUExecutionProvider"]).run(None, {"image": _digit_image()})
    np.testing.assert_allclose(p2, probs, rtol=1e-4, atol=1e-6)
    speed = out.split("[10/10] speed: ")[1].splitlines()[0]
    assert "x; the same probabilities (max difference" in speed


def test_demo_model_runs_in_onnxruntime():
    import onnxruntime

    from onnxkit.cli._demo import build_demo_model

    data = onnxkit.to_bytes(build_demo_model())
    assert data == onnxkit.to_bytes(build_demo_model())  # deterministic
    sess = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    image = np.random.default_rng(1).random((1, 1, 28, 28), dtype=np.float32)
    (probs,) = sess.run(None, {"image": image})
    assert probs.shape == (1, 10) and abs(float(probs.sum()) - 1) < 1e-5


def test_demo_in_a_temporary_folder(capsys):
    rc, out, _ = run_cli(capsys, "demo")
    assert rc == 0 and "round trip: ok" in out
    folder = out.split("the temporary folder ")[1].split(" is removed")[0]
    assert not os.path.exists(folder)


# ---------------------------------------------------------------- errors


def test_missing_file(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "info", str(tmp_path / "nope.onnx"))
    assert rc == 1 and out == ""
    assert_one_error_line(err, "nope.onnx", "No such file")


def test_random_bytes(capsys, tmp_path):
    path = tmp_path / "junk.onnx"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    for cmd in (["info", str(path)], ["convert", str(path), str(tmp_path / "o.onnx")]):
        rc, out, err = run_cli(capsys, *cmd)
        assert rc == 1 and out == ""
        assert_one_error_line(err, "junk.onnx")


def test_usage_errors(capsys):
    rc, out, err = run_cli(capsys, "frobnicate")
    assert rc == 2
    assert_one_error_line(err, "invalid choice: 'frobnicate'")
    rc, out, err = run_cli(capsys, "info")
    assert rc == 2
    assert_one_error_line(err, "MODEL", "onnxkit info --help")
    rc, out, err = run_cli(capsys)
    assert rc == 2 and "commands:" in out


@pytest.mark.parametrize("cmd", [[], ["info"], ["print"], ["convert"], ["demo"]])
def test_help_everywhere(capsys, cmd):
    rc, out, err = run_cli(capsys, *cmd, "--help")
    assert rc == 0 and out.startswith("usage: onnxkit") and err == ""


def test_ctrl_c_exits_130_quietly(capsys, monkeypatch, rich_path):
    from onnxkit.cli import _info

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(_info, "format_info", interrupted)
    rc, out, err = run_cli(capsys, "info", rich_path)
    assert (rc, out, err) == (130, "", "")


def test_console_script_help():
    exe = os.path.join(os.path.dirname(sys.executable), "onnxkit")
    if not os.path.exists(exe):
        pytest.skip("the onnxkit console script is not installed (pip install -e .)")
    r = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "usage: onnxkit" in r.stdout
    for name in ("info", "print", "convert", "demo"):
        assert name in r.stdout
