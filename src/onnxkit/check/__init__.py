"""The model checker: does a model follow the ONNX rules?

It verifies what ``onnx.checker.check_model(full_check=True)`` verifies, and
reports every problem it finds rather than the first:

* IR version and opset imports (present, in range, one entry per domain);
* every graph: named, inputs and outputs declared (typed in the main graph),
  single static assignment, nodes in topological order, every input defined
  (in a subgraph: by an enclosing graph before the node holding it);
* initializers: named once, data that fits their dims and element type,
  external data files present in the model's folder; sparse tensors;
* every node against its operator schema: known op, not deprecated, number of
  inputs and outputs, required inputs present, attribute names, types and
  required attributes, type constraints where the types are known, and the
  subgraph arity of If, Loop and Scan;
* model-local functions: their own scopes and order, opset imports that agree
  with the model's, no recursion, calls that fit them;
* with ``full=True``, onnxkit's shape inference (:mod:`onnxkit.infer`), whose
  contradictions (a declared type or shape the ops cannot give, a rule that
  finds the node invalid) become problems; a rule that crashes is onnxkit's
  bug, not the model's, and is only warned about.

>>> from onnxkit.check import check
>>> check("model.onnx")                         # doctest: +SKIP
Traceback (most recent call last):
onnxkit.errors.CheckError: 1 problem found:
  - graph 'main', node 3 'add' (Add): input 1 'b' is not defined: ...

Each problem is a :class:`Problem` (what, where, which value) in
:attr:`CheckError.problems`; :func:`find_problems` returns the list without
raising.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import types
import warnings
from typing import Any

from ..errors import CheckError, ExternalDataError, InferenceError, OnnxkitError
from ..ir import Model
from ._graph import ModelChecker
from ._problem import Problem

__all__ = ["Problem", "check", "check_model", "find_problems", "load_for_check"]


def find_problems(model: Model, *, full: bool = True) -> list[Problem]:
    """Every problem of ``model`` (an empty list when it is valid).  The model
    is not changed: shape inference, when run, is undone afterwards."""
    problems = ModelChecker(model).run()
    if full and not problems:
        problems.extend(_inference_problems(model))
    return problems


def check_model(model: Model, *, full: bool = True) -> None:
    """Raise :class:`~onnxkit.errors.CheckError` listing every problem of
    ``model``; return None when it is valid.  ``full`` also runs shape
    inference in strict mode, as ``onnx.checker.check_model(full_check=True)``
    does."""
    problems = find_problems(model, full=full)
    if problems:
        raise CheckError(problems)


def load_for_check(source: Any) -> Model:
    """A Model from a path, bytes or a Model; a file that cannot be read
    raises CheckError with one problem saying why."""
    if isinstance(source, Model):
        return source
    from .._io import load

    try:
        return load(source)
    except OSError as e:
        raise CheckError([Problem("unreadable", f"cannot read {os.fspath(source)!r}: "
                                                f"{e.strerror or e}")]) from None
    except ExternalDataError as e:  # refused at load: a location outside the model's folder
        raise CheckError([Problem("external-data", str(e))]) from None
    except OnnxkitError as e:
        raise CheckError([Problem("unreadable", f"cannot load the model: {e}")]) from None


def check(model: Model | str | os.PathLike | bytes, *, full: bool = True) -> None:
    """Check a model given as a :class:`~onnxkit.ir.Model`, a path to a
    ``.onnx`` file (external data is looked up beside it) or its bytes.
    Raises :class:`~onnxkit.errors.CheckError` listing every problem."""
    check_model(load_for_check(model), full=full)


# ------------------------------------------------------------------ shape inference


def _inference_problems(model: Model) -> list[Problem]:
    """Every contradiction onnxkit's shape inference finds (conflicts with
    declared types, rules that fail on the model); none while
    :mod:`onnxkit.infer` is not available.  The model's types are restored
    afterwards."""
    try:
        from ..infer import infer, types_restored
    except ImportError:
        return []  # onnxkit.infer not present in this build: the structural checks stand alone
    with types_restored(model):
        try:
            found = infer(model, strict=False).problems
        except InferenceError as e:  # a rule that could not go on
            found = [e]
    problems = []
    for e in found:
        if getattr(e, "rule_crashed", False):
            # a rule that raised something other than InferenceError is a bug of onnxkit's,
            # not evidence against the model: said, not counted
            warnings.warn(f"onnxkit's shape inference could not check a node: {e}", stacklevel=3)
        else:
            problems.append(_from_inference(e, f"graph {model.graph.name!r}"))
    return problems


def _from_inference(e: Exception, main: str) -> Problem:
    """A Problem from an InferenceError, which names its node by ``where`` (the
    path of enclosing nodes, empty in the main graph) and ``node_index`` etc."""
    message = str(e)
    index = getattr(e, "node_index", None)
    prefix = getattr(e, "where", None) or ""
    if index is not None and message.startswith(prefix + "node ") and ": " in message[len(prefix):]:
        message = message[len(prefix):].split(": ", 1)[1]  # the node is named by the fields
    where = main + (" > " + prefix.rstrip(" >:") if prefix.strip(" >:") else "")
    return Problem("inference", message, where, index, getattr(e, "node_name", None) or None,
                   getattr(e, "op_type", None), getattr(e, "value_name", None))


class _CallableModule(types.ModuleType):
    """``onnxkit.check(model)`` works whether ``onnxkit.check`` names this
    package (as it does once it is imported) or the function."""

    @functools.wraps(check)
    def __call__(self, *args, **kwargs):
        return check(*args, **kwargs)

    __call__.__signature__ = inspect.Signature(      # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY),
         *inspect.signature(check).parameters.values()], return_annotation="None")


sys.modules[__name__].__class__ = _CallableModule
