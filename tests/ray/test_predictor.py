"""onnxkit.ray: Predictor in ds.map_batches, predict(), run_batch over Parquet, .npz and image
folders; every output row compared with onnxkit.Session (and onnxruntime) run directly."""

from __future__ import annotations

import os

import numpy as np
import pytest

import onnxkit
from onnxkit.errors import InvalidInputError

from ._models import cnn, local_ray, mlp, read_output, tabular  # noqa: F401  (local_ray: fixture)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("ray")
    return {"mlp": mlp(str(d / "mlp.onnx")), "cnn": cnn(str(d / "cnn.onnx")), "dir": d,
            "tab": tabular(str(d / "tab"))}


def _expected(model: str, x: np.ndarray) -> list[np.ndarray]:
    return onnxkit.Session(model).run(None, {"x": x})


def test_predict_over_parquet_matches_session_and_onnxruntime(local_ray, files):
    import onnxruntime as ort
    import ray.data
    folder, ids, x = files["tab"]
    ds = ray.data.read_parquet(folder)
    out = onnxkit.ray.predict(ds, files["mlp"], workers=2, batch_size=64,
                              columns={"x": ["f0", "f1", "f2", "f3"]}).to_pandas()
    assert list(out.columns) == ["id", "y", "z"]          # the ids kept, the features consumed
    got_ids = out["id"].to_numpy()
    assert sorted(got_ids.tolist()) == ids.tolist()       # every row exactly once
    order = np.argsort(got_ids)
    y, z = np.stack(out["y"].to_numpy())[order], np.stack(out["z"].to_numpy())[order]
    ey, ez = _expected(files["mlp"], x)
    np.testing.assert_array_equal(y, ey)
    np.testing.assert_array_equal(z, ez)
    assert z.shape == (len(ids), 3, 1)
    oy, _ = ort.InferenceSession(files["mlp"], providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_allclose(y, oy, rtol=1e-5, atol=1e-6)


def test_predictor_in_the_map_batches_idiom(local_ray, files):
    import ray.data
    x = np.random.default_rng(3).standard_normal((90, 4)).astype(np.float32)
    ds = ray.data.from_items([{"key": f"r{k}", "x": x[k]} for k in range(len(x))])
    out = ds.map_batches(onnxkit.ray.Predictor, fn_constructor_kwargs={"model": files["mlp"], "outputs": ["y"]},
                         concurrency=1, batch_size=32, batch_format="numpy").to_pandas()
    assert list(out.columns) == ["key", "y"]
    order = np.argsort([int(k[1:]) for k in out["key"]])
    np.testing.assert_array_equal(np.stack(out["y"].to_numpy())[order], _expected(files["mlp"], x)[0])


def test_run_batch_npz_and_image_folders(local_ray, files):
    from PIL import Image
    d = files["dir"]
    rng = np.random.default_rng(5)
    arrays = d / "arrays"
    arrays.mkdir()
    xs = rng.standard_normal((7, 4)).astype(np.float32)
    for k, row in enumerate(xs):
        np.savez(arrays / f"s{k}.npz", x=row)
    s = onnxkit.ray.run_batch(files["mlp"], str(arrays), str(d / "out_npz"), workers=1, batch_size=3,
                              progress=False)
    assert s.rows == 7 and s.restarts == 0
    out = read_output(str(d / "out_npz"))
    order = np.argsort(out["path"])
    assert out["path"][order].tolist() == [f"s{k}.npz" for k in range(7)]
    # batches of other sizes than the 7 rows at once: BLAS may round the last bit differently
    np.testing.assert_allclose(out["y"][order], _expected(files["mlp"], xs)[0], rtol=1e-6, atol=1e-6)

    images = d / "images"
    images.mkdir()
    pix = rng.integers(0, 256, (5, 12, 10, 3), dtype=np.uint8)
    for k, p in enumerate(pix):
        Image.fromarray(p).save(images / f"im{k}.png")
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    s = onnxkit.ray.run_batch(files["cnn"], str(images), str(d / "out_img"), workers=1, batch_size=2,
                              mean=mean, std=std, progress=False)
    assert s.rows == 5
    out = read_output(str(d / "out_img"))
    order = np.argsort(out["path"])
    # the preprocessing written out by hand: bilinear resize to the model's 8x8, scale, normalize, NCHW
    want = np.stack([((np.asarray(Image.fromarray(p).resize((8, 8), Image.BILINEAR), np.float32) / 255.0
                       - np.array(mean, np.float32)) / np.array(std, np.float32)).transpose(2, 0, 1) for p in pix])
    np.testing.assert_allclose(out["y"][order], _expected(files["cnn"], want)[0], rtol=1e-5, atol=1e-6)


class DiesOnce(onnxkit.ray.Predictor):
    """A Predictor whose worker process dies (os._exit) on its first batch, once per run."""

    marker = None

    def __call__(self, batch):
        if not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(1)
        return super().__call__(batch)


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(local_ray, files, tmp_path):
    import ray.cloudpickle
    import ray.data
    import sys
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])   # the workers cannot import tests/
    DiesOnce.marker = str(tmp_path / "died")
    folder, ids, x = files["tab"]
    ds = ray.data.read_parquet(folder).map_batches(
        DiesOnce, fn_constructor_kwargs={"model": files["mlp"], "columns": {"x": ["f0", "f1", "f2", "f3"]}},
        concurrency=2, num_cpus=0.5, batch_size=50, batch_format="numpy")   # room left for Ray Data's tasks
    ds.write_parquet(str(tmp_path / "out"))
    assert os.path.exists(DiesOnce.marker)                # a worker did die
    out = read_output(str(tmp_path / "out"))
    assert sorted(out["id"].tolist()) == ids.tolist()     # each id exactly once
    order = np.argsort(out["id"])
    np.testing.assert_array_equal(out["y"][order], _expected(files["mlp"], x)[0])


