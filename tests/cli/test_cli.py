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


def test_print_summarizes_weights(capsys, rich_path):
    rc, out, err = run_cli(capsys, "print", rich_path)
    assert rc == 0 and err == ""
    assert "MatMul" in out and "Scale" in out
    # the 1,024-value weight as its type and a summary; the 32-value bias too; no values
    assert 'float[32,32] W,   # 1,024 values: min 0, max 0.999, mean 0.4995, 0.0977% zeros' in out
    assert "float[32] bias   # 32 values: min 1, max 1, mean 1, 0% zeros" in out
    assert "0.0009765625" not in out
    # summarized text still parses (the weights become typed values without data)
    m = onnxkit.parse(out)
    assert "W" not in m.graph.initializers and len(m.graph) == 4


def test_print_weights_round_trips(capsys, rich_path):
    rc, out, err = run_cli(capsys, "print", "--weights", rich_path)
    assert rc == 0 and err == ""
    assert "0.0009765625" in out
    back = onnxkit.parse(out)
    original = onnxkit.load(rich_path)
    for name in ("W", "bias"):
        np.testing.assert_array_equal(back.graph.initializers[name].const_value.numpy(),
                                      original.graph.initializers[name].const_value.numpy())
    assert onnxkit.to_text(back) == out.rstrip("\n")


def test_print_summarizes_big_constants(capsys, tmp_path):
    b = GraphBuilder("consts")
    x = b.input("x", "float", [40])
    big = b.node("Constant", value=np.arange(40, dtype=np.float32))
    small = b.node("Constant", value=np.arange(3, dtype=np.int64))
    b.output(b.op.Add(x, big), "y")
    b.output(small, "s")
    path = str(tmp_path / "c.onnx")
    onnxkit.save(b.model(opset=21), path)
    rc, out, err = run_cli(capsys, "print", path)
    assert rc == 0 and "value: tensor = float[40] {...}" in out and "int64[3] {0,1,2}" in out


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


# ---------------------------------------------------------------- what a new user hits


