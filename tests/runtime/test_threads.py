"""``Session(threads=N)``: the cores found (affinity, cgroup quota), numpy's
BLAS found and set around each run and put back, ``threads=1`` measured to
run on one thread (per-thread CPU times from /proc), and onnxkit's own
parallel pieces giving the same outputs as one thread on a CNN and a
transformer (the split forced on with low thresholds, so it runs on this
machine's cores too)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxkit
from onnxkit.ops import _parallel
from onnxkit.runtime import _fast, _threads

from .._real_models import feeds_for

LINUX = sys.platform.startswith("linux") and os.path.isdir("/proc/self/task")


def _matmul_model(n: int) -> bytes:
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((n, n), dtype=np.float32), "w")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "mm",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, n])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])], [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=10).SerializeToString()


# ----------------------------------------------------------- cores available
def test_cores_follow_affinity_not_cpu_count():
    code = ("import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}); "
            "from onnxkit.runtime import _threads; print(_threads.machine_cores())")
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no CPU affinity on this platform")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                            "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "1"
    assert 1 <= _threads.machine_cores() <= len(os.sched_getaffinity(0))


def test_thread_env_variables_bound_the_default_only():
    code = ("import warnings; warnings.simplefilter('error'); import onnxkit; "
            "from onnxkit.runtime import _threads; from tests.runtime.test_threads import _matmul_model; "
            "m = _matmul_model(4); print(onnxkit.Session(m).threads, "
            "onnxkit.Session(m, threads=min(2, _threads.machine_cores())).threads)")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", str(min(2, _threads.machine_cores()))]


def test_cgroup_quota_files(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert _threads._read_quota(str(tmp_path), "cpu.max") == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert _threads._read_quota(str(tmp_path), "cpu.max") is None
    (tmp_path / "cpu.cfs_quota_us").write_text("300000\n")
    (tmp_path / "cpu.cfs_period_us").write_text("100000\n")
    assert _threads._read_quota(str(tmp_path), "cpu.cfs_quota_us") == 3.0
    (tmp_path / "cpu.cfs_quota_us").write_text("-1\n")
    assert _threads._read_quota(str(tmp_path), "cpu.cfs_quota_us") is None


def test_bad_threads_argument():
    m = _matmul_model(4)
    for bad in (0, -2, 1.5, "2", True):
        with pytest.raises(ValueError, match="threads"):
            onnxkit.Session(m, threads=bad)
    assert onnxkit.Session(m).threads == _threads.available_cores()


# --------------------------------------------------------------------- BLAS
def test_blas_found_set_during_run_and_restored(monkeypatch):
    monkeypatch.setattr(_threads, "GEMM", "blas")
    info = _threads.blas_info()
    name = str(np.__config__.CONFIG["Build Dependencies"]["blas"]["name"]).lower()
    if "openblas" in name or "mkl" in name:
        assert info["controllable"], info       # numpy's own BLAS must be found
    if not info["controllable"]:
        pytest.skip(f"numpy's BLAS ({info['name']}) has no thread-count call")
    blas = _threads._get_blas()
    before = blas.get()
    seen = []
    with _threads.running_with(1):
        seen.append(blas.get())
        with _threads.running_with(1):      # nested runs on one thread do not wait
            seen.append(blas.get())
    assert seen == [1, 1]
    assert blas.get() == before
    sess = onnxkit.Session(_matmul_model(64), threads=1)
    sess.run(None, {"x": np.ones((64, 64), np.float32)})
    assert blas.get() == before


def test_more_threads_than_cores_warns_once_and_caps(monkeypatch):
    monkeypatch.setattr(_threads, "GEMM", "blas")
    cores = _threads.machine_cores()
    _threads._warned.discard(f"over{cores + 3}")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        s = onnxkit.Session(_matmul_model(8), threads=cores + 3)
        onnxkit.Session(_matmul_model(8), threads=cores + 3)
    assert sum("more than the" in str(x.message) for x in w) == 1
    blas = _threads._get_blas()
    if blas.get is not None:
        with _threads.running_with(s.threads):
            assert blas.get() == cores
            assert _parallel.workers() == cores
        monkeypatch.setattr(_threads, "GEMM", "split")      # the pool runs the GEMMs: BLAS on one thread
        with _threads.running_with(s.threads):
            assert blas.get() == 1
            assert _parallel.workers() == cores


def test_sessions_with_different_counts_in_threads(monkeypatch):
    """Two sessions with different counts, run from two threads at once: each
    run sees its own count, and the count is put back at the end."""
    monkeypatch.setattr(_threads, "GEMM", "blas")
    blas = _threads._get_blas()
    if blas.get is None or _threads.machine_cores() < 2:
        pytest.skip("needs a controllable BLAS and 2 cores")
    before = blas.get()
    seen: dict = {1: set(), 2: set()}
    errors = []

    def worker(n):
        try:
            for _ in range(20):
                with _threads.running_with(n):
                    seen[n].add(blas.get())
                    time.sleep(0.001)
        except Exception as e:     # pragma: no cover - reported below
            errors.append(e)
    ts = [threading.Thread(target=worker, args=(n,)) for n in (1, 2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    assert seen == {1: {1}, 2: {2}}
    assert blas.get() == before


# ------------------------------------------------------ measured, one thread
def _task_cpu() -> dict:
    """CPU clock ticks (user + system) of each thread of this process."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[tid] = int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return out