def test_bad_inputs_fail_with_one_clear_error(local_ray, files, tmp_path):
    folder = files["tab"][0]
    with pytest.raises(InvalidInputError, match=r"input 'x' reads column 'x'.*columns are \['f0'"):
        onnxkit.ray.run_batch(files["mlp"], folder, str(tmp_path / "o1"), workers=1, progress=False)
    # a column of strings where the model takes floats, named with the row's id
    import pyarrow as pa
    import pyarrow.parquet as pq
    (tmp_path / "s").mkdir()
    pq.write_table(pa.table({"id": [7, 8], "x": ["a", "b"]}), tmp_path / "s" / "p.parquet")
    with pytest.raises(InvalidInputError, match=r"column x holds <U1 but input 'x' takes float32.*id=[78]"):
        onnxkit.ray.run_batch(files["mlp"], str(tmp_path / "s"), str(tmp_path / "o2"), workers=1, progress=False)
    # an image file that is not one: named, from the worker that decoded it
    (tmp_path / "im").mkdir()
    (tmp_path / "im" / "bad.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(InvalidInputError, match=r"bad\.png: not a readable image"):
        onnxkit.ray.run_batch(files["cnn"], str(tmp_path / "im"), str(tmp_path / "o3"), workers=1, progress=False)
    # a broken .npy, caught on the driver before anything starts
    (tmp_path / "np").mkdir()
    (tmp_path / "np" / "a.npy").write_bytes(b"nonsense")
    with pytest.raises(InvalidInputError, match=r"a\.npy: not a \.npy/\.npz file"):
        onnxkit.ray.run_batch(files["mlp"], str(tmp_path / "np"), str(tmp_path / "o4"), workers=1, progress=False)


def _run_skipping(model, folder, out_folder, rows: int, batch_size: int):
    """run_batch with on_error="skip" over a folder holding one bad file: (the output, its
    order by path, the errors in that order)."""
    s = onnxkit.ray.run_batch(model, str(folder), str(out_folder), workers=1, batch_size=batch_size,
                              on_error="skip", progress=False)
    assert s.rows == rows and s.error_rows == 1
    out = read_output(str(out_folder))
    order = np.argsort(out["path"])
    return out, order, out["error"][order]


def test_rows_that_do_not_fit_are_kept_with_their_error_when_skipping(local_ray, files, tmp_path):
    (tmp_path / "a").mkdir()
    xs = np.random.default_rng(9).standard_normal((4, 4)).astype(np.float32)
    for k in range(4):
        np.save(tmp_path / "a" / f"r{k}.npy", xs[k] if k != 2 else xs[k][:3])   # r2 has 3 features, not 4
    out, order, errors = _run_skipping(files["mlp"], tmp_path / "a", tmp_path / "o", rows=4, batch_size=4)
    assert [bool(e) for e in errors] == [False, False, True, False] and "path='r2.npy'" in errors[2]
    good = [0, 1, 3]
    # the rows of a failed batch run one by one: a batch of 1 may round differently in the last bit
    np.testing.assert_allclose(out["y"][order][good], _expected(files["mlp"], xs[good])[0], rtol=1e-6, atol=1e-6)


def test_a_model_that_cannot_load_fails_at_once(tmp_path, files):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    with pytest.raises(onnxkit.errors.OnnxkitError):
        onnxkit.ray.run_batch(str(bad), files["tab"][0], str(tmp_path / "o"), progress=False)
    assert not (tmp_path / "o").exists()


def test_import_onnxkit_does_not_import_ray():
    import subprocess
    import sys
    code = "import sys, onnxkit, onnxkit.cli; print('ray' in sys.modules, 'onnxkit.ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.split() == ["False", "False"]


def test_the_three_providers_of_a_worker_agree(files):
    from onnxkit.ray import open_session
    x = np.random.default_rng(4).standard_normal((16, 4)).astype(np.float32)
    want = _expected(files["mlp"], x)
    for provider in ("numpy", "torch", "onnxruntime"):
        got = open_session(files["mlp"], provider, threads=1).run(None, {"x": x})
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=provider)
    with pytest.raises(onnxkit.errors.ProviderError, match="unknown provider 'tpu'"):
        open_session(files["mlp"], "tpu")


