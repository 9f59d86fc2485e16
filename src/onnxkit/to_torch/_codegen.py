"""An imported model written as Python source: ``onnxkit import MODEL -o DIR``.

:func:`to_source` imports the model with :func:`onnxkit.to_torch.to_torch`
(so the written module has exactly the importer's semantics) and writes its
``torch.fx`` graph as a plain ``nn.Module`` class::

    DIR/__init__.py
    DIR/module.py       class Model(torch.nn.Module): one line per op
    DIR/weights.pt      its state_dict (torch.save; torch.load(weights_only=True))
    DIR/_support/       the onnxkit helpers that module.py calls, copied

``from DIR.module import Model; Model()(x)`` then needs torch only (and numpy
where a copied helper uses it).  Decisions:

* Every ``call_function`` / ``call_method`` / ``call_module`` of the graph is
  one line ``value = helper(args)``, the variable named after the ONNX value
  (fx's name of the node, which the importer takes from the ONNX output
  name); weights are read as ``self.<name>`` where they are used.  A comment
  line gives the ONNX node's source line where its metadata has one (the
  ``source`` key of ``onnxkit.export``, the last frame of
  ``pkg.torch.onnx.stack_trace`` of ``torch.onnx.export(dynamo=True)``).
* The helpers are found, not listed (``_copysource``): for each function a
  node calls that is defined in onnxkit (rules, size arithmetic, If/Loop/Scan
  modules...), the
  top-level statements of its module that define it and everything they
  refer to are copied into ``_support/<module>.py``, module by module (so
  names never clash), registration decorators of onnxkit dropped.  A
  function a factory made (a closure) is written as that factory's inner
  ``def`` wrapped in a function of its free variables, called with their
  values.  Imports of onnxkit inside a copied function's body are copied the
  same way, except those of the kernel registries (the rare run-time cases a
  rule hands to onnxkit's numpy kernel): these become absolute imports of
  ``onnxkit``, so only those paths need it, and the file headers name them.
* The ONNX node of each fx node is recorded while the model is imported (a
  wrapper of the importer's per-node method; without it, no comments).
* Subgraph modules (If/Loop/Scan bodies) are written as classes of their
  own; the module holding them is rebuilt from its class (copied) and its
  plain attributes (``_support.restore``).
* Nodes that run onnxkit's numpy kernel (``module.onnx_fallbacks``) are
  refused: :class:`ToTorchError` lists them all.  Such a module cannot run
  without onnxkit; use :func:`to_torch` for it.  So is an argument that has
  no Python literal (an ONNX type object, a callable that is not importable),
  naming the node.
"""

from __future__ import annotations

import builtins
import contextlib
import keyword
import operator
import os
import re
import textwrap
import threading
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx

from ._convert import ToTorchError, to_torch
from ._copysource import PKG, Support, importable_name, literal

__all__ = ["SourceResult", "to_source"]


@dataclass
class SourceResult:
    """What :func:`to_source` wrote."""

    directory: str
    module_path: str
    weights_path: str
    class_name: str
    n_ops: int
    n_parameters: int          # elements of the nn.Parameters
    n_buffers: int             # elements of the buffers
    support_modules: list[str] = field(default_factory=list)
    needs_onnxkit: list[str] = field(default_factory=list)   # copied helpers that import onnxkit lazily


# ---------------------------------------------------------------------------- ONNX node of each fx node

_TAG_LOCK = threading.Lock()


@contextlib.contextmanager
def _tagging():
    """While importing: record in ``fx_node.meta["onnx_node"]`` the ONNX node
    (name, op_type, source line) whose conversion created each fx node.  The
    outermost node wins (the nodes of an inlined function body are the call's)."""
    from . import _convert
    cls = getattr(_convert, "_GraphImport", None)
    orig = getattr(cls, "convert_node", None)
    if orig is None:                       # the importer changed shape: no source comments
        yield
        return

    def convert_node(self, node, *args, **kwargs):
        graph = self.fx
        tail = next(iter(reversed(graph.nodes)), None)
        try:
            return orig(self, node, *args, **kwargs)
        finally:
            n = tail.next if tail is not None else next(iter(graph.nodes), None)
            info = (node.name, node.op_type, _source_of(node))
            while n is not None and n.op != "root":
                n.meta["onnx_node"] = info
                n = n.next

    with _TAG_LOCK:
        cls.convert_node = convert_node
        try:
            yield
        finally:
            cls.convert_node = orig


_FRAME = re.compile(r'File "([^"]+)", line (\d+), in [^\n]*\n\s*([^\n]*)')