@pytest.mark.skipif(not LINUX, reason="reads per-thread CPU times from /proc")
@pytest.mark.parametrize("gemm", ["blas", "split"])
def test_threads_1_runs_on_one_thread_measured(gemm, monkeypatch):
    monkeypatch.setattr(_threads, "GEMM", gemm)
    n = 768
    x = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    sess = onnxkit.Session(_matmul_model(n), threads=1)
    sess.run(None, {"x": x})
    _assert_runs_on_this_thread(sess, x)


def _assert_runs_on_this_thread(sess, x) -> None:
    """Runs for 0.6 s of CPU: the CPU ticks of the process's other threads are a tenth of
    this thread's or fewer."""
    time.sleep(0.2)                 # BLAS threads of earlier work stop spinning
    me = str(threading.get_native_id())
    before = _task_cpu()
    t0 = time.process_time()
    while time.process_time() - t0 < 0.6:
        sess.run(None, {"x": x})
    after = _task_cpu()
    mine = after.get(me, 0) - before.get(me, 0)
    others = sum(v - before.get(t, 0) for t, v in after.items() if t != me)
    assert mine >= 30, (mine, others)           # >= 0.3 s of ticks on this thread
    assert others <= max(2, mine // 10), (mine, others)


@pytest.mark.skipif(not LINUX, reason="reads per-thread CPU times from /proc")
@pytest.mark.parametrize("gemm", ["blas", "split"])
def test_threads_2_uses_two_threads_measured(gemm, monkeypatch):
    """With BLAS's threads, or with each GEMM split over onnxkit's pool (BLAS at 1)."""
    monkeypatch.setattr(_threads, "GEMM", gemm)
    if _threads.machine_cores() < 2 or _threads._get_blas().set is None:
        pytest.skip("needs 2 cores and a controllable BLAS")
    n = 768
    x = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    sess = onnxkit.Session(_matmul_model(n), threads=2)
    before = _task_cpu()
    t0 = time.process_time()
    while time.process_time() - t0 < 0.6:
        sess.run(None, {"x": x})
    after = _task_cpu()
    busy = sorted((v - before.get(t, 0) for t, v in after.items()), reverse=True)
    assert len(busy) >= 2 and busy[1] >= 5, busy     # a second thread did BLAS work


# -------------------------------------------- own parallel work: same outputs
@pytest.fixture
def split_everything(monkeypatch):
    """onnxkit's own pieces on with 2 threads and tiny thresholds, so the
    split paths run on a small model and a 2-core machine."""
    monkeypatch.setattr(_parallel, "MIN_WORKERS", 2)
    monkeypatch.setattr(_parallel, "DEFAULT_MIN_WORK", 64)
    monkeypatch.setattr(_fast, "_BIG", 128)
    calls = []
    real = _parallel.split_rows

    def counting(n_rows, body, **kw):      # the calls that split
        if n_rows > 1 and _parallel.workers() >= _parallel.MIN_WORKERS:
            calls.append(n_rows)
        return real(n_rows, body, **kw)
    monkeypatch.setattr(_parallel, "split_rows", counting)
    return calls


@pytest.mark.parametrize("gemm", ["blas", "split"])
@pytest.mark.parametrize("name", ["resnet", "bert", "gpt2"])
def test_split_gives_the_same_outputs(name, gemm, exported, split_everything, monkeypatch):
    monkeypatch.setattr(_threads, "GEMM", gemm)
    monkeypatch.setattr(_parallel, "GEMM_MIN_WORK", 64)
    path = exported(name, "torchscript")
    feeds = feeds_for([i.name for i in onnxkit.Session(path).get_inputs()], batch=2, seq=8, seed=3)
    (one,) = onnxkit.Session(path, threads=1).run(None, feeds)
    assert not split_everything                  # threads=1: never split
    (two,) = onnxkit.Session(path, threads=2).run(None, feeds)
    if _threads.machine_cores() >= 2:
        assert split_everything                  # the pieces ran
    np.testing.assert_allclose(two, one, rtol=1e-5, atol=1e-5)
    ort = pytest.importorskip("onnxruntime")
    (ref,) = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feeds)
    np.testing.assert_allclose(two, ref, rtol=1e-3, atol=1e-4)