def test_one_parquet_file_feeds_every_worker(local_ray, tmp_path):
    """Ray Data's own reader makes a small Parquet file one block, which one worker alone
    would take: run_batch reads it in blocks of a quarter of a worker's share."""
    from onnxkit.ray._run import run_batch
    model = mlp(str(tmp_path / "m.onnx"))
    folder, ids, x = tabular(str(tmp_path / "in"), rows=600, files=1)
    summary = run_batch(model, folder, str(tmp_path / "out"), workers=2, batch_size=32,
                        columns={"x": ["f0", "f1", "f2", "f3"]}, outputs=["y"], progress=False)
    assert summary.rows == 600
    # read in blocks (one output file each) that both workers can take: which worker runs them is
    # Ray's choice (in so small a run the first worker up may run all before the second is)
    assert len(summary.files) >= 4 * 2, summary.files
    got = read_output(str(tmp_path / "out"))
    order = np.argsort(got["id"])
    assert got["id"][order].tolist() == ids.tolist()
    np.testing.assert_array_equal(got["y"][order], onnxkit.Session(model).run(["y"], {"x": x})[0])


_PRIVATE_GROWTH = """
import sys, numpy as np, onnxkit
def private_kb():
    with open("/proc/self/smaps_rollup") as f:
        return sum(int(l.split()[1]) for l in f if l.startswith("Anonymous:"))
before = private_kb()
sess = onnxkit.Session(sys.argv[1], threads=1)
sess.run(None, {"x": np.ones((2, 64), np.float32)})
print(private_kb() - before)
"""


