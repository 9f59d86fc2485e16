"""`onnxkit batch`: a Parquet folder through the command, outputs compared row by row with
onnxkit.Session; usage and input errors as one line."""

from __future__ import annotations

import numpy as np

import onnxkit
from onnxkit.cli import main

from ..ray._models import cnn, local_ray, mlp, read_output, tabular  # noqa: F401  (local_ray: fixture)


def test_batch_writes_ids_and_outputs(local_ray, tmp_path, capsys):
    model = mlp(str(tmp_path / "m.onnx"))
    folder, ids, x = tabular(str(tmp_path / "in"), rows=300, files=2)
    rc = main(["batch", model, folder, str(tmp_path / "out"), "--workers", "1", "--batch-size", "64",
               "--columns", "x=f0,f1,f2,f3", "--output-names", "y", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.startswith("300 rows in ") and "1 worker," in out and "0 worker restarts" in out
    got = read_output(str(tmp_path / "out"))
    assert sorted(got) == ["id", "y"]
    order = np.argsort(got["id"])
    assert got["id"][order].tolist() == ids.tolist()
    np.testing.assert_array_equal(got["y"][order], onnxkit.Session(model).run(["y"], {"x": x})[0])


def test_batch_errors_are_one_line(local_ray, tmp_path, capsys):
    model = mlp(str(tmp_path / "m.onnx"))
    folder, _, _ = tabular(str(tmp_path / "in"), rows=10, files=1)
    assert main(["batch", model, folder, str(tmp_path / "o"), "--workers", "0"]) == 2
    assert "--workers 0: at least 1" in capsys.readouterr().err
    assert main(["batch", model, folder, str(tmp_path / "o"), "--columns", "nope"]) == 2
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert main(["batch", model, folder, str(tmp_path / "full"), "--columns", "x=f0,f1,f2,f3"]) == 1
    assert "output folder is not empty" in capsys.readouterr().err
    assert main(["batch", model, folder, str(tmp_path / "o"), "--columns", "q=f0"]) == 1
    assert "the model has no input 'q'" in capsys.readouterr().err
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "a.csv").write_text("1,2")
    assert main(["batch", model, str(tmp_path / "txt"), str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("onnxkit: error: ") and "a.csv: not an input file" in err and err.count("\n") == 1
