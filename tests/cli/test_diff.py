"""`onnxkit diff A B`: exit status 0 equal, 1 different, 2 on error (as diff(1));
--json is the whole diff; --html writes the page or says clearly why not."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import onnxkit
from onnxkit.cli import main
from onnxkit.ir import Tensor

TEXT = '''<ir_version: 10, opset_import: ["" : 21]>
g (float[2,8] x) => (float[2,8] y) {
  [relu1] a = Relu(x)
  [add1] b = Add(a, w)
  [sm] y = Softmax<axis=1>(b)
}'''


def _save(path, text=TEXT, w=None):
    m = onnxkit.parse(text)
    w = np.linspace(-1, 1, 8, dtype=np.float32) if w is None else w
    m.graph.add_initializer(onnxkit.Value("w", const_value=Tensor(w, "w")))
    m.graph.nodes[1].set_input(1, m.graph.initializers["w"])
    onnxkit.save(m, path)
    return str(path)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def models(tmp_path):
    a = _save(tmp_path / "a.onnx")
    b = _save(tmp_path / "b.onnx", TEXT.replace("axis=1", "axis=0"))
    w = np.linspace(-1, 1, 8, dtype=np.float32)
    w[2] += 0.5
    c = _save(tmp_path / "c.onnx", w=w)
    return a, b, c


def test_equal_is_status_0(capsys, models):
    a, _, _ = models
    rc, out, err = run_cli(capsys, "diff", a, a)
    assert rc == 0 and "equal" in out and not err


def test_different_is_status_1(capsys, models):
    a, b, c = models
    rc, out, _ = run_cli(capsys, "diff", a, b)
    assert rc == 1 and "attribute axis: 1 -> 0" in out
    rc, out, _ = run_cli(capsys, "diff", a, c)
    assert rc == 1 and "different (weights only)" in out and "max abs 0.5" in out


def test_error_is_status_2(capsys, models, tmp_path):
    a, _, _ = models
    rc, out, err = run_cli(capsys, "diff", a, str(tmp_path / "missing.onnx"))
    assert rc == 2 and err.startswith("onnxkit: error:") and "missing.onnx" in err and not out
    (tmp_path / "bad.onnx").write_bytes(b"\xff\xff\xff not a model")
    rc, _, err = run_cli(capsys, "diff", str(tmp_path / "bad.onnx"), a)
    assert rc == 2 and "bad.onnx" in err
    rc, _, err = run_cli(capsys, "diff", a)                     # usage
    assert rc == 2


def test_json_parses(capsys, models):
    a, b, c = models
    rc, out, _ = run_cli(capsys, "diff", "--json", a, c)
    d = json.loads(out)
    assert rc == 1 and d["equal"] is False
    assert set(d) >= {"equal", "model", "nodes", "weights", "fusions"}
    (w,) = d["weights"]
    assert w["status"] == "changed" and w["differing"] == 1 and abs(w["max_abs"] - 0.5) < 1e-6
    assert [n["status"] for n in d["nodes"]] == ["same"] * 3
    assert d["nodes"][2]["a"] == {"graph": "main", "index": 2, "name": "sm", "op_type": "Softmax", "domain": ""}
    rc, out, _ = run_cli(capsys, "diff", "--json", a, a)
    assert rc == 0 and json.loads(out)["equal"] is True


def test_no_weights(capsys, models):
    a, _, c = models
    rc, out, _ = run_cli(capsys, "diff", "--no-weights", a, c)
    assert rc == 0 and "not compared" in out


def test_html(capsys, models, tmp_path):
    a, b, _ = models
    out_path = tmp_path / "d.html"
    rc, out, err = run_cli(capsys, "diff", a, b, "--html", str(out_path))
    try:
        from onnxkit.view import diff_page
        diff_page(onnxkit.load(a), onnxkit.load(b), onnxkit.diff(a, b))
    except ImportError:
        # no page to draw in this build: said in one line, status 2 (an error, not "different")
        assert rc == 2 and "--html" in err and not out_path.exists()
    else:
        assert rc == 1 and out_path.read_text().lstrip().lower().startswith("<!doctype html")


def test_console_entry(models):
    a, _, _ = models
    r = subprocess.run([sys.executable, "-m", "onnxkit", "diff", a, a], capture_output=True, text=True)
    assert r.returncode == 0 and "equal" in r.stdout