def test_split_rows_covers_once_and_raises(monkeypatch):
    monkeypatch.setattr(_parallel, "MIN_WORKERS", 2)
    hits = np.zeros(1000, np.int64)

    def body(i, j):
        hits[i:j] += 1
    with _parallel.using(4):
        _parallel.split_rows(1000, body, min_work=10)
    assert (hits == 1).all()

    def bad(i, j):
        if i:
            raise ValueError("piece failed")
    with _parallel.using(4), pytest.raises(ValueError, match="piece failed"):
        _parallel.split_rows(1000, bad, min_work=10)


def test_cli_threads(tmp_path, capsys):
    from onnxkit.cli import main
    p = tmp_path / "mm.onnx"
    p.write_bytes(_matmul_model(16))
    assert main(["run", str(p), "--threads", "1"]) == 0
    assert "threads=1)" in capsys.readouterr().out
    assert main(["run", str(p), "--threads", "0"]) != 0
    assert "--threads 0" in capsys.readouterr().err


def test_backend_prepare_threads():
    from onnxkit import backend
    rep = backend.prepare(_matmul_model(8), threads=1)
    assert rep.session.threads == 1
    x = np.arange(64, dtype=np.float32).reshape(8, 8)
    (y,) = rep.run([x])
    w = numpy_helper.to_array(onnx.load_from_string(_matmul_model(8)).graph.initializer[0])
    np.testing.assert_allclose(y, x @ w, rtol=1e-6)


def _both(fn, *args, **kw):
    """fn's result on one thread, and split over 4 (``MIN_WORKERS`` and the
    thresholds patched low by the caller)."""
    one = fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in args], **kw)
    with _parallel.using(4):
        many = fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in args], **kw)
    return one, many


