"""The structural diff of two models: ``onnxkit.diff(a, b)``.

Nodes are matched by name first (the same name and the same op), then by
structure where names differ: a node matches one of the same op whose inputs
are the matched counterparts of its own (matches spread from the graph inputs
and initializers along the edges, and back from the graph outputs).  What
only the file's form changes is no difference: an attribute written out at
its schema default or left out, float attributes compared as the float32
they are, the operands of a commutative op (Add, Mul, ...) in either order.  What is
left unmatched is added or removed; a connected region of removed nodes that
became added nodes between the same matched values is a *fusion* (what
``onnxkit.optimize`` does: nine nodes of a layer norm became one
LayerNormalization), one that became new initializers was *folded* into
constants.  Weights are compared where both models have them: equal bytes (or
the same range of the same file) are equal without being decoded, and a
weight that is not compared is never read.  If/Loop/Scan bodies and
model-local functions are diffed the same way, recursively.

>>> d = onnxkit.diff("model.onnx", "model.opt.onnx")      # doctest: +SKIP
>>> d.equal
False
>>> print(d.summary())                                     # doctest: +SKIP

The result (the contract ``onnxkit.view.diff_page`` and ``--json`` rely on)
=========================================================================

``diff(a, b, *, weights=True) -> ModelDiff``; ``a`` and ``b`` are Models or
paths.  With ``weights=False`` no initializer and no tensor attribute over
4 KiB (a large Constant) is read: matched weights of the same dtype and shape
are ``"unchecked"`` (``"same"`` where they are provably the same bytes) and do
not make the models differ.

``ModelDiff.equal`` (bool), ``ModelDiff.summary(limit=30) -> str`` (a screen
of text; ``limit`` caps each list, None lists all), ``ModelDiff.to_dict() ->
dict`` (JSON-able: non-finite floats become the strings "inf"/"nan"), whose
keys are:

``"equal"``: bool.

``"model"``: what changed outside the graphs; only keys that changed are
present: ``"ir_version"``: [a, b]; ``"opsets"``: {domain: [a, b]} (None where
a model does not import it); ``"metadata"``: {field: [a, b]} (producer_name,
producer_version, domain, model_version, doc_string and each metadata_props
key); ``"inputs"`` / ``"outputs"``: [str] (e.g. ``"added 'mask': int64[batch,seq]"``,
``"'x': float32[1,3] -> float32[2,3]"``); ``"functions"``: {"added": [name],
"removed": [name]}.

``"nodes"``: one entry per node of either model, [{"status": "same" |
"changed" | "added" | "removed", "a": node-id | None, "b": node-id | None,
"changes": [str]} (and ``"via_fusion": True`` on a changed node whose
only change is that it now reads, in place of a removed node's output, what
replaced it)], where a node-id is {"graph": graph path, "index": int,
"name": str, "op_type": str, "domain": str}.  Graph paths: ``"main"``, a
subgraph ``"main/If_3.then_branch"`` (the owning node's name, or ``#index``
when it has none, then the attribute), a function body
``"function:domain.name"``.  Changes are sentences: ``"renamed 'a' -> 'b'"``,
``"attribute axis: 1 -> 2"``, ``"input 1: 'w' -> 'w2'"``, ``"then_branch:
the subgraph differs"``.

``"weights"``: [{"name": str (A's, else B's), "b_name": str (only when it
differs), "graph": graph path (A's, else B's), "a_shape": [int] | None,
"b_shape": [int] | None, "dtype": str (A's, else B's; "float32 -> float16"
when it changed), "max_abs": float | None, "max_rel": float | None,
"differing": int | None (elements that differ), "status": "same" |
"changed" | "shape" (dtype or shape differ) | "added" | "removed" |
"unchecked"}, and ``"fusion": True`` on an added/removed weight that only
fused nodes read].  ``max_rel`` is max |a - b| / max(|a|, |b|) (0 where both
are 0).

``"fusions"``: groups of removed nodes and what took their place, [{"a":
[node-id] (removed), "b": [node-id] (added), "label": str, "kind": str}]:

* ``"fusion"``: ``label`` names the added ops (``"LayerNormalization"``,
  ``"Transpose + Attention"``); removed nodes that several fused nodes
  replaced together (one attention mask for twelve layers) are a group of
  their own with ``"shared_by": n`` and the label ending ``"(shared by n)"``;
* ``"folded"`` (label ``"constant"``): B reads new initializers in their
  place, listed in ``"initializers"``;
* ``"merged"`` (``"common subexpression"``): B reads an equal node's output;
* ``"bypassed"`` (``"bypassed"``): B reads the group's own input (an
  Identity, a no-op, or a node cut out of a chain);
* ``"dead"`` (``"dead code"``): nothing read them.

For all but ``"fusion"``, ``"b"`` is empty.  Nodes of a group are also
listed in ``"nodes"`` as removed/added.
"""

from __future__ import annotations

import functools
import inspect
import sys
import types

from ._model import ModelDiff, diff

__all__ = ["ModelDiff", "diff"]


class _CallableModule(types.ModuleType):
    """``onnxkit.diff(a, b)`` works whether ``onnxkit.diff`` names this package
    (as it does once imported) or the function."""

    @functools.wraps(diff)
    def __call__(self, *args, **kwargs):
        return diff(*args, **kwargs)

    __call__.__signature__ = inspect.Signature(      # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY),
         *inspect.signature(diff).parameters.values()], return_annotation="ModelDiff")


sys.modules[__name__].__class__ = _CallableModule