def _source_of(node: Any) -> str | None:
    """The node's source line from its metadata, if any."""
    props = getattr(node, "metadata_props", None) or {}
    src = props.get("source")
    if src:
        return " ".join(str(src).split())
    trace = props.get("pkg.torch.onnx.stack_trace")
    if trace:
        frames = _FRAME.findall(str(trace))
        if frames:
            path, line, code = frames[-1]
            short = "/".join(path.replace("\\", "/").split("/")[-2:])
            return f"{short}:{line}: {code.strip()}"
    return None


# ---------------------------------------------------------------------------- one class per GraphModule

class _Writer:
    def __init__(self, support: Support, reserved: set[str] = frozenset()) -> None:
        self.support = support
        self.reserved = set(reserved)
        self.classes: list[str] = []           # class sources, dependencies first
        self.class_names: set[str] = set()
        self.extra_imports: set[str] = set()
        self.used: set[str] = set()              # names module.py imports from _support
        self.n_ops = 0

    def class_name(self, hint: str) -> str:
        base = "".join(p[:1].upper() + p[1:] for p in re.split(r"[^0-9A-Za-z]+", hint) if p) or "Graph"
        if base[0].isdigit():
            base = "G" + base
        name, k = base, 1
        while name in self.class_names:
            k += 1
            name = f"{base}{k}"
        self.class_names.add(name)
        return name

    # ------------------------------------------------------------ state
    def init_lines(self, gm: torch.nn.Module, where: str) -> list[str]:
        lines = []
        for name, p in gm.named_parameters(recurse=False):
            lines.append(f"self.{name} = torch.nn.Parameter({self._empty(p)}"
                         f"{'' if p.requires_grad else ', requires_grad=False'})")
        non_persistent = getattr(gm, "_non_persistent_buffers_set", set())
        for name, b in gm.named_buffers(recurse=False):
            if name in non_persistent:
                if b.numel():
                    raise ToTorchError(f"{where}: non-persistent buffer {name!r} holds data; "
                                       "cannot write it")
                lines.append(f"self.register_buffer({name!r}, {self._empty(b)}, persistent=False)")
            else:
                lines.append(f"self.register_buffer({name!r}, {self._empty(b)})")
        state = {n for n, _ in gm.named_parameters(recurse=False)}
        state |= {n for n, _ in gm.named_buffers(recurse=False)}
        for n in gm.graph.nodes if isinstance(gm, fx.GraphModule) else ():       # plain values read
            if n.op == "get_attr" and "." not in n.target and n.target not in state \
                    and not isinstance(getattr(gm, n.target, None), torch.nn.Module):
                lines.append(f"self.{n.target} = {literal(getattr(gm, n.target), None, f'{where}{n.target}')}")
                state.add(n.target)
        for name, child in gm.named_children():
            lines.append(f"self.{name} = {self.module_expr(child, name, f'{where}{name} > ')}")
        return lines

    @staticmethod
    def _empty(t: torch.Tensor) -> str:
        """``torch.empty(...)`` of ``t``'s shape and dtype (the weights file fills it)."""
        dims = ", ".join(str(d) for d in t.shape) if t.dim() else "()"
        dt = "" if t.dtype == torch.float32 else f", dtype={t.dtype}"
        return f"torch.empty({dims}{dt})"

    def module_expr(self, mod: torch.nn.Module, hint: str, where: str) -> str:
        if isinstance(mod, fx.GraphModule):
            return self.graph_class(mod, hint, where) + "()"
        cls = type(mod)
        if not cls.__module__.startswith(PKG + "."):
            raise ToTorchError(f"{where}: submodule of class {cls.__qualname__} ({cls.__module__}) "
                               "cannot be written as source")
        cls_ref = self.support.ref(cls, where)
        self.used.update((cls_ref.split(".")[0], "restore"))
        modules = {n: self.module_expr(c, f"{hint}_{n}", f"{where.rstrip(' >')}.{n} > ")
                   for n, c in mod.named_children()}
        if any(True for _ in mod.parameters(recurse=False)) or \
                any(n not in mod._non_persistent_buffers_set for n, _ in mod.named_buffers(recurse=False)):
            raise ToTorchError(f"{where}: {cls.__qualname__} holds its own weights; cannot write it as source")
        buffers = []
        for n, b in mod.named_buffers(recurse=False):
            if b.numel():
                raise ToTorchError(f"{where}: buffer {n!r} of {cls.__qualname__} holds data; cannot write it")
            buffers.append(f"({n!r}, {self._empty(b)})")
        skip = set(vars(torch.nn.Module()))            # nn.Module's own bookkeeping
        attrs = {k: v for k, v in vars(mod).items() if k not in skip}
        mods = "{" + ", ".join(f"{n!r}: {e}" for n, e in modules.items()) + "}"
        attrs_src = "{" + ", ".join(f"{k!r}: {literal(v, None, f'{where}.{k}')}" for k, v in attrs.items()) + "}"
        bufs = f", [{', '.join(buffers)}]" if buffers else ""
        return f"restore({cls_ref}, {mods}, {attrs_src}{bufs})"

    # ------------------------------------------------------------ forward
    def forward_lines(self, gm: fx.GraphModule, where: str) -> tuple[list[str], list[str]]:
        """(the parameters of forward, the lines of its body)."""
        reserved = set(keyword.kwlist) | set(dir(builtins)) | {"self", "torch", "operator", "math", "restore"}
        reserved |= {c.alias for c in self.support.copies.values()} | self.reserved
        taken: set[str] = set()
        names: dict[fx.Node, str] = {}

        def var(n: fx.Node) -> str:
            base = re.sub(r"[^0-9a-zA-Z_]", "_", n.name) or "v"
            if base[0].isdigit():
                base = "v_" + base
            s, k = base, 1
            while s in taken or s in reserved or s in self.module_level():
                s = f"{base}_{k}"
                k += 1
            taken.add(s)
            return s

        params, body = [], []
        last_src = None
        for n in gm.graph.nodes:
            w = f"{where}node {n.name!r}"
            if n.op == "placeholder":
                names[n] = var(n)
                params.append(names[n] if not n.args else f"{names[n]}={literal(n.args[0])}")
                continue
            if n.op == "get_attr":
                names[n] = "self." + n.target
                continue
            if n.op == "output":
                body.append(f"return {literal(n.args[0], names, w)}")
                continue
            tag = n.meta.get("onnx_node")
            src = tag[2] if tag else None
            if src and src != last_src:
                body.append(f"# {src}")
            last_src = src if tag else last_src
            expr = self.call_expr(n, names, w)
            names[n] = var(n)
            body.append(f"{names[n]} = {expr}")
            self.n_ops += 1
        return params, body

    def module_level(self) -> set[str]:
        return self.class_names

    def call_expr(self, n: fx.Node, names: dict, where: str) -> str:
        args = [literal(a, names, where) for a in n.args]
        args += [f"{k}={literal(v, names, where)}" for k, v in n.kwargs.items()]
        if n.op == "call_module":
            return f"self.{n.target}({', '.join(args)})"
        if n.op == "call_method":
            return f"{args[0]}.{n.target}({', '.join(args[1:])})"
        fn = n.target
        if fn is operator.getitem and len(n.args) == 2 and not n.kwargs:
            return f"{args[0]}[{args[1]}]"
        return f"{self.callee(fn, where)}({', '.join(args)})"

    def callee(self, fn: Any, where: str) -> str:
        mod = getattr(fn, "__module__", None) or ""
        if mod.split(".")[0] == PKG:
            ref = self.support.ref(fn, where)
            self.used.add(ref.split(".")[0])
            return ref
        qual = importable_name(fn, where)
        root = qual.split(".")[0]
        if "." in qual and root != "torch":
            self.extra_imports.add(f"import {root}")
        return qual

    def graph_class(self, gm: fx.GraphModule, hint: str, where: str, name: str | None = None,
                    root: bool = False) -> str:
        name = name or self.class_name(hint)
        init = self.init_lines(gm, where)
        params, body = self.forward_lines(gm, where)
        lines = [f"class {name}(torch.nn.Module):"]
        if root:
            lines += ['    """The imported graph; see the module docstring."""', ""]
            names = getattr(gm, "onnx_names", {}) or {}
            lines.append("    #: attribute name -> ONNX name of each weight")
            lines.append("    onnx_names = {" + "".join(f"\n        {k!r}: {v!r}," for k, v in names.items())
                         + ("\n    }" if names else "}"))
            lines.append(f"    onnx_inputs = {list(getattr(gm, 'onnx_inputs', []))!r}")
            lines.append(f"    onnx_outputs = {list(getattr(gm, 'onnx_outputs', []))!r}")
            lines.append("")
            lines.append("    def __init__(self, weights: str | None = WEIGHTS) -> None:")
        else:
            lines += [f'    """A subgraph ({where.rstrip(" >") or hint})."""', ""]
            lines.append("    def __init__(self) -> None:")
        lines.append("        super().__init__()")
        lines += ["        " + x for x in init]
        if root:
            lines.append("        if weights is not None:")
            lines.append("            self.load_state_dict(torch.load(weights, weights_only=True, mmap=True), "
                         "assign=True)")
        lines.append("")
        lines.append(f"    def forward(self{''.join(', ' + p for p in params)}):")
        lines += ["        " + x for x in body]
        self.classes.append("\n".join(lines) + "\n")
        return name


