"""``onnxkit quantize``: the three modes from files, calibration from a folder
of .npz files (or Parquet, with pyarrow), the per-node report, and clear
errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

import onnxkit  # noqa: E402
from onnxkit.cli import main  # noqa: E402

from ._helpers import check_with_onnx, cosine, ort_session  # noqa: E402


@pytest.fixture(scope="module")
def resnet(exported):
    return exported("resnet", "torchscript")


def _npz_folder(folder, n: int) -> str:
    rng = np.random.default_rng(0)
    folder.mkdir()
    for i in range(n):
        np.savez(folder / f"{i:03d}.npz", pixels=rng.standard_normal((2, 3, 32, 32)).astype(np.float32))
    return str(folder)


def test_static_from_npz_with_report(resnet, tmp_path, capsys):
    calib = _npz_folder(tmp_path / "calib", 2)
    out = str(tmp_path / "q.onnx")
    assert main(["quantize", resnet, out, "--mode", "static", "--calibration", calib, "--report",
                 "--method", "percentile"]) == 0
    text = capsys.readouterr().out
    assert "sensitivity" in text and "/fc/Gemm" in text and "wrote" in text
    check_with_onnx(out)
    x = {"pixels": np.random.default_rng(5).standard_normal((2, 3, 32, 32)).astype(np.float32)}
    want = ort_session(resnet).run(None, x)[0]
    assert cosine(want, ort_session(out).run(None, x)[0]) > 0.999


def test_dynamic_and_weight_only(exported, tmp_path, capsys):
    src = exported("bert", "torchscript")
    for mode, extra in (("dynamic", []), ("weight-only", ["--bits", "4"])):
        out = str(tmp_path / f"{mode}.onnx")
        assert main(["quantize", src, out, "--mode", mode, *extra]) == 0
        ops = {n.op_type for n in onnxkit.load(out).graph}
        assert ("MatMulInteger" in ops) if mode == "dynamic" else ("DequantizeLinear" in ops)
        check_with_onnx(out)
    assert "quantized 12 nodes (dynamic)" in capsys.readouterr().out


def test_errors(resnet, tmp_path, capsys):
    out = str(tmp_path / "q.onnx")
    assert main(["quantize", resnet, out, "--mode", "static"]) == 2
    assert "--calibration" in capsys.readouterr().err
    assert main(["quantize", resnet, out, "--report"]) == 2
    capsys.readouterr()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["quantize", resnet, out, "--mode", "static", "--calibration", str(empty)]) == 1
    assert "no .npz file" in capsys.readouterr().err
    bad = _npz_folder(tmp_path / "bad", 0)
    np.savez(tmp_path / "bad" / "0.npz", other=np.zeros(3, np.float32))
    assert main(["quantize", resnet, out, "--mode", "static", "--calibration", bad]) == 1
    err = capsys.readouterr().err
    assert err.startswith("onnxkit: error: calibration sample 0") and "pixels" in err
    assert main(["quantize", resnet, out, "--exclude", "nope"]) == 1
    assert "'nope'" in capsys.readouterr().err


def test_parquet(resnet, tmp_path, capsys):
    path = str(tmp_path / "calib.parquet")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        open(path, "wb").close()
        assert main(["quantize", resnet, str(tmp_path / "q.onnx"), "--mode", "static", "--calibration", path]) == 1
        assert "needs the pyarrow package" in capsys.readouterr().err
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    rows = [rng.standard_normal((2, 3, 32, 32)).astype(np.float32) for _ in range(3)]
    table = pa.table({"pixels": pa.array([r.ravel() for r in rows], type=pa.list_(pa.float32()))})
    table = table.replace_schema_metadata({"shape:pixels": "2,3,32,32"})
    pq.write_table(table, path)
    out = str(tmp_path / "q.onnx")
    assert main(["quantize", resnet, out, "--mode", "static", "--calibration", path]) == 0
    check_with_onnx(out)
