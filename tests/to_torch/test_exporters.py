"""onnxkit.to_torch on the real models of tests/_real_models.py as the other
exporters write them: ``torch.onnx.export(dynamo=True)`` and ``onnxkit.export``
(test_import.py covers ``dynamo=False``).  Each import matches onnxruntime on
the same file at the exported size and at another batch / sequence size, runs
every node as torch ops, and holds the float weights as parameters.

Also the seed's data-dependent branch, exported by ``onnxkit.export`` as an
ONNX If and imported back: eager PyTorch's answer on both sides.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

import onnxkit  # noqa: E402
from onnxkit.to_torch import to_torch  # noqa: E402

from .._real_models import RUN_MODELS  # noqa: E402
from ._compare import import_matching_onnxruntime  # noqa: E402

EXPORTERS = ["dynamo", "onnxkit"]


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", RUN_MODELS)
def test_matches_onnxruntime(exported, name, exporter):
    path = exported(name, exporter)
    module = import_matching_onnxruntime(path)
    # the weights: every float initializer bigger than a baked constant is a trainable parameter
    params = {module.onnx_names[n] for n, p in module.named_parameters() if p.requires_grad}
    model = onnxkit.load(path)
    weights = {n for n, v in model.graph.initializers.items()
               if v.const_value is not None and v.const_value.numpy().dtype.kind == "f"
               and v.const_value.numpy().size > 64}
    assert weights, "no weights found in the export"
    stats = {n for n in weights if "running_" in n}          # BatchNorm statistics: buffers or parameters
    assert weights - stats <= params, sorted(weights - stats - params)


# ---------------------------------------------------------------- the seed's branch


# the seed's example, a branch decided by data: the function the exporter's own tests export
from ..export.test_branches import seed as _seed, some_complicated_function as _decides  # noqa: E402


def _simple(y: torch.Tensor) -> torch.Tensor:
    x = y * 2
    if y.sum() > 0:
        return x + y
    return x * y


@pytest.mark.parametrize("fn", [_seed, _simple], ids=["seed", "sum"])
def test_branch_exported_by_onnxkit_imports_back(fn):
    model = onnxkit.export(fn, (torch.randn(3, 4),), dynamic_shapes={"y": {0: "n"}})
    assert sum(n.op_type == "If" for n in model.graph) == 1
    module = to_torch(model)
    sess = ort.InferenceSession(onnxkit.to_bytes(model), providers=["CPUExecutionProvider"])
    pos, neg = torch.full((5, 4), 1.0), torch.full((2, 4), -1.0)
    cases = [pos, neg, torch.randn(3, 4), torch.randn(6, 4) - 1.0]
    sides = set()
    for y in cases:
        want = fn(y)
        got = module(y)
        sides.add(bool(_decides(y)) if fn is _seed else bool(y.sum() > 0))
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(sess.run(None, {sess.get_inputs()[0].name: y.numpy()})[0], want.numpy(),
                                   rtol=1e-6, atol=1e-6)
    assert sides == {True, False}                # both branches were taken
