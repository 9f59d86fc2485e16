"""`onnxkit batch --address` and run_batch(address=) on a Ray head started with the `ray` CLI
(`ray start --head --block`, a process this test owns), outputs compared with onnxkit.Session;
then the head is stopped and none of its processes may be left.

The head is kept private to this test so that it can run beside other Ray users on the same
machine (tests/ray/test_predictor.py's local Ray under `pytest -n 2`, a developer's own Ray):
- its own --temp-dir: `ray start` records its address in <temp-dir>/ray_current_cluster, and a
  plain ray.init() elsewhere reads /tmp/ray/ray_current_cluster to decide whether to join an
  existing cluster, so it never finds this head.  The folder is a short one under /tmp, not
  pytest's tmp_path: Ray's Unix socket paths (<temp-dir>/session_<date>_<pid>/sockets/...)
  must stay under 108 characters;
- --port 0 (Ray picks a free port; it is read back from the address file), no dashboard;
- RAY_AUTH_MODE=disabled for the head and its clients alike, as for the local Ray of
  tests/ray/_models.py: unset, Ray 2.60 turns token authentication on for `ray start` and for a
  connecting driver whenever ~/.ray holds a token, and a local ray.init() writes one there, so
  under -n 2 the head could start without and its drivers connect with;
- stopping: SIGTERM to `ray start --block` alone, which then stops its GCS, raylet and agents
  (and the raylet its workers) itself; the drain on SIGTERM is set to 0 s instead of Ray's
  30 s (signalling the whole group at once kills the GCS under the drain, which then waits
  out its 30 s).  The head runs in a session of its own: every process it started, workers
  included (they get process groups of their own, not sessions), is found by that session id,
  must be gone, and is killed in any case.  Never `ray stop`: it stops every Ray of the user
  on this machine.

Ray 2.60 turns 127.0.0.1 (for --node-ip-address and in an address) into the machine's own
address, so the head registers and is reached as <machine ip>:<port>; the test gives
127.0.0.1:<port> as a user would.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager

import numpy as np

import onnxkit

from ._models import mlp, tabular


def _session_processes(sid: int) -> list[str]:
    """'pid command' of the live (not zombie) processes of session ``sid``: a head started
    in a new session keeps its GCS, raylet, agents and workers in it (workers get process
    groups of their own, but not sessions)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if fields[0] == "Z" or int(fields[3]) != sid:
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")
            out.append(f"{pid} {command[:100]}")
        except (OSError, IndexError, ValueError):      # gone meanwhile
            continue
    return out


def _kill_session(sid: int) -> None:
    for line in _session_processes(sid):
        try:
            os.kill(int(line.split()[0]), signal.SIGKILL)
        except ProcessLookupError:
            pass


