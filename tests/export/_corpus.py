"""Programs an exporter gets wrong silently, or refuses, when it handles data-
dependent control flow and symbolic sizes carelessly (issue 22).

Each :class:`Program` is a function or module, example inputs, the dims named
dynamic, and other inputs that take every side of every decision and other
sizes of the dynamic dims.  ``refused_at``: inputs the model must refuse at run
time (a size it was not traced for: its size guard fails), never answer.
:func:`check` exports one, checks it with onnx's checker, and runs it in
onnxruntime and onnxkit's runtime against eager PyTorch.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any, Callable

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

import onnxkit
from onnxkit.export._api import flatten_outputs


@dataclasses.dataclass
class Program:
    fn: Callable
    args: tuple
    dynamic: dict | None = None
    others: list = dataclasses.field(default_factory=list)       # input tuples that must match
    refused_at: list = dataclasses.field(default_factory=list)   # input tuples that must be refused
    guarded: bool = False     # the export records size guards (metadata and a warning)


def _outputs(fn: Callable, args: tuple) -> list[np.ndarray]:
    with torch.no_grad():
        return [t.detach().numpy() for _, t in flatten_outputs(fn(*args))]


def check(p: Program, rtol: float = 1e-3, atol: float = 1e-4) -> onnxkit.Model:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = onnxkit.export(p.fn, p.args, dynamic_shapes=p.dynamic)
    guard_warnings = [w for w in caught if "decides on dynamic sizes" in str(w.message)]
    assert bool(guard_warnings) == p.guarded, [str(w.message) for w in caught]
    assert ("onnxkit.size_guards" in model.metadata_props) == p.guarded
    data = onnxkit.to_bytes(model)
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    kit = onnxkit.Session(model)

    def runs(args: tuple):
        feeds = {n: t.numpy() for n, t in zip(names, [a for a in args if isinstance(a, torch.Tensor)])}
        yield "onnxruntime", lambda: sess.run(None, feeds)
        yield "onnxkit", lambda: list(kit.run(None, feeds))

    for args in [p.args] + list(p.others):
        want = _outputs(p.fn, args)
        for rt, run in runs(args):
            got = run()
            assert len(got) == len(want), rt
            for g, w in zip(got, want):
                g = np.asarray(g)
                assert g.shape == w.shape, (rt, [tuple(a.shape) for a in args], g.shape, w.shape)
                np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=True,
                                           err_msg=f"{rt} at {[tuple(a.shape) for a in args]}")
    for args in p.refused_at:
        for rt, run in runs(args):
            try:
                run()
            except Exception as e:  # noqa: BLE001 - each runtime raises its own type
                assert "onnxkit_size_guard" in str(e), (rt, str(e)[:300])
            else:
                raise AssertionError(f"{rt} answered at {[tuple(a.shape) for a in args]}, "
                                     "a size the model was not traced for")
    return model


def r(*shape: int, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(*shape) * scale + shift


# ---------------------------------------------------------------- 1. constants chosen in a branch


class ScaleChoice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(4, 3)

    def forward(self, x):
        if x.abs().max() > 100:
            x = x / 100
            scale = torch.tensor(100.0)
        else:
            scale = torch.tensor(1.0)
        return self.lin(x) * scale


class PlainAttribute(nn.Module):
    """Unregistered tensor attributes chosen in a branch (they become constants)."""

    def __init__(self) -> None:
        super().__init__()
        self.big = torch.tensor([10.0, 20.0, 30.0])
        self.small = torch.tensor([0.1, 0.2, 0.3])

    def forward(self, x):
        w = self.big if x.sum() > 0 else self.small
        return x * w


class BufferChoice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("a", torch.tensor([1.0, 2.0, 3.0]))
        self.register_buffer("b", torch.tensor([-1.0, 5.0, 0.5]))

    def forward(self, x):
        if x.mean() > 0:
            w = self.a
        else:
            w = self.b
        return x * w + 1


def only_constant_differs(x):
    if x.sum() > 0:
        c = torch.tensor(2.0)
    else:
        c = torch.tensor(3.0)
    return x * c


def constant_and_int_attr(x):
    k = torch.tensor([1, 2, 3])
    if x.max() > 1:
        k = torch.tensor([3, 2, 1])
    return x * k


# ---------------------------------------------------------------- 2. decisions on sizes


def size_eq_1(x):
    if x.size(0) == 1:
        return x[0] * 2
    return x.sum(0)


def shape_gt_6(x):
    if x.shape[1] > 6:
        return x[:, :6] + 1
    return x * 2


def size_even(x):
    if x.shape[0] % 2 == 0:
        return x * 2
    return x[1:] - 1


def size_even_reshape(x):
    """The odd side, traced at the (even) example's size, would fix the reshape's
    -1 to the example's: it cannot be traced, so odd sizes are refused."""
    if x.shape[0] % 2 == 0:
        return x.reshape(x.shape[0] // 2, -1)
    return x[1:].reshape((x.shape[0] - 1) // 2, -1)


def range_over_size(x):
    s = x[0] * 0
    for i in range(x.shape[0]):
        s = s + x[i] * (i + 1)
    return s


def loop_over_unbind(x):
    s = 0
    for row in x.unbind(0):
        s = s + row.relu()
    return s


def int_of_half(x):
    k = int(x.shape[1] * 0.5)
    return x[:, :k] * 2


# ---------------------------------------------------------------- 3./4. size arithmetic


def ceil_idiom(x):
    n = -(-x.shape[1] // 4)
    return x[:, :n] + n


def negative_floor(x):
    k = (x.shape[1] - 10) // 4
    return x.sum(1) + k


def math_ceil(x):
    n = math.ceil(x.shape[1] / 4)
    return x[:, :n] * n


def size_mod_negative(x):
    k = (x.shape[1] - 10) % 4
    return x.sum(1) * k


# ---------------------------------------------------------------- crashes and refusals


def warn_only(x):
    if torch.isnan(x).any():
        warnings.warn("NaN in the input")
    return x * 2


def unread_python_value(x):
    flag = 0
    if x.sum() > 0:
        flag = 1  # noqa: F841 - nobody reads it
    return x + 1


class FiveGates(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.layers = nn.ModuleList(nn.Linear(4, 4) for _ in range(5))

    def forward(self, x):
        for layer in self.layers:
            if x.mean() > 0:
                x = torch.tanh(layer(x))
            else:
                x = x - 0.1
        return x


def if_in_fixed_loop(x):
    for i in range(5):
        if x[:, i].sum() > 0:
            x = x * 2
        else:
            x = x - 1
    return x


def item_comparison(x):
    if x.max().item() > 0.5:
        return x * 2
    return x - 1


def mask_index(x):
    return x[x > 0] * 2


def mask_rows(x):
    return x[x.sum(1) > 0] + 1


def mask_inner_dim(x):
    keep = torch.tensor([True, False, True, True])
    return x[:, keep]


def nonzero(x):
    return torch.nonzero(x > 0)


def nonzero_tuple(x):
    i, j = torch.nonzero(x > 0, as_tuple=True)
    return i * 10 + j


def einsum_diagonal(x):
    return torch.einsum("bii->bi", x)


def diagonal_offset(x):
    return torch.diagonal(x, offset=1, dim1=-2, dim2=-1) + torch.diagonal(x, offset=-1, dim1=1, dim2=2)


def inplace_after_chunk(x):
    y = x * 1
    a, b = y.chunk(2, dim=-1)
    a.mul_(2)
    return y + b.sum()


def inplace_after_unbind(x):
    y = x + 0
    first, *_ = y.unbind(0)
    first.add_(10)
    return y


def roll_flat(x):
    return torch.roll(x, 3)


def early_return(x):
    if x.sum() > 0:
        return x * 2
    y = x.abs()
    if y.max() > 2:
        return y - 2
    return y


def nested_in_loop(x):
    for i in range(3):
        if x[i].sum() > 0:
            if x[i].max() > 1:
                x = x * 0.5
            else:
                x = x + 1
    return x


def read_only_on_later_side(x):
    """``s`` is set on one side of the first branch and read only on the second
    branch's other side: the code after the first join depends on its side."""
    a = x * 2
    s = a
    if x.sum() > 0:
        pass
    else:
        s = a + 1
    out = a * 3
    if x.mean() > 0.1:
        return out
    return out + s


def constant_read_only_on_later_side(x):
    scale = torch.tensor(1.0)
    if x[:, 0].mean() > 0.25:
        x = x - x.mean()
    else:
        scale = torch.tensor(2.88)
    if x.max() > -0.08:
        scale = torch.tensor(2.53)
    else:
        x = x * 2
    return x * scale


def _p(fn, args, dynamic=None, others=(), refused=(), guarded=False) -> Program:
    return Program(fn, args, dynamic, list(others), list(refused), guarded)


def programs() -> dict[str, Program]:
    torch.manual_seed(0)
    B, L = {"x": {0: "b"}}, {"x": {1: "n"}}
    return {
        # 1. a constant chosen inside a branch
        "scale_choice": _p(ScaleChoice().eval(), (r(2, 4),), B, [(r(3, 4, scale=1000),), (r(5, 4),)]),
        "scale_choice_other_first": _p(ScaleChoice().eval(), (r(2, 4, scale=1000),), B,
                                       [(r(3, 4),), (r(1, 4, scale=1000),)]),
        "plain_attribute": _p(PlainAttribute(), (r(2, 3, shift=3),), B, [(r(4, 3, shift=-3),)]),
        "buffer_choice": _p(BufferChoice(), (r(2, 3, shift=3),), B, [(r(4, 3, shift=-3),)]),
        "only_constant_differs": _p(only_constant_differs, (r(3, shift=2),), None, [(r(3, shift=-2),)]),
        "int_constant_in_branch": _p(constant_and_int_attr, (r(2, 3, shift=3),), B,
                                     [(r(4, 3, shift=-3),)]),
        # 2. decisions on sizes: an If on the size where it can be, a run-time refusal where not
        "size_eq_1": _p(size_eq_1, (r(3, 4),), B, [(r(1, 4),), (r(5, 4),)]),
        "shape_gt_6": _p(shape_gt_6, (r(3, 8),), L, [(r(3, 4),), (r(3, 6),), (r(3, 7),), (r(3, 1),)]),
        "size_even": _p(size_even, (r(4, 3),), B, [(r(5, 3),), (r(2, 3),), (r(7, 3),)]),
        "size_even_reshape": _p(size_even_reshape, (r(4, 3),), B, [(r(6, 3),), (r(2, 3),)],
                                [(r(5, 3),), (r(3, 3),)], guarded=True),
        "range_over_size": _p(range_over_size, (r(3, 4),), B, [(r(3, 4),)], [(r(5, 4),), (r(2, 4),)],
                              guarded=True),
        "loop_over_unbind": _p(loop_over_unbind, (r(3, 4),), B, [], [(r(4, 4),), (r(1, 4),)], guarded=True),
        "int_of_half": _p(int_of_half, (r(2, 4),), L, [(r(2, 5),)], [(r(2, 6),), (r(2, 3),)], guarded=True),
        # 3./4. size arithmetic
        "ceil_idiom": _p(ceil_idiom, (r(2, 10),), L, [(r(2, 13),), (r(2, 4),), (r(2, 5),), (r(2, 2),)]),
        "negative_floor": _p(negative_floor, (r(2, 7),), L, [(r(2, 3),), (r(2, 15),), (r(2, 10),)]),
        "math_ceil": _p(math_ceil, (r(2, 10),), L, [(r(2, 13),), (r(2, 4),), (r(2, 2),)]),
        "negative_mod": _p(size_mod_negative, (r(2, 7),), L, [(r(2, 3),), (r(2, 15),)]),
        # crashes and refusals
        "warn_only": _p(warn_only, (r(3),), None, [(torch.tensor([1.0, float("nan"), 2.0]),)]),
        "unread_python_value": _p(unread_python_value, (r(3),), None, [(-torch.ones(3),), (torch.ones(3),)]),
        "five_gates": _p(FiveGates().eval(), (r(2, 4),), B, [(r(3, 4, shift=s),) for s in (-1, -0.05, 0.05, 1)]),
        "if_in_fixed_loop": _p(if_in_fixed_loop, (r(3, 5),), B, [(r(4, 5),) for _ in range(4)]),
        "item_comparison": _p(item_comparison, (torch.rand(3),), None,
                              [(torch.rand(3) * 0.4,), (torch.rand(3) + 0.6,)]),
        "mask_index": _p(mask_index, (r(3, 4),), B, [(r(5, 4),), (-torch.rand(2, 4),)]),
        "mask_rows": _p(mask_rows, (r(3, 4),), B, [(r(6, 4),)]),
        "mask_inner_dim": _p(mask_inner_dim, (r(3, 4),), B, [(r(5, 4),)]),
        "nonzero": _p(nonzero, (r(3, 4),), B, [(r(5, 4),)]),
        "nonzero_tuple": _p(nonzero_tuple, (r(3, 4),), B, [(r(5, 4),)]),
        "einsum_diagonal": _p(einsum_diagonal, (r(2, 3, 3),), B, [(r(4, 3, 3),)]),
        "diagonal_offset": _p(diagonal_offset, (r(2, 4, 4),), B, [(r(3, 4, 4),)]),
        "inplace_after_chunk": _p(inplace_after_chunk, (r(3, 4),), B, [(r(5, 4),)]),
        "inplace_after_unbind": _p(inplace_after_unbind, (r(3, 4),), None, [(r(3, 4),)]),
        "roll_flat": _p(roll_flat, (r(3, 4),), B, [(r(5, 4),)]),
        "early_return": _p(early_return, (r(3, shift=1),), None,
                           [(r(3, shift=-1) * 0.1,), (torch.tensor([-3.0, -1.0, -1.0]),)]),
        "read_only_on_later_side": _p(read_only_on_later_side, (r(3, shift=1),), None,
                                      [(r(3, shift=s) * 0.01,) for s in (-1, 1)]
                                      + [(torch.tensor([0.1, 0.1, -0.1]),), (torch.tensor([-1.0, 0.5, 0.2]),)]),
        "constant_read_only_on_later_side": _p(
            constant_read_only_on_later_side, (r(2, 4, shift=1),), B,
            [(r(3, 4, shift=s, scale=0.1),) for s in (-3, -1, 0.5, 2)]),
        "nested_in_loop": _p(nested_in_loop, (r(3, 4),), None, [(r(3, 4, scale=s),) for s in (0.1, 1, 3, 5)]),
    }
