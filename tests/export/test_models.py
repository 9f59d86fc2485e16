"""Every architecture of the zoo (small configs) exports, passes the checkers and
matches eager PyTorch in onnxruntime at the traced size and at another batch and
sequence size."""

from __future__ import annotations

import pytest

import onnxkit

from . import zoo
from ._helpers import onnxkit_check, run_and_compare, session


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_architecture(name: str) -> None:
    case = zoo.ZOO[name]()
    model = onnxkit.export(case.module, case.args, case.kwargs, dynamic_shapes=case.dynamic_shapes)
    onnxkit_check(model)
    sess = session(model)
    run_and_compare(sess, case.module, case.args, case.kwargs)
    other_args, other_kwargs = case.other
    run_and_compare(sess, case.module, other_args, other_kwargs)
    # the dynamic dims keep the user's names
    names = {d for v in model.graph.inputs for d in (v.shape or ()) if isinstance(d, str)}
    assert names == {n for dims in case.dynamic_shapes.values() for n in dims.values()}


def test_tied_weights_stored_once() -> None:
    case = zoo.gpt2()
    model = onnxkit.export(case.module, case.args, case.kwargs, dynamic_shapes=case.dynamic_shapes)
    inits = model.graph.initializers
    assert "transformer.wte.weight" in inits and "lm_head.weight" not in inits
    data_ptrs = [v.const_value.numpy().__array_interface__["data"][0] for v in inits.values()]
    assert len(data_ptrs) == len(set(data_ptrs))
