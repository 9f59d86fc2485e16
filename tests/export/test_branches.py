"""Data-dependent control flow: both outcomes explored, ONNX If with the condition in the graph."""

from __future__ import annotations

import pytest
import torch

import onnxkit
from onnxkit.export import ExportError

from ._helpers import if_nodes, run_and_compare, session


def some_complicated_function(y: torch.Tensor) -> torch.Tensor:
    return (y.sin() * 3).mean() > y.cos().mean()


def seed(y: torch.Tensor) -> torch.Tensor:
    x = y * 2
    if some_complicated_function(y):
        z = x + y
    else:
        z = x * y
    return z


def test_seed_example_both_sides() -> None:
    model = onnxkit.export(seed, (torch.randn(3, 4),), dynamic_shapes={"y": {0: "n"}})
    (node,) = if_nodes(model)
    assert "test_branches.py" in node.metadata_props["source"]
    sess = session(model)
    pos, neg = torch.full((5, 4), 1.0), torch.full((2, 4), -1.0)
    assert some_complicated_function(pos) and not some_complicated_function(neg)
    run_and_compare(sess, seed, (pos,))
    run_and_compare(sess, seed, (neg,))
    # only the differing middle is inside the If; the rest is written once
    assert len(node.attributes["then_branch"].value) == 1
    assert len(node.attributes["else_branch"].value) == 1


class Nested(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Linear(4, 4)
        self.b = torch.nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.a(x)
        if h.mean() > 0:
            if h.max() > 1:
                h = h * 2
            else:
                h = h - 1
        else:
            h = self.b(h)
        h = torch.tanh(h)
        if x.sum() < 0:  # a second decision, in sequence
            h = h + 10
        return h


@pytest.mark.parametrize("shift", [-3.0, -0.5, 0.0, 0.5, 3.0])
def test_nested_and_sequential(shift: float) -> None:
    torch.manual_seed(0)
    m = Nested().eval()
    x = torch.randn(2, 4)
    if not hasattr(test_nested_and_sequential, "model"):
        test_nested_and_sequential.model = onnxkit.export(m, (x,), dynamic_shapes={"x": {0: "b"}})
    model = test_nested_and_sequential.model
    assert len(if_nodes(model)) >= 3
    sess = session(model)
    torch.manual_seed(1)
    for rows in (2, 5):
        run_and_compare(sess, m, (torch.randn(rows, 4) + shift,))


def test_branch_without_else_and_value_from_before() -> None:
    def f(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = x
        if (y > 0).all():
            out = x + y
        return out * 2

    model = onnxkit.export(f, (torch.randn(3), torch.rand(3)), dynamic_shapes={"x": {0: "n"}, "y": {0: "n"}})
    sess = session(model)
    run_and_compare(sess, f, (torch.randn(4), torch.rand(4)))
    run_and_compare(sess, f, (torch.randn(4), -torch.rand(4)))


def test_loop_with_data_dependent_trip_count_names_the_line() -> None:
    def f(x: torch.Tensor) -> torch.Tensor:
        while x.sum() > 0:
            x = x - 1
        return x

    with pytest.raises(ExportError) as e:
        onnxkit.export(f, (torch.rand(3),))
    msg = str(e.value)
    assert "test_branches.py" in msg and "trip count" in msg and "loop" in msg


def test_item_as_size_stays_symbolic() -> None:
    def f(n: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        k = n.item()
        torch._check(k >= 0)
        return torch.arange(k) * 2 + y.sum()

    model = onnxkit.export(f, (torch.tensor(4), torch.randn(3)))
    sess = session(model)
    run_and_compare(sess, f, (torch.tensor(7), torch.randn(3)))


def test_int_of_tensor_names_the_line() -> None:
    def f(x: torch.Tensor) -> torch.Tensor:
        n = int(x.sum())
        return torch.zeros(n)

    with pytest.raises(ExportError) as e:
        onnxkit.export(f, (torch.ones(3),))
    assert "test_branches.py" in str(e.value) and "item()" in str(e.value)


def test_sides_of_different_types_are_refused() -> None:
    def f(x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return x
        return x.long()

    with pytest.raises(ExportError, match="different types"):
        onnxkit.export(f, (torch.randn(3),))


def test_assertion_side_is_dropped_with_a_warning() -> None:
    def f(x: torch.Tensor) -> torch.Tensor:
        if (x < 0).any():
            raise ValueError("negative input")
        return x.sqrt()

    with pytest.warns(UserWarning, match="negative input"):
        model = onnxkit.export(f, (torch.rand(3),))
    assert not if_nodes(model)
    run_and_compare(session(model), f, (torch.rand(3),))
