"""``onnxkit.to_torch.to_source``: an imported model written as a Python
package (module.py, weights.pt, _support/) that runs with torch alone.

Every generated package here is loaded in ONE subprocess where onnxkit cannot
be imported (``sys.modules["onnxkit"] = None``, PYTHONPATH = the packages'
parent only); its outputs (and gradients) come back as .pt files and are
checked against the conformance suite's expected outputs, onnxruntime,
onnxkit.Session and the ``to_torch`` module they were written from."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

import onnxkit  # noqa: E402
from onnxkit.to_torch import ToTorchError, to_source, to_torch  # noqa: E402
from onnxkit.to_torch._dtypes import from_numpy, to_numpy  # noqa: E402

from tests.backend.conformance_exclusions import EXCLUDED_TO_TORCH  # noqa: E402

#: every k-th node case of the conformance suite (sorted by name), plus these
SAMPLE_EVERY = 23
ALSO = ["test_if", "test_loop11", "test_scan9_sum", "test_range_float_type_positive_delta_expanded",
        "test_layer_normalization_4d_axis1_expanded", "test_resize_upsample_scales_linear",
        "test_reduce_mean_default_axes_keepdims_example", "test_gemm_all_attributes",
        "test_conv_with_autopad_same", "test_softmax_axis_1_expanded",
        # helpers made by factories (closures, a lambda argument, a loop-bound name), helpers of
        # onnxkit.ops imported inside a rule's body, numpy helpers of the recurrent rules
        "test_reduce_l1_keep_dims_example", "test_reduce_log_sum_exp_keepdims_example",
        "test_resize_downsample_scales_cubic", "test_lstm_defaults", "test_gru_defaults"]

_RUNNER = r'''
import json, sys, torch
sys.modules["onnxkit"] = None               # any import of onnxkit fails
jobs = json.load(open(sys.argv[1]))
report = {}
for job in jobs:
    try:
        mod = __import__(job["package"] + ".module", fromlist=["Model"])
        model = mod.Model()
        inputs = torch.load(job["inputs"], weights_only=True)
        if job.get("export"):                # torch.export with these dims dynamic, run at `inputs`
            example = torch.load(job["export"]["example"], weights_only=True)
            dims = {}
            shapes = tuple({int(a): dims.setdefault(d, torch.export.Dim(d, min=2, max=64))
                            for a, d in spec.items()} for spec in job["export"]["dims"])
            model = torch.export.export(model.eval(), tuple(example), dynamic_shapes=shapes).module()
        if job.get("grad"):
            out = model(*inputs)
            (out if isinstance(out, torch.Tensor) else out[0]).float().square().sum().backward()
            torch.save({n: p.grad for n, p in model.named_parameters()}, job["outputs"])
        else:
            with torch.no_grad():
                out = model(*inputs)
            torch.save([out] if isinstance(out, torch.Tensor) else list(out), job["outputs"])
        report[job["outputs"]] = "ok"
    except Exception as e:
        report[job["outputs"]] = f"{type(e).__name__}: {e}"
print(json.dumps(report))
'''


class _Runs:
    """Packages written under one folder, run together in a subprocess without onnxkit."""

    def __init__(self, root) -> None:
        self.root = str(root)
        self.jobs: list[dict] = []
        self.report: dict = {}

    def add(self, package: str, inputs: list, grad: bool = False, export: tuple | None = None) -> str:
        """Run ``Model()(*inputs)`` (``export``: (example inputs, [{axis: dim name}] per input):
        through ``torch.export.export`` of the module at the example, those dims dynamic)."""
        tag = f"{package}-{len(self.jobs)}"
        path = os.path.join(self.root, f"{tag}.in.pt")
        torch.save(list(inputs), path)
        out = os.path.join(self.root, f"{tag}.out.pt")
        job = {"package": package, "inputs": path, "outputs": out, "grad": grad}
        if export is not None:
            torch.save(list(export[0]), path + ".example")
            job["export"] = {"example": path + ".example", "dims": export[1]}
        self.jobs.append(job)
        return out

    def run(self) -> None:
        spec = os.path.join(self.root, "jobs.json")
        with open(spec, "w") as f:
            json.dump(self.jobs, f)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["PYTHONPATH"] = self.root
        p = subprocess.run([sys.executable, "-c", _RUNNER, spec], cwd=self.root, env=env,
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-3000:]
        self.report = json.loads(p.stdout.strip().splitlines()[-1])

    def result(self, out: str):
        assert self.report.get(out) == "ok", f"{out}: {self.report.get(out)}"
        return torch.load(out, weights_only=True)


class _CNN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8, 5)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))          # LINE_CONV
        return self.fc(y.mean(dim=(2, 3)))


def _node_cases():
    from onnx.backend.test.case import node
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = {c.name: c for c in node.collect_testcases() if c.model is not None and c.data_sets}
    names = sorted(n for n in cases if n + "_cpu" not in EXCLUDED_TO_TORCH)
    picked = names[::SAMPLE_EVERY] + [n for n in ALSO if n in cases]
    return [cases[n] for n in dict.fromkeys(picked)]


def _tensors(arrays) -> list | None:
    if not all(isinstance(a, np.ndarray) and a.dtype != object for a in arrays):
        return None                                   # sequences, optionals, strings
    return [from_numpy(np.array(a, copy=True)) for a in arrays]


@pytest.fixture(scope="module")
def built(tmp_path_factory, exported):
    root = tmp_path_factory.mktemp("generated")
    runs = _Runs(root)
    out: dict = {"runs": runs, "root": str(root), "cases": [], "refused": []}

    # conformance node cases
    for i, case in enumerate(_node_cases()):
        inputs = _tensors(case.data_sets[0][0])
        if inputs is None:
            continue
        pkg = f"case{i}"
        try:
            to_source(case.model, root / pkg)
        except ToTorchError as e:
            out["refused"].append((case.name, str(e)))
            continue
        module = to_torch(case.model)
        with torch.no_grad():
            ref = module(*inputs)
        ref = [ref] if len(module.onnx_outputs) == 1 else list(ref)
        out["cases"].append((case, ref, runs.add(pkg, inputs)))

    # a small CNN with BatchNormalization, exported by onnxkit.export (dynamic batch)
    torch.manual_seed(0)
    cnn = _CNN().eval()
    with torch.no_grad():
        cnn.bn.running_mean.uniform_(-0.5, 0.5)
        cnn.bn.running_var.uniform_(0.5, 2.0)
    model = onnxkit.export(cnn, (torch.randn(2, 3, 8, 8),), input_names=["pixels"],
                           dynamic_shapes={"pixels": {0: "batch"}})
    cnn_path = str(root / "cnn.onnx")
    model.ir_version = min(model.ir_version, 10)
    onnxkit.save(model, cnn_path)
    out["cnn"] = (cnn_path, to_source(cnn_path, root / "cnn"))
    rng = np.random.default_rng(0)
    out["cnn_inputs"] = [rng.standard_normal((b, 3, 8, 8), dtype=np.float32) for b in (2, 3)]
    out["cnn_outs"] = [runs.add("cnn", [torch.from_numpy(x)]) for x in out["cnn_inputs"]]
    out["cnn_grad"] = runs.add("cnn", [torch.from_numpy(out["cnn_inputs"][1])], grad=True)

    # a small BERT exported by torch.onnx.export (dynamic batch and sequence)
    from tests._real_models import feeds_for
    bert = exported("bert", "torchscript")
    out["bert"] = (bert, to_source(bert, root / "bert"))
    out["bert_feeds"] = [feeds_for(["input_ids", "attention_mask"], b, s, seed=b) for b, s in ((2, 8), (3, 5))]
    bert_in = [[torch.from_numpy(f["input_ids"]), torch.from_numpy(f["attention_mask"])] for f in out["bert_feeds"]]
    out["bert_outs"] = [runs.add("bert", x) for x in bert_in]
    # torch.export of the written module at (2, 8), batch and sequence dynamic, run at (3, 5)
    dims = [{0: "batch", 1: "seq"}, {0: "batch", 1: "seq"}]
    out["bert_exported"] = runs.add("bert", bert_in[1], export=(bert_in[0], dims))
    runs.run()
    return out


def _close(got, want, rtol, atol):
    got = to_numpy(got) if isinstance(got, torch.Tensor) else np.asarray(got)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    if want.dtype.kind in "fc" or str(want.dtype) in ("bfloat16",):
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol)
    else:
        np.testing.assert_array_equal(got, want)


def test_conformance_sample_without_onnxkit(built):
    cases = built["cases"]
    assert len(cases) >= 50, (len(cases), built["refused"][:3])
    ops = {n.op_type for case, _, _ in cases for n in case.model.graph.node}
    assert {"If", "Loop", "Scan", "Conv", "Resize", "Gemm", "LSTM", "ReduceLogSumExp"} <= ops
    for case, ref, out in cases:
        got = built["runs"].result(out)
        assert len(got) == len(ref) == len(case.data_sets[0][1]), case.name
        for g, r, want in zip(got, ref, case.data_sets[0][1]):
            # another process: BLAS/torch may split a reduction differently (last-bit differences)
            assert torch.equal(g, r) or (g.is_floating_point() and
                                         torch.allclose(g, r, rtol=1e-5, atol=1e-6, equal_nan=True)), \
                f"{case.name}: differs from the to_torch module"
            if want.dtype.name != "bfloat16":        # (the suite's bf16 data is compared after a cast)
                _close(g, want, case.rtol, case.atol)
    for name, message in built["refused"]:           # only numpy-kernel nodes are refused, and named
        assert "numpy kernel" in message and "'" in message, (name, message)


def test_cnn_matches_onnxruntime_and_session_at_two_batch_sizes(built):
    path, _ = built["cnn"]
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    ok = onnxkit.Session(path)
    for x, out in zip(built["cnn_inputs"], built["cnn_outs"]):
        (got,) = built["runs"].result(out)
        assert got.shape[0] == x.shape[0]
        _close(got, sess.run(None, {"pixels": x})[0], 1e-4, 1e-5)
        _close(got, ok.run(None, {"pixels": x})[0], 1e-4, 1e-5)


def test_transformer_matches_onnxruntime_at_two_sizes(built):
    path, result = built["bert"]
    assert result.n_parameters > 100_000
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for feeds, out in zip(built["bert_feeds"], built["bert_outs"]):
        (got,) = built["runs"].result(out)
        _close(got, sess.run(None, feeds)[0], 1e-4, 2e-5)


def test_written_transformer_exports_with_dynamic_dims(built):
    path, _ = built["bert"]
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (got,) = built["runs"].result(built["bert_exported"])
    _close(got, sess.run(None, built["bert_feeds"][1])[0], 1e-4, 2e-5)


def test_gradients_reach_every_parameter(built):
    path, _ = built["cnn"]
    grads = built["runs"].result(built["cnn_grad"])
    module = to_torch(path)
    x = torch.from_numpy(built["cnn_inputs"][1])
    module(x).square().sum().backward()
    want = dict(module.named_parameters())
    assert set(grads) == set(want) and len(grads) >= 6
    for name, g in grads.items():
        assert g is not None and g.abs().sum() > 0, name
        torch.testing.assert_close(g, want[name].grad, rtol=1e-5, atol=1e-6)


def test_source_is_readable(built):
    path, result = built["cnn"]
    text = open(result.module_path).read()
    body = text[text.index("def forward"):]
    op_lines = [ln for ln in body.splitlines()[1:] if re.match(r"\s+\w+ = ", ln)]
    assert len(op_lines) == result.n_ops >= 5                # one line per op
    model = onnxkit.load(path)
    # (a MatMul whose result only an Add of a bias takes is fused with it into one F.linear line,
    # named after the Add's output, and so is a Transpose of its weight; see to_torch/_fuse.py)
    fused = {n.name for n in model.graph if n.op_type == "MatMul"
             and [u.op_type for u, _ in n.outputs[0].uses()] == ["Add"]}
    fused |= {n.name for n in model.graph if n.op_type == "Transpose"
              and [(u.name, i) for u, i in n.outputs[0].uses()] in [[(m, 1)] for m in fused]}
    for node in model.graph:
        if node.op_type != "Constant" and node.name not in fused:   # (constants are baked into their users)
            name = re.sub(r"\W", "_", node.outputs[0].name).lower()
            assert any(ln.strip().startswith(name + " = ") for ln in op_lines), name
    line = next(i for i, ln in enumerate(open(__file__).read().splitlines(), 1) if "# LINE_CONV" in ln)
    assert f"# {__file__}:{line} in forward" in body          # the source line onnxkit.export recorded
    assert "import onnxkit" not in text and "from onnxkit" not in text
    for f in os.listdir(os.path.join(result.directory, "_support")):
        assert "onnxkit" not in re.sub(r'""".*?"""', "", open(os.path.join(result.directory, "_support", f)).read(),
                                        flags=re.S), f
    # the weights: a plain state_dict, names kept in onnx_names
    state = torch.load(result.weights_path, weights_only=True)
    module = to_torch(path)
    assert set(state) == set(module.state_dict())
    assert "onnx_names = {" in text and all(repr(v) in text for v in module.onnx_names.values())


def test_dynamo_stack_trace_becomes_the_comment():
    from onnxkit.to_torch._codegen import _source_of

    class N:
        metadata_props = {"pkg.torch.onnx.stack_trace":
                          'File "/a/b/model.py", line 3, in forward\n    return self.f(x)\n'
                          'File "/venv/torch/nn/functional.py", line 9, in relu\n    out = torch.relu(x)'}
    assert _source_of(N()) == "nn/functional.py:9: out = torch.relu(x)"


def test_refuses_numpy_fallback_nodes(tmp_path):
    from onnx import TensorProto, helper
    node = helper.make_node("StringNormalizer", ["s"], ["t"], name="norm_words", case_change_action="LOWER")
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("s", TensorProto.STRING, [2])],
                          [helper.make_tensor_value_info("t", TensorProto.STRING, [2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    with pytest.raises(ToTorchError, match="numpy kernel.*StringNormalizer 'norm_words'"):
        to_source(m, tmp_path / "out")
    assert not (tmp_path / "out").exists()