def test_workers_share_one_aligned_copy_of_a_model_with_unaligned_weights(tmp_path):
    """Protobuf leaves most weights unaligned in an .onnx file; each worker would read them into
    memory of its own.  shared_path writes one aligned copy per machine that every worker maps."""
    import subprocess
    import sys
    from onnxkit._io import unaligned_weight_bytes
    from onnxkit.ray._predictor import SHARED_COPY_BYTES, shared_path
    model = str(tmp_path / "wide.onnx")
    _wide_mlp(model, seed=0)
    unaligned = unaligned_weight_bytes(onnxkit.load(model))
    assert unaligned > SHARED_COPY_BYTES
    copy = shared_path(model)
    assert copy != model and shared_path(model) == copy             # written once, then reused
    assert unaligned_weight_bytes(onnxkit.load(copy)) == 0
    x = np.random.default_rng(0).standard_normal((5, 64)).astype(np.float32)
    np.testing.assert_array_equal(onnxkit.Session(copy).run(None, {"x": x})[0],
                                  onnxkit.Session(model).run(None, {"x": x})[0])
    # the memory a worker holds of its own (anonymous: not the page cache's, which every worker
    # mapping the file shares): the unaligned weights more when it opens the model than the copy
    grow = {p: int(subprocess.run([sys.executable, "-c", _PRIVATE_GROWTH, p], capture_output=True, text=True,
                                  check=True).stdout) * 1024 for p in (model, copy)}
    # (the rest of what a Session allocates varies with the machine: 5 MB here, 16 MB on CI)
    assert grow[model] - grow[copy] > 0.9 * unaligned, grow
    # a new version of the file gets a new copy, and the old one goes
    os.utime(model, ns=(1, 1))
    newer = shared_path(model)
    assert newer != copy and os.path.exists(newer) and not os.path.exists(copy)
    import shutil
    shutil.rmtree(os.path.dirname(os.path.dirname(newer)))


def _wide_mlp(path: str, seed: int) -> None:
    """x float[N,64] -> 64x2048 -> 3 x (2048x1024 / 1024x2048 ...) -> y: 24 MB of weights, inline."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    dims = [64, 2048, 1024, 2048, 1024]
    nodes, inits, prev = [], [], "x"
    for k in range(len(dims) - 1):
        inits.append(numpy_helper.from_array((rng.standard_normal((dims[k], dims[k + 1])) * 0.03)
                                             .astype(np.float32), f"W{k}"))
        nodes.append(helper.make_node("MatMul", [prev, f"W{k}"], [f"h{k}"]))
        prev = f"h{k}"
    g = helper.make_graph(nodes, "wide", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])],
                          [helper.make_tensor_value_info(prev, TensorProto.FLOAT, ["N", dims[-1]])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=10), path)


def test_an_unreadable_image_is_an_error_row_when_skipping(local_ray, files, tmp_path):
    """Images are decoded in the workers; with on_error="skip" a file that is not an image is
    written with its error beside the rows of its batch that decoded."""
    from PIL import Image
    (tmp_path / "im").mkdir()
    pix = np.random.default_rng(6).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    for k, p in enumerate(pix):
        Image.fromarray(p).save(tmp_path / "im" / f"im{k}.png")
    (tmp_path / "im" / "im1.png").write_bytes(b"\x89PNG not really")
    out, order, errors = _run_skipping(files["cnn"], tmp_path / "im", tmp_path / "o", rows=3, batch_size=3)
    assert [bool(e) for e in errors] == [False, True, False] and "im1.png: not a readable image" in errors[1]
    want = np.stack([(np.asarray(p, np.float32) / 255.0).transpose(2, 0, 1) for p in pix[[0, 2]]])
    np.testing.assert_allclose(out["y"][order][[0, 2]], _expected(files["cnn"], want)[0], rtol=1e-5, atol=1e-6)
