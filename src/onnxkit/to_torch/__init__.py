"""ONNX -> PyTorch: ``to_torch(model_or_path) -> torch.nn.Module`` (onnxkit[torch]).

>>> from onnxkit.to_torch import to_torch
>>> module = to_torch("model.onnx")            # doctest: +SKIP
>>> y = module(torch.randn(1, 3, 224, 224))    # doctest: +SKIP

The result is a ``torch.fx.GraphModule``: one call per ONNX node (a rule of
:mod:`onnxkit.to_torch._rules`, or onnxkit's numpy kernel for ops that have
none), weights as parameters and buffers (``module.onnx_names`` maps them to
their ONNX names), If/Loop/Scan as submodules running plain Python in
eager mode and, where their types allow, ``torch.cond`` / ``while_loop``
under ``torch.compile`` / ``torch.export``.  Shape computations run as size
arithmetic (SymInts when traced), so both work with dynamic dims.

Like ``onnxkit.export``, this package is callable: ``onnxkit.to_torch(model)``
works whether that name is the package or the function.
"""

from __future__ import annotations

import functools
import inspect
import sys
import types

from ._convert import ToTorchError
from ._convert import to_torch
from ._codegen import to_source
from ._registry import find_rule, registered_rules, rule

__all__ = ["ToTorchError", "find_rule", "registered_rules", "rule", "to_source", "to_torch"]


class _CallableModule(types.ModuleType):
    """``onnxkit.to_torch(...)`` works whether the name is this package or the function."""

    @functools.wraps(to_torch)
    def __call__(self, *args, **kwargs):
        return to_torch(*args, **kwargs)

    __call__.__signature__ = inspect.Signature(      # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY),
         *inspect.signature(to_torch).parameters.values()])


sys.modules[__name__].__class__ = _CallableModule