# ---------------------------------------------------------------------------- the API

def to_source(model_or_path: Any, directory: str | os.PathLike, *, class_name: str = "Model",
              module_name: str = "module") -> SourceResult:
    """Import an ONNX model and write it as a Python package of plain torch.

    ``directory`` receives ``__init__.py``, ``<module_name>.py`` (the class
    ``class_name``: ``forward`` takes the graph inputs positionally in graph
    order, or by name, as :func:`to_torch`'s module does), ``weights.pt`` (its
    ``state_dict``, loaded by ``class_name()``) and ``_support/`` (the onnxkit
    helpers it calls, copied).  Raises :class:`ToTorchError` where the import
    runs onnxkit's numpy kernel for some node (listed) or a helper cannot be
    copied.
    """
    if not class_name.isidentifier() or keyword.iskeyword(class_name):
        raise ToTorchError(f"class name {class_name!r} is not a Python identifier")
    if not module_name.isidentifier() or keyword.iskeyword(module_name) or module_name.startswith("_support"):
        raise ToTorchError(f"module name {module_name!r} is not a usable Python module name")
    with _tagging():
        gm = to_torch(model_or_path)
    fallbacks = list(getattr(gm, "onnx_fallbacks", []) or [])
    if fallbacks:
        raise ToTorchError(
            f"{len(fallbacks)} node(s) have no torch form and run onnxkit's numpy kernel, which a module "
            f"written as source cannot do without onnxkit: {', '.join(fallbacks)} (use onnxkit.to_torch "
            "for this model)")
    support = Support()
    first = _Writer(support)       # a first pass finds the helper modules and classes, whose names
    first.class_names.add(class_name)     # the second keeps free of local variables
    first.graph_class(gm, class_name, "", name=class_name, root=True)
    writer = _Writer(support, {c.alias for c in support.copies.values()} | first.class_names
                     | {x.split()[-1] for x in first.extra_imports})
    writer.class_names.add(class_name)
    writer.graph_class(gm, class_name, "", name=class_name, root=True)

    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    aliases = support.write(os.path.join(directory, "_support"))
    imports = ["import os", "", "import torch", *sorted(writer.extra_imports)]
    if writer.used:
        imports += ["", f"from ._support import {', '.join(sorted(writer.used))}"]
    needs = sorted(x for c in support.copies.values() for x in c.needs_onnxkit)
    uses_numpy = False
    for alias in aliases:
        with open(os.path.join(directory, "_support", alias + ".py"), encoding="utf-8") as f:
            uses_numpy = uses_numpy or re.search(r"^\s*(import numpy|from numpy)", f.read(), re.M) is not None
    n_params = sum(p.numel() for p in gm.parameters())
    n_bufs = sum(b.numel() for b in gm.buffers())
    ins = ", ".join(getattr(gm, "onnx_inputs", []))
    outs = ", ".join(getattr(gm, "onnx_outputs", []))
    if isinstance(model_or_path, (str, os.PathLike)):
        src_name = os.path.basename(os.fspath(model_or_path))
    else:
        graph_name = getattr(getattr(model_or_path, "graph", None), "name", "")
        src_name = f"the ONNX graph {graph_name!r}" if graph_name else "an ONNX model"
    paragraphs = [
        f"forward({ins}) -> {outs}: one line per op, the variables named after the ONNX values; "
        "a `# file:line` comment is the source line the model's metadata records for the nodes below it.",
        f"{writer.n_ops} ops; {n_params:,} parameter elements (float weights, trainable) and {n_bufs:,} buffer "
        f"elements, which `{class_name}()` loads from weights.pt beside this file (`{class_name}(weights=None)` "
        f"leaves them uninitialized); `{class_name}.onnx_names` maps attribute names to ONNX names.",
        f"Needs torch{' (and numpy, which some copied helpers use)' if uses_numpy else ' only'}: the onnxkit "
        "helpers called here are copied in _support/."]
    if needs:
        paragraphs.append("onnxkit is imported only if these rare run-time paths run: " + ", ".join(needs) + ".")
    doc = [f'"""{class_name}: {src_name} as a torch module, written by `onnxkit import`.']
    for para in paragraphs:
        doc += ["", textwrap.fill(para, 96, break_on_hyphens=False, break_long_words=False)]
    doc.append('"""')
    text = "\n".join(doc) + "\n\n" + "\n".join(x for x in imports) + "\n\n" \
        + 'WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights.pt")\n\n\n' \
        + "\n\n".join(writer.classes)
    module_path = os.path.join(directory, module_name + ".py")
    with open(module_path, "w", encoding="utf-8") as f:
        f.write(text)
    init = os.path.join(directory, "__init__.py")
    if not os.path.exists(init):
        with open(init, "w", encoding="utf-8") as f:
            f.write(f'"""{src_name} imported by `onnxkit import`: `from .{module_name} import {class_name}`."""\n')
    weights_path = os.path.join(directory, "weights.pt")
    state = {k: v.detach().contiguous().clone() for k, v in gm.state_dict().items()}
    torch.save(state, weights_path)
    return SourceResult(directory, module_path, weights_path, class_name, writer.n_ops, n_params, n_bufs,
                        sorted(aliases), needs)
