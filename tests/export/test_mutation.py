"""In-place writes: into views of a tensor they are scattered back into the tensor,
so every later read sees them (checked against eager PyTorch in onnxruntime at two
dynamic sizes); what an ONNX model cannot represent is refused with the line."""

from __future__ import annotations

import inspect

import pytest
import torch

import onnxkit
from onnxkit.export import ExportError

from ._helpers import run_and_compare, session


def _check(fn, make, dyn) -> onnxkit.Model:
    """Export ``fn`` on ``make(3)`` with dims ``dyn`` named dynamic and compare with
    eager at sizes 3 and 5 (each call on fresh inputs: eager may write into them)."""
    model = onnxkit.export(fn, make(3), dynamic_shapes=dyn)
    sess = session(model)
    for n in (3, 5):
        run_and_compare(sess, fn, make(n))
    return model


def _x(*shape):
    return lambda n: (torch.randn(n, *shape),)


def example(x, v):
    y = x.clone()
    y[:, 0] = v          # write into a view of y
    z = x * 2
    z[1:] += 1           # in-place add into a view of z
    return y + z


def slices_2d(x):
    y = x.clone()
    y[1:, 1:3] = 0.5
    y[:, ::2] *= -1      # step slice
    y[-1, -2:] = 7.0     # negative indices
    y[0] += y[-1]        # reads the base after the writes
    return y


def slices_3d(x):
    y = x * 1.0
    y[:, 1, :2] = y[:, 0, 2:]
    y[..., :2].copy_(x[..., 2:] + 1)
    y[:, :, 1::2].clamp_(min=0.0)
    return y


def chained_views(x):
    y = x.clone()
    y.t()[0, ::2].mul_(2)            # transpose, select, step slice
    y.view(-1)[:3] = 1.0              # flat view of the whole tensor
    y.unsqueeze(0)[0, 1].fill_(4.0)   # unsqueeze then select
    y.permute(1, 0)[2:].neg_()
    return y


def stale_views(x):
    y = x.clone()
    col = y[:, 1]        # a view taken before the write
    y[:, 1:3] *= 2       # ... must see it
    row = y[0]
    row.add_(10)         # written through a view made after the first write
    return col + 0, y


def masks_and_index_put(x, m):
    y = x.clone()
    y[m] = 0.0                              # boolean mask, scalar
    y[1:].masked_fill_(m[1:], 3.0)          # masked_fill_ on a view
    y[:, 0][m[:, 0]] = -1.0                 # mask write into a view
    y[torch.tensor([0, 2])] = 5.0           # integer index_put
    y.index_put_((torch.tensor([-1]),), torch.tensor(9.0), accumulate=True)
    y[m[:, 1]] = torch.arange(4.0)          # row mask, values over the trailing dim
    return y


def relu_inplace(x):
    h = torch.nn.functional.relu(x * 3, inplace=True)
    h.sigmoid_()
    return h


def branch_mutation(x):
    y = x.clone()
    if x.sum() > 0:      # decided by data: both sides are exported
        y[:, 0] = 1.0
    else:
        y[1:] -= 2.0
    return y * 2


def _mask(n):
    x = torch.randn(n, 4)
    return x, x > 0.3


@pytest.mark.parametrize("fn,make,dyn", [
    (example, lambda n: (torch.randn(n, 4), torch.randn(n)), {"x": {0: "n"}, "v": {0: "n"}}),
    (slices_2d, _x(5), {"x": {0: "n"}}),
    (slices_3d, _x(3, 4), {"x": {0: "n"}}),
    (chained_views, _x(4), {"x": {0: "n"}}),
    (stale_views, _x(4), {"x": {0: "n"}}),
    (masks_and_index_put, _mask, {"x": {0: "n"}, "m": {0: "n"}}),
    (relu_inplace, _x(4), {"x": {0: "n"}}),
], ids=lambda a: a.__name__ if inspect.isfunction(a) and a.__name__ != "<lambda>" else "")
def test_writes_into_views_match_eager(fn, make, dyn) -> None:
    _check(fn, make, dyn)


def test_mutation_inside_data_dependent_branch() -> None:
    m = branch_mutation
    model = onnxkit.export(m, (torch.randn(3, 4),), dynamic_shapes={"x": {0: "n"}})
    assert any(node.op_type == "If" for node in model.graph)
    sess = session(model)
    for n in (3, 5):
        for sign in (1.0, -1.0):
            run_and_compare(sess, m, (sign * (torch.rand(n, 4) + 0.1),))


# ---------------------------------------------------------------- refused


def _line(fn, text: str) -> str:
    src, start = inspect.getsourcelines(fn)
    k = next(i for i, s in enumerate(src) if text in s)
    return f"{__file__}:{start + k}"


def write_input(x):
    x[:, 0] = 0.0  # MARK
    return x * 2


def add_input(x):
    y = x * 2
    x.add_(1)  # MARK
    return y


def write_expand(x):
    e = x[:, :1].clone().expand(-1, 4)
    e.add_(1)  # MARK
    return e


def write_split(x):
    y = x.clone()
    a, b = y.split(2, dim=1)
    a.mul_(2)  # MARK
    return y


class _Cache(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("cache", torch.zeros(8, 4))

    def forward(self, k, pos):
        self.cache[:k.shape[0]] = k  # MARK
        return self.cache * pos


@pytest.mark.parametrize("fn,what", [
    (write_input, "input 'x'"), (add_input, "input 'x'"),
    (write_expand, "expand"),
])
def test_refused_writes_name_the_line(fn, what) -> None:
    with pytest.raises(ExportError) as e:
        onnxkit.export(fn, (torch.randn(3, 4),), dynamic_shapes={"x": {0: "n"}})
    assert what in str(e.value)
    assert _line(fn, "# MARK") in str(e.value)


def test_write_into_split_piece_matches_eager() -> None:
    """A piece of split/chunk/unbind is a slice (select) of its input: writes into
    it scatter back (issue 22; this was refused before)."""
    model = onnxkit.export(write_split, (torch.randn(3, 4),), dynamic_shapes={"x": {0: "n"}})
    run_and_compare(session(model), write_split, (torch.randn(5, 4),))


def test_buffer_writes_refused() -> None:
    with pytest.raises(ExportError) as e:
        onnxkit.export(_Cache(), (torch.randn(3, 4), torch.tensor(2.0)))
    assert "buffer 'cache'" in str(e.value) and _line(_Cache.forward, "# MARK") in str(e.value)
    bn = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4)).train()
    with pytest.raises(ExportError, match=r"buffer 'bn|buffer '1\.running_mean'|model.eval\(\)"):
        onnxkit.export(bn, (torch.randn(3, 4),))
    onnxkit.export(bn.eval(), (torch.randn(3, 4),))  # eval mode: no writes


def test_out_argument_refused() -> None:
    def f(x):
        out = torch.empty_like(x)
        torch.add(x, 1, out=out)  # MARK
        return out

    with pytest.raises(ExportError, match="out="):
        onnxkit.export(f, (torch.randn(3, 4),))