def test_kernels_split_equal_one_thread(split_everything):
    """Each split kernel against its one-thread path, bit for bit where the
    pieces do the same per-row arithmetic."""
    from onnxkit.ops import fused_conv, math_activation, nn_attention, nn_norm
    rng = np.random.default_rng(5)
    f32 = np.float32
    x = rng.standard_normal((2, 9, 11, 16), dtype=f32)
    # depthwise 3x3 (einsum over output rows), bias and ReLU6
    w = rng.standard_normal((3, 3, 1, 16), dtype=f32)
    b = rng.standard_normal(16, dtype=f32)
    one, many = _both(fused_conv.nhwc_conv, x, w, b, None, activation="Clip", activation_params=[0.0, 6.0],
                      group=16, pads=[1, 1, 1, 1])
    np.testing.assert_array_equal(many, one)
    # dense 3x3 (row im2col copy in pieces), residual and ReLU epilogue in pieces
    w = rng.standard_normal((3, 3, 16, 8), dtype=f32)
    z = rng.standard_normal((2, 9, 11, 8), dtype=f32)
    one, many = _both(fused_conv.nhwc_conv, x, w, b[:8], z, activation="Relu", pads=[1, 1, 1, 1])
    np.testing.assert_array_equal(many, one)
    # full im2col (stride 2: the copy in pieces), max pooling over pieces of the channels
    one, many = _both(fused_conv.nhwc_conv, x, w, None, None, strides=[2, 2], pads=[1, 1, 1, 1])
    np.testing.assert_array_equal(many, one)
    one, many = _both(fused_conv.nhwc_max_pool, x, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    np.testing.assert_array_equal(many, one)
    # LayerNorm, Softmax, Gelu
    h = rng.standard_normal((3, 40, 64), dtype=f32)
    one, many = _both(nn_norm._layer_norm_f32, h, rng.standard_normal(64, dtype=f32),
                      rng.standard_normal(64, dtype=f32), 2, 1e-5)
    np.testing.assert_array_equal(many, one)
    one, many = _both(math_activation._softmax, h, 2)
    np.testing.assert_array_equal(many, one)
    big = rng.standard_normal(3 * math_activation._GELU_BLOCK + 7, dtype=f32)
    one, many = _both(math_activation.gelu, big)
    np.testing.assert_array_equal(many, one)
    # attention with a mask that leaves whole rows dead (they must give zeros)
    q, k, v = (rng.standard_normal((2, 2, 16, 8), dtype=f32) for _ in range(3))
    mask = rng.random((2, 1, 16, 16)) > 0.3
    mask[0, 0, 3] = False
    one, many = _both(nn_attention._attention_f32, q, k, v, mask, False, None, -1, -1, True, False)
    for a, c in zip(one, many):
        if a is not None:
            np.testing.assert_array_equal(c, a)
    assert split_everything, "no kernel split"


@pytest.mark.parametrize("shapes", [((64, 32), (64, 32)), ((64, 32), (32,)), ((64, 32), (1, 32)),
                                    ((8, 64, 32), (64, 1))])
def test_fast_elementwise_split(split_everything, shapes):
    from onnxkit.ops._registry import find_kernel
    rng = np.random.default_rng(6)
    a = rng.standard_normal(shapes[0], dtype=np.float32)
    b = rng.standard_normal(shapes[1], dtype=np.float32)
    call, inplace, _ = _fast.fast_call("Mul", find_kernel("Mul", 17).fn, 2, 17)
    want = a * b
    with _parallel.using(4):
        np.testing.assert_array_equal(call(a, b), want)
        a2 = a.copy()
        assert inplace(a2, b) is a2
        np.testing.assert_array_equal(a2, want)
        ucall, uin, _ = _fast.fast_call("Relu", find_kernel("Relu", 14).fn, 1, 14)
        np.testing.assert_array_equal(ucall(a), np.maximum(a, 0))
    assert split_everything


def test_gemm_and_bmm_pieces(monkeypatch):
    """The split GEMM's row and column pieces and the batched product's pieces
    against numpy's one call."""
    monkeypatch.setattr(_parallel, "GEMM_MIN_WORK", 1)
    rng = np.random.default_rng(7)
    f32 = np.float32
    cases = [(rng.standard_normal((300, 64), dtype=f32), rng.standard_normal((64, 40), dtype=f32)),   # rows
             (rng.standard_normal((8, 64), dtype=f32), rng.standard_normal((64, 512), dtype=f32)),    # columns
             (rng.standard_normal((8, 64), dtype=f32), rng.standard_normal((512, 64), dtype=f32).T)]  # transposed B
    for a, b in cases:
        with _parallel.using(3, split_gemm=True):
            got = _parallel.gemm(a, b)
            out = np.empty((a.shape[0], b.shape[1]), f32)
            assert _parallel.gemm(a, b, out=out) is out
        np.testing.assert_allclose(got, np.matmul(a, b), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(out, np.matmul(a, b), rtol=1e-5, atol=1e-5)
    for shape in [(4, 3, 16, 8), (1, 4, 16, 8), (5, 16, 8)]:
        a = rng.standard_normal(shape, dtype=f32)
        b = rng.standard_normal(shape, dtype=f32).swapaxes(-1, -2)
        with _parallel.using(3, split_gemm=True):
            got = _parallel.bmm(a, b)
        np.testing.assert_allclose(got, np.matmul(a, b), rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not LINUX, reason="reads per-thread CPU times from /proc")
def test_torch_provider_threads_1_measured():
    """The torch provider sets torch's (process-wide) CPU thread count for a run, then puts it back."""
    torch = pytest.importorskip("torch")
    n = 768
    x = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    before_count = torch.get_num_threads()
    sess = onnxkit.Session(_matmul_model(n), providers=["torch"], threads=1)
    sess.run(None, {"x": x})
    assert torch.get_num_threads() == before_count
    _assert_runs_on_this_thread(sess, x)
