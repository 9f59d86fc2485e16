"""How ``to_torch`` holds a model file's weights (``onnxkit.to_torch._weights``):
one aligned tensor each, read from the file, never over its mapped pages;
they equal the file's values, stay trainable, training never writes into the
file, and the file rewritten in place does not disturb the module."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import onnxkit  # noqa: E402
from onnxkit.to_torch import to_torch  # noqa: E402
from onnxkit.to_torch._weights import map_copy_on_write, weight  # noqa: E402


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        # odd sizes: the weights' bytes land at varied offsets in the file
        self.layers = torch.nn.ModuleList(torch.nn.Linear(7 + i, 8 + i) for i in range(12))
        self.emb = torch.nn.Parameter(torch.randn(5, 7))

    def forward(self, x):
        x = x + self.emb.sum(0)
        for layer in self.layers:
            x = torch.tanh(layer(x))
        return x


def _export(tmp_path) -> tuple[str, torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    net = _Net().eval()
    x = torch.randn(3, 7)
    path = str(tmp_path / "net.onnx")
    onnxkit.save(onnxkit.export(net, (x,)), path)
    return path, net, x


def _digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_weights_are_read_once_into_tensors_of_their_own(tmp_path):
    path, _, _ = _export(tmp_path)
    mapped = map_copy_on_write(path)
    try:
        model = onnxkit.load(mapped.view, base_dir=str(tmp_path))
        reference = onnxkit.load(path)
        lo, hi = mapped.base, mapped.base + len(mapped.map)
        for name, v in model.graph.initializers.items():
            t = weight(v.const_value, mapped)
            want = reference.graph.initializers[name].const_value.numpy()
            np.testing.assert_array_equal(t.numpy(), want)
            if t.numel() == 0:
                continue
            inside = lo <= t.data_ptr() < hi
            aligned = t.data_ptr() % t.element_size() == 0
            assert aligned, name                     # every tensor torch gets is aligned
            assert not inside, name                  # and none lies over the file's pages
    finally:
        mapped.close()


def test_training_never_writes_the_file(tmp_path):
    path, net, x = _export(tmp_path)
    before = _digest(path)
    module = to_torch(path)
    params = list(module.parameters())
    assert params and all(p.requires_grad for p in params)
    torch.testing.assert_close(module(x), net(x))
    opt = torch.optim.SGD(params, lr=0.5)
    for _ in range(2):
        opt.zero_grad()
        (module(x) ** 2).sum().backward()
        opt.step()
    with torch.no_grad():
        for p in params:
            p.add_(1.0)                              # every weight, every page written
    assert not torch.allclose(module(x), net(x))
    assert _digest(path) == before                   # the file on disk is unchanged
    torch.testing.assert_close(to_torch(path)(x), net(x))   # and a new import reads the original


def test_weights_outlive_the_file(tmp_path):
    """The mapping keeps the weights readable after the file is removed or replaced."""
    path, net, x = _export(tmp_path)
    module = to_torch(path)
    import os
    os.remove(path)
    with open(path, "wb") as f:
        f.write(b"\0" * 4096)
    torch.testing.assert_close(module(x), net(x))


def test_file_rewritten_in_place_after_import(tmp_path):
    """Truncating and rewriting the same file (same inode, as torch.onnx.export to
    that path does) must not disturb the module: a tensor over the mapping would
    die with SIGBUS here."""
    path, net, x = _export(tmp_path)
    module = to_torch(path)
    with open(path, "r+b") as f:
        f.truncate(0)
        f.write(b"\0" * 100)
    torch.testing.assert_close(module(x), net(x))