@contextmanager
def ray_head(num_cpus: int = 2):
    """A Ray head on this machine from `ray start --head --block`; yields (address, temp_dir,
    env for its clients, the `ray start` process); stopped on exit, and checked gone."""
    temp_dir = tempfile.mkdtemp(prefix="okray", dir="/tmp")
    env = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0",
               RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0")
    env.pop("RAY_ADDRESS", None)                  # would override the address the clients are given
    ray_cli = os.path.join(os.path.dirname(sys.executable), "ray")
    log_path = os.path.join(temp_dir, "head.log")
    with open(log_path, "wb") as log:
        head = subprocess.Popen([ray_cli, "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
                                 "--port", "0", "--num-cpus", str(num_cpus), "--include-dashboard", "false",
                                 "--temp-dir", temp_dir, "--object-store-memory", str(256 << 20),
                                 "--disable-usage-stats"],
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    left = None
    try:
        address_file = os.path.join(temp_dir, "ray_current_cluster")
        deadline = time.monotonic() + 90
        while not os.path.exists(address_file):
            if head.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"ray start --head did not start:\n{open(log_path).read()[-3000:]}")
            time.sleep(0.2)
        time.sleep(0.2)                           # written in one go, but let it land
        with open(address_file) as f:
            port = int(f.read().strip().rsplit(":", 1)[1])
        yield f"127.0.0.1:{port}", temp_dir, env, head
    finally:
        head.terminate()                          # SIGTERM to `ray start` alone: it stops its own processes
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + 15          # workers notice their raylet is gone and exit
        while (left := _session_processes(head.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        _kill_session(head.pid)                   # never leave anything running, even when failing
        head.wait(timeout=10)
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert not left, f"processes of the head still running after it was stopped: {left}"


def _read_output(folder: str) -> dict[str, np.ndarray]:
    """The Parquet files written, as numpy columns, read here: Ray Data's reader would start a
    local Ray in this process; importing ray.data only registers its tensor column type."""
    import pyarrow.parquet as pq
    import ray.data  # noqa: F401

    table = pq.read_table(folder)
    return {c: np.asarray(table.column(c).combine_chunks().to_numpy()) for c in table.column_names}


def _check_output(folder: str, model: str, ids: np.ndarray, x: np.ndarray) -> None:
    got = _read_output(folder)
    assert sorted(got) == ["id", "y", "z"]
    assert sorted(got["id"].tolist()) == ids.tolist()          # every id exactly once
    order = np.argsort(got["id"])
    want = onnxkit.Session(model).run(None, {"x": x})
    np.testing.assert_array_equal(got["y"][order], want[0])
    np.testing.assert_array_equal(got["z"][order], want[1])


def _kill_a_worker_once_output_appears(sid: int, output: str, driver: subprocess.Popen, done: list) -> None:
    """Kill (SIGKILL) one Predictor worker of the head's session as soon as the first output
    file is written, so mid-run: rows are done, most are still to do.  Appends (pid, whether
    the driver was still running) to ``done``."""
    while driver.poll() is None:
        if os.path.isdir(output) and any(f.endswith(".parquet") for f in os.listdir(output)):
            workers = [line for line in _session_processes(sid) if "MapWorker(MapBatches(" in line]
            if workers:
                pid = int(workers[0].split()[0])
                running = driver.poll() is None
                os.kill(pid, signal.SIGKILL)
                done.append((pid, running))
                return
        time.sleep(0.02)


def test_batch_on_a_head_from_ray_start_with_a_worker_killed(tmp_path):
    """`onnxkit batch --address 127.0.0.1:PORT --workers 2` on the head, one of its workers
    killed mid-run: it completes with every id exactly once, the outputs those of
    onnxkit.Session, the restart in the summary; onnxkit.ray.run_batch(address=) from a
    second driver; then the head is stopped and nothing of it is left (ray_head)."""
    import ray._common.utils

    model = mlp(str(tmp_path / "m.onnx"))
    folder, ids, x = tabular(str(tmp_path / "in"), rows=40000, files=4)
    out = str(tmp_path / "out")
    with ray_head() as (address, temp_dir, env, head):
        # the head is this test's alone: a plain ray.init() elsewhere does not find it
        default_file = ray._common.utils.get_ray_address_file(None)
        port = address.rsplit(":", 1)[1]
        assert not (os.path.exists(default_file) and open(default_file).read().strip().endswith(f":{port}"))

        driver = subprocess.Popen([sys.executable, "-m", "onnxkit", "batch", model, folder, out,
                                   "--address", address, "--workers", "2", "--batch-size", "4",
                                   "--columns", "x=f0,f1,f2,f3", "--no-progress"],
                                  env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        killed: list = []
        killer = threading.Thread(target=_kill_a_worker_once_output_appears, args=(head.pid, out, driver, killed))
        killer.start()
        try:
            stdout, stderr = driver.communicate(timeout=240)
        finally:
            if driver.poll() is None:
                driver.kill()
            killer.join()
        assert driver.returncode == 0, stderr[-3000:]
        assert killed and killed[0][1], f"no worker was killed while the run was going: {killed}\n{stdout}"
        # it ran on this head (Ray Data logs under the head's session folder), not on a Ray of its own
        assert f"Full logs are in {temp_dir}" in stderr, stderr[-3000:]
        # the summary (after the raylet's lines about the dead worker) counts the restart
        assert re.search(r"^40,000 rows in .*, 2 workers, 1 worker restart ", stdout, re.M), stdout
        _check_output(out, model, ids, x)

        # the Python API, from a second driver on the same head
        small, small_ids, small_x = tabular(str(tmp_path / "small"), rows=600, files=2, seed=2)
        code = ("import sys, onnxkit.ray; s = onnxkit.ray.run_batch(*sys.argv[1:4], address=sys.argv[4], "
                "workers=2, batch_size=64, columns={'x': ['f0', 'f1', 'f2', 'f3']}, progress=False); "
                "print(s.rows, len(s.workers), s.restarts)")
        run = subprocess.run([sys.executable, "-c", code, model, small, str(tmp_path / "api"), address],
                             env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
        assert run.returncode == 0, run.stderr[-3000:]
        assert run.stdout.split() == ["600", "2", "0"], run.stdout
        assert f"Full logs are in {temp_dir}" in run.stderr, run.stderr[-3000:]
        _check_output(str(tmp_path / "api"), model, small_ids, small_x)
        assert head.poll() is None                # the drivers left, the head runs on
        sid = head.pid
    assert not _session_processes(sid)            # (ray_head checked it too, before cleaning up)
