"""Random branchy programs (seeded, bounded): nested and sequential data-dependent
branches, branches in loops with fixed trip counts, decisions on the dynamic
batch size, in-place writes and views, constants chosen inside branches, early
returns, and Python values set in a branch and read after it.  Each is exported once (dynamic batch) and
must give eager PyTorch's outputs in onnxruntime and onnxkit's runtime on
inputs that take different sides, at several batch sizes: zero wrong, zero
crashes.

A program is a list of statements run by a small interpreter (:func:`run`), so
the tracer sees exactly the ops and decisions eager PyTorch runs.  Inputs whose
conditions come within 1e-3 of their thresholds are skipped: float sums in a
different order could take the other side there, in eager as much as in ONNX.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
import torch

import onnxkit

from ._helpers import session

SEEDS = range(36)
MAX_IFS = 6   # decisions in one run, counting loop iterations

OPS = {
    "mul": lambda x: x * 1.5,
    "add": lambda x: x + 0.3,
    "tanh": torch.tanh,
    "center": lambda x: x - x.mean(),
    "relu": lambda x: torch.relu(x) - 0.2,
    "flip": lambda x: x.flip(0),
    "cumsum": lambda x: x.cumsum(-1) * 0.5,
    "roll": lambda x: x.roll(1, -1),
    "sizes": lambda x: x + x.shape[0] * 0.1,
}
CONDS = {
    "sum": lambda x: x.sum(),
    "mean": lambda x: x.mean(),
    "max": lambda x: x.max(),
    "col0": lambda x: x[:, 0].mean(),
    "item": lambda x: x.mean().item(),
    "size": lambda x: x.shape[0] - 3.5,  # a decision on the dynamic batch size: an If on it
}


def _writes(x: torch.Tensor, kind: str) -> torch.Tensor:
    x = x.clone()
    if kind == "col":
        x[:, 0] += 1
    elif kind == "row":
        x[0].mul_(2)
    elif kind == "view":
        v = x[:, 1:3]
        v.add_(1)
    elif kind == "chunk":
        a, _ = x.chunk(2, dim=-1)
        a.mul_(0.5)
    elif kind == "masked":
        x[x < -1] = -1.0
    return x


def gen(rng: random.Random, depth: int, budget: list[int]) -> list[tuple]:
    """A block of statements; inside branches, sometimes an early return, and a
    Python counter set in branches and read later (code after a branch that
    depends on the side taken)."""
    block: list[tuple] = []
    for _ in range(rng.randint(1, 3)):
        r = rng.random()
        if r < 0.35 and budget[0] > 0 and depth < 3:
            budget[0] -= 1
            block.append(("if", rng.choice(list(CONDS)), round(rng.uniform(-0.5, 0.5), 2),
                          gen(rng, depth + 1, budget), gen(rng, depth + 1, budget) if rng.random() < 0.7 else []))
        elif r < 0.45 and budget[0] > 1 and depth < 2:
            block.append(("loop", rng.randint(2, 3), gen(rng, depth + 1, [1])))
        elif r < 0.6:
            block.append(("write", rng.choice(["col", "row", "view", "chunk", "masked"])))
        elif r < 0.7:
            block.append(("const", round(rng.uniform(0.5, 3.0), 2)))
        else:
            block.append(("op", rng.choice(list(OPS))))
    r = rng.random()
    if r < 0.15 and depth > 0:
        block.append(("return",))
    elif r < 0.3:
        block.insert(rng.randint(0, len(block)), ("count",))
    elif r < 0.4:
        block.append(("use_count",))
    return block


def _count_ifs(block: list[tuple]) -> int:
    n = 0
    for s in block:
        if s[0] == "if":
            n += 1 + max(_count_ifs(s[3]), _count_ifs(s[4]))
        elif s[0] == "loop":
            n += s[1] * _count_ifs(s[2])
    return n


def run(block: list[tuple], state: dict, margins: list | None) -> None:
    for s in block:
        kind = s[0]
        if state["returned"]:
            return
        if kind == "return":
            state["returned"] = True
        elif kind == "count":
            state["count"] += 1
        elif kind == "use_count":
            state["x"] = state["x"] * (1 + 0.1 * state["count"])
        elif kind == "op":
            state["x"] = OPS[s[1]](state["x"])
        elif kind == "write":
            state["x"] = _writes(state["x"], s[1])
        elif kind == "const":
            state["scale"] = torch.tensor(s[1])
        elif kind == "loop":
            for i in range(s[1]):
                state["x"] = state["x"] + 0.1 * i
                run(s[2], state, margins)
        else:
            value = CONDS[s[1]](state["x"])
            if margins is not None and s[1] != "size":
                margins.append(abs(float(value) - s[2]))
            if value > s[2]:
                run(s[3], state, margins)
            else:
                run(s[4], state, margins)


class Program(torch.nn.Module):
    def __init__(self, block: list[tuple]) -> None:
        super().__init__()
        self.block = block
        self.margins: list | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        state: dict[str, Any] = {"x": x * 1, "scale": torch.tensor(1.0), "count": 0, "returned": False}
        run(self.block, state, self.margins)
        return state["x"] * state["scale"]


def program(seed: int) -> Program:
    rng = random.Random(seed)
    while True:
        block = gen(rng, 0, [4])
        if 1 <= _count_ifs(block) <= MAX_IFS:
            return Program(block)


@pytest.mark.parametrize("seed", list(SEEDS))
def test_random_program(seed: int) -> None:
    prog = program(seed)
    gen_t = torch.Generator().manual_seed(seed)
    model = onnxkit.export(prog, (torch.randn(3, 4, generator=gen_t),), dynamic_shapes={"x": {0: "b"}})
    sess = session(model)
    kit = onnxkit.Session(model)
    checked = 0
    for k in range(10):
        b = (2, 3, 5)[k % 3]
        x = torch.randn(b, 4, generator=gen_t) * (0.2, 1.0, 3.0)[k % 3] + (-1.0, 0.0, 1.0)[(k // 3) % 3]
        prog.margins = []
        with torch.no_grad():
            want = prog(x).numpy()
        margins, prog.margins = prog.margins, None
        if margins and min(margins) < 1e-3:
            continue
        checked += 1
        for rt, got in (("onnxruntime", sess.run(None, {"x": x.numpy()})[0]),
                        ("onnxkit", kit.run(None, {"x": x.numpy()})[0])):
            assert got.shape == want.shape, (rt, prog.block)
            np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4, err_msg=f"{rt}: {prog.block}")
    assert checked >= 5