def test_python_dash_m_onnxkit():
    r = subprocess.run([sys.executable, "-m", "onnxkit", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "usage: onnxkit" in r.stdout


def test_export_without_torch_says_what_to_install(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)       # import torch fails
    rc, out, err = run_cli(capsys, "export", "pkg.mod:make")
    assert rc == 1
    assert_one_error_line(err, 'onnxkit export needs PyTorch: pip install "onnxkit[torch]"')


def test_empty_file_is_no_model(capsys, tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    for cmd in ("info", "run", "print"):
        rc, out, err = run_cli(capsys, cmd, str(path))
        assert rc == 1, cmd
        assert_one_error_line(err, "empty (0 bytes), not an ONNX model")
    rc, out, err = run_cli(capsys, "check", str(path))
    assert rc == 1 and "1 problem" in out and "empty (0 bytes), not an ONNX model" in out
    with pytest.raises(onnxkit.errors.FormatError, match="empty"):
        onnxkit.Session(str(path))


def _external_model(tmp_path) -> str:
    b = GraphBuilder("g")
    x = b.input("x", "float", [4, 64])
    w = b.initializer(np.ones((64, 64), np.float32), "W")
    s = b.initializer(np.array([4, 64], np.int64), "S")
    b.output(b.op.Reshape(b.op.MatMul(x, w), s), "y", dtype="float", shape=[4, 64])
    path = str(tmp_path / "m.onnx")
    onnxkit.save(b.model(opset=17), path, external_data=True, size_threshold=0)
    return path


def test_short_external_data_is_a_problem_of_the_model(capsys, tmp_path):
    import warnings

    path = _external_model(tmp_path)
    with open(path + ".data", "r+b") as f:
        f.truncate(100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")       # nothing leaks as a warning
        rc, out, err = run_cli(capsys, "check", path)
        assert rc == 1 and err == ""
        assert "initializer 'W'" in out and "lie past the end of 'm.onnx.data' (100 bytes)" in out
        with pytest.raises(onnxkit.errors.ExternalDataError, match=r"tensor 'W'.*\(and 1 more tensors\)"):
            onnxkit.Session(path)


def test_missing_external_data_is_said_first(capsys, tmp_path):
    import warnings

    path = _external_model(tmp_path)
    os.remove(path + ".data")
    with warnings.catch_warnings():
        warnings.simplefilter("error")       # no "optimizer pass failed" warning before the error
        with pytest.raises(onnxkit.errors.ExternalDataError, match="cannot open external data file"):
            onnxkit.Session(path)
        rc, out, err = run_cli(capsys, "run", path)
    assert rc == 1
    assert_one_error_line(err, "tensor 'W'", "cannot open external data file")


def test_infer_names_the_values_not_fully_shaped(capsys, tmp_path):
    m = onnxkit.parse('<ir_version: 10, opset_import: ["" : 18]>\n'
                      'g (float[N,4] x, int64[2] s) => (float[?,?] y) { r = Reshape(x, s)\n y = Relu(r) }')
    path = str(tmp_path / "m.onnx")
    onnxkit.save(m, path)
    rc, out, err = run_cli(capsys, "infer", path)
    assert rc == 0 and "not fully shaped (2): r (Reshape): float[?,?], y (Relu): float[?,?]" in out


def test_optimize_says_why_fusions_need_a_newer_opset(capsys, tmp_path):
    path = str(tmp_path / "m.onnx")
    onnxkit.save(onnxkit.parse('<ir_version: 8, opset_import: ["" : 17]>\n'
                               'g (float[2,4] x) => (float[2,4] y) { y = Relu(x) }'), path)
    rc, out, err = run_cli(capsys, "optimize", path, str(tmp_path / "o.onnx"))
    assert rc == 0
    assert "note: the model is at opset 17; Gelu needs opset 20, Attention needs opset 23" in out
    assert "--level runtime" in out
    rc, out, err = run_cli(capsys, "optimize", path, str(tmp_path / "o.onnx"), "--level", "runtime")
    assert rc == 0 and "note:" not in out


@pytest.mark.parametrize("cmd", ["demo", "export", "run", "print", "optimize"])
def test_help_is_for_users(capsys, cmd):
    rc, out, err = run_cli(capsys, cmd, "--help")
    assert rc == 0 and ":data:" not in out and ":class:" not in out and "``" not in out


def test_package_is_typed():
    assert os.path.exists(os.path.join(os.path.dirname(onnxkit.__file__), "py.typed"))


def test_optimize_converts_up_first_with_opset(capsys, tmp_path):
    path = str(tmp_path / "gelu.onnx")
    onnxkit.save(onnxkit.parse('''<ir_version: 8, opset_import: ["" : 17]>
g (float[2,8] x) => (float[2,8] y) {
   s = Constant <value: tensor = float {1.4142135}> ()
   h = Constant <value: tensor = float {0.5}> ()
   one = Constant <value: tensor = float {1}> ()
   d = Div (x, s)
   e = Erf (d)
   p = Add (e, one)
   m = Mul (x, p)
   y = Mul (m, h)
}'''), path)
    out = str(tmp_path / "o.onnx")
    rc, text, err = run_cli(capsys, "optimize", path, out, "--opset", "20")
    assert rc == 0 and "fuse_gelu x1" in text and "Gelu needs" not in text
    m = onnxkit.load(out)
    assert m.opset_imports[""] == 20 and [n.op_type for n in m.graph] == ["Gelu"]
    x = np.linspace(-3, 3, 16, dtype=np.float32).reshape(2, 8)
    np.testing.assert_allclose(onnxkit.run(out, {"x": x})[0], onnxkit.run(path, {"x": x})[0], rtol=1e-6, atol=1e-7)
    rc, text, err = run_cli(capsys, "optimize", path, out, "--opset", "99")
    assert rc == 2
    assert_one_error_line(err, "--opset 99")
