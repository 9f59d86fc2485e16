"""Export PyTorch programs to ONNX by tracing — data-dependent branches included.

``onnxkit.export(fn, args=(), kwargs=None, *, input_names=None, output_names=None,
dynamic_shapes=None, opset=None, verify=False, max_branches=None) -> Model``
(see :func:`onnxkit.export._api.export` for every argument).

>>> import torch, onnxkit
>>> def f(y):
...     x = y * 2
...     if y.sum() > 0:          # decided by data: exported as an ONNX If
...         return x + y
...     return x * y
>>> model = onnxkit.export(f, (torch.randn(3, 4),), dynamic_shapes={"y": {0: "n"}})  # doctest: +SKIP

``onnxkit.export`` is this module, and calling it calls :func:`export`.
Conversion rules map one aten op to ONNX nodes; add or replace one with
:func:`conversion_rule`.  PyTorch is imported only when this package is.
"""

from __future__ import annotations

import functools
import inspect
import sys
import types

from ._api import DEFAULT_OPSET, export
from ._errors import ExportError
from ._registry import Ctx, RULES, conversion_rule


def verify(*args, **kwargs):
    """Run an exported model against eager PyTorch; see :func:`onnxkit.export._verify.verify`."""
    from ._verify import verify as _verify

    return _verify(*args, **kwargs)


__all__ = ["Ctx", "DEFAULT_OPSET", "ExportError", "RULES", "conversion_rule", "export", "verify"]


class _CallableModule(types.ModuleType):
    """``onnxkit.export(...)`` works whether ``onnxkit.export`` names this package
    (as it does once it is imported) or the function."""

    @functools.wraps(export)        # help() and inspect.signature show export's own
    def __call__(self, *args, **kwargs):
        return export(*args, **kwargs)

    __call__.__signature__ = inspect.Signature(      # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY),
         *inspect.signature(export).parameters.values()], return_annotation="Model")


sys.modules[__name__].__class__ = _CallableModule
