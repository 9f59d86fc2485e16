"""Onnxkit's helpers copied as source, for the package ``to_source`` writes.

:class:`Support` collects, for each onnxkit object the written module calls,
the top-level statements of its module that define it and, transitively,
everything they read, into one file per module (``_support/<alias>.py``):
onnxkit's registration decorators are dropped, functions made by factories
(closures) become their inner ``def`` wrapped in a function of their free
variables, imports of onnxkit inside function bodies are copied the same way,
except those of the kernel registries, which stay imports of ``onnxkit``
(recorded in ``needs_onnxkit``).  :func:`literal` writes an argument value as
Python source.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import keyword
import math
import os
import re
import sys
import textwrap
from typing import Any

import torch
import torch.fx as fx

from ._convert import ToTorchError

__all__ = ["PKG", "Support", "literal", "resolve"]

PKG = "onnxkit"


# ---------------------------------------------------------------------------- copied helpers

class _ModuleCopy:
    """The statements of one onnxkit module that the written code needs."""

    def __init__(self, modname: str, alias: str) -> None:
        self.modname = modname
        self.alias = alias
        self.module = sys.modules[modname]
        try:
            self.source = inspect.getsource(self.module)
        except (OSError, TypeError) as e:
            raise ToTorchError(f"cannot read the source of {modname} to copy its helpers: {e}") from e
        self.lines = self.source.splitlines(keepends=True)
        self.tree = ast.parse(self.source)
        self.defs: dict[str, list[int]] = {}        # name -> indices of top-level statements binding it
        # name -> ("import", module, asname) or ("from", module, name, level)
        self.imports: dict[str, tuple] = {}
        for i, st in enumerate(self.tree.body):
            for name in _bound_names(st):
                self.defs.setdefault(name, []).append(i)
            if isinstance(st, ast.Import):
                for a in st.names:
                    if a.asname:
                        self.imports[a.asname] = ("import", a.name, a.asname)
                    else:
                        self.imports[a.name.split(".")[0]] = ("import", a.name.split(".")[0], None)
            elif isinstance(st, ast.ImportFrom):
                for a in st.names:
                    self.imports[a.asname or a.name] = ("from", st.module or "", a.name, st.level)
        self.needed: set[int] = set()
        self.closures: dict[int, str] = {}       # id(function) -> its name here
        self.closure_texts: list[str] = []       # their sources, dependencies first
        self.edits: dict[int, list[tuple]] = {}  # statement -> rewritten imports in its body
        self.import_lines: set[str] = set()
        self.needs_onnxkit: set[str] = set()

    def absolute(self, module: str, level: int) -> str:
        if not level:
            return module
        pkg = self.modname.split(".")
        if not hasattr(self.module, "__path__"):
            pkg = pkg[:-1]
        base = pkg[:len(pkg) - (level - 1)]
        return ".".join(base + ([module] if module else []))

    def statement_text(self, i: int) -> str:
        """The source of top-level statement ``i``: onnxkit's registration
        decorators dropped, imports of onnxkit in bodies rewritten (``edits``)."""
        st = self.tree.body[i]
        start = st.lineno
        kept = self._kept_decorators(st)
        if kept:
            start = min(d.lineno for d in kept)   # (dropped ones: the def line is after them)
        first = start
        edits = self.edits.get(i, [])
        return _apply(self.lines[first - 1:st.end_lineno], first, edits)

    def _kept_decorators(self, st: ast.stmt) -> list:
        decos = getattr(st, "decorator_list", [])
        return [] if decos and all(self._is_registration(st, d) for d in decos) else decos

    def references(self, i: int) -> list[str]:
        """Module-level names statement ``i`` reads (dropped decorators left out)."""
        st = self.tree.body[i]
        refs = _referenced(st)
        decos = getattr(st, "decorator_list", [])
        if decos and not self._kept_decorators(st):
            inner = [r for d in decos for r in _referenced(ast.Expr(d))]
            rest = set()
            for sub in ast.iter_child_nodes(st):
                if not any(sub is d for d in decos):
                    rest.update(_referenced(ast.Expr(sub)) if isinstance(sub, ast.expr) else _referenced(sub))
            refs = [r for r in refs if r not in inner or r in rest]
        return refs

    def _is_registration(self, st: ast.AST, deco: ast.expr) -> bool:
        """A decorator of onnxkit that hands back the function unchanged (``@rule``, ``@kernel``)."""
        root = deco.func if isinstance(deco, ast.Call) else deco
        while isinstance(root, ast.Attribute):
            root = root.value
        if not isinstance(root, ast.Name):
            return False
        obj = getattr(self.module, root.id, None)
        if not (getattr(obj, "__module__", "") or "").startswith(PKG + "."):
            return False
        fn = getattr(self.module, st.name, None)
        code = getattr(fn, "__code__", None)
        first = min([st.lineno] + [d.lineno for d in st.decorator_list])
        return code is not None and first <= code.co_firstlineno <= st.end_lineno


def _apply(lines: list[str], first: int, edits: list[tuple]) -> str:
    """``lines`` (numbered from ``first``) with the (l0, c0, l1, c1, text) edits made."""
    lines = list(lines)
    for l0, c0, l1, c1, text in sorted(edits, reverse=True):
        a, b = l0 - first, l1 - first
        lines[a:b + 1] = [lines[a][:c0] + text + lines[b][c1:]]
    return textwrap.dedent("".join(lines)).rstrip() + "\n"


#: modules whose state is filled at import time (registries): never copied;
#: helpers importing them in a function body import onnxkit when that runs
_NOT_COPIED = ("onnxkit.ops._registry", "onnxkit.ops._evaluate", "onnxkit.to_torch._registry",
               "onnxkit.defs")


def _bound_names(st: ast.stmt) -> list[str]:
    if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [st.name]
    targets: list = []
    if isinstance(st, ast.Assign):
        targets = st.targets
    elif isinstance(st, (ast.AnnAssign, ast.AugAssign)):
        targets = [st.target]
    out = []
    for t in targets:
        for sub in ast.walk(t):
            if isinstance(sub, ast.Name):
                out.append(sub.id)           # `x = ...`, `x.__name__ = ...`, `x[k] = ...`
    return out


def _referenced(st: ast.stmt) -> list[str]:
    """Names a statement reads (annotations left out: they are never evaluated)."""
    out: list[str] = []

    def visit(node: ast.AST) -> None:
        for name, value in ast.iter_fields(node):
            if name in ("annotation", "returns"):
                continue
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, ast.Name) and isinstance(item.ctx, ast.Load):
                    out.append(item.id)
                elif isinstance(item, ast.AST):
                    visit(item)
    visit(st)
    local: set[str] = set()
    if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        a = st.args
        local = {x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg) if x is not None}
        for sub in ast.walk(st):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                local.add(sub.id)
            elif isinstance(sub, (ast.Global, ast.Nonlocal)):
                local.difference_update(sub.names)
    return [n for n in dict.fromkeys(out) if n not in local]


class Support:
    """The ``_support`` package: copies of the onnxkit helpers the code calls."""

    def __init__(self) -> None:
        self.copies: dict[str, _ModuleCopy] = {}
        self._done: set[tuple[str, str]] = set()

    def _copy(self, modname: str) -> _ModuleCopy:
        c = self.copies.get(modname)
        if c is None:
            parts = [p.strip("_") for p in modname.split(".")[1:]] or ["onnxkit"]
            taken = {x.alias for x in self.copies.values()} | {"restore"}
            for k in range(1, len(parts) + 1):
                alias = "_".join(p for p in parts[-k:] if p)
                if alias and alias not in taken and not keyword.iskeyword(alias) and alias != "torch":
                    break
            else:
                alias = "_".join(parts) + f"_{len(self.copies)}"
            c = self.copies[modname] = _ModuleCopy(modname, alias)
        return c

    def ref(self, obj: Any, what: str) -> str:
        """``alias.name`` of onnxkit's top-level object ``obj`` (copied)."""
        modname = getattr(obj, "__module__", None)
        mod = sys.modules.get(modname or "")
        name = getattr(obj, "__name__", None)
        if mod is None or name is None or getattr(mod, name, None) is not obj:
            name = next((k for k, v in vars(mod).items() if v is obj), None) if mod is not None else None
        if name is not None and name not in self._copy(modname).defs and name not in self._copy(modname).imports:
            name = None                       # bound by a loop or the like: not a statement to copy
        if name is None:
            if inspect.isfunction(obj) and mod is not None:
                return f"{self._copy(modname).alias}.{self.closure(obj, what)}"
            raise ToTorchError(f"{what}: {obj!r} is not a top-level object of an onnxkit module; "
                               "cannot write it as source")
        self.need(modname, name, what)
        return f"{self._copy(modname).alias}.{name}"

    def body_imports(self, c: _ModuleCopy, st: ast.stmt, owner: str, what: str) -> list[tuple]:
        """Edits for the imports of onnxkit inside ``st``'s body: helpers and
        modules copied (``from .nn_resize import x``, ``from . import nn_resize
        as R``), registries left to onnxkit itself (imported when that runs)."""
        edits = []
        for sub in ast.walk(st):
            if sub is st or not isinstance(sub, (ast.Import, ast.ImportFrom)):
                continue
            if isinstance(sub, ast.Import):
                if any(a.name.split(".")[0] == PKG for a in sub.names):
                    c.needs_onnxkit.add(f"{c.alias}.{owner}")
                continue
            absmod = c.absolute(sub.module or "", sub.level)
            if absmod.split(".")[0] != PKG:
                continue
            parts = []
            lazy = absmod.startswith(_NOT_COPIED)
            for a in sub.names:
                local = a.asname or a.name
                if lazy:
                    parts.append(f"from {absmod} import {a.name}" + (f" as {a.asname}" if a.asname else ""))
                    continue
                try:
                    obj = importlib.import_module(f"{absmod}.{a.name}")
                except ImportError:
                    obj = getattr(importlib.import_module(absmod), a.name, None)
                if inspect.ismodule(obj):
                    if obj.__name__.startswith(_NOT_COPIED):
                        parts.append(f"import {obj.__name__} as {local}")
                        lazy = True
                        continue
                    for attr in {n.attr for n in ast.walk(st) if isinstance(n, ast.Attribute)
                                 and isinstance(n.value, ast.Name) and n.value.id == local}:
                        self.need(obj.__name__, attr, what)
                    parts.append(f"from . import {self._copy(obj.__name__).alias} as {local}")
                elif obj is not None:
                    self.need(absmod, a.name, what)
                    parts.append(f"from .{self._copy(absmod).alias} import {a.name}"
                                 + (f" as {a.asname}" if a.asname else ""))
                else:
                    raise ToTorchError(f"{what}: {c.modname} imports {a.name!r} from {absmod}, "
                                       "which has none")
            if lazy:
                c.needs_onnxkit.add(f"{c.alias}.{owner}")
            indent = " " * sub.col_offset
            text = ("\n" + indent).join(parts)
            edits.append((sub.lineno, sub.col_offset, sub.end_lineno, sub.end_col_offset, text))
        return edits

    def lambda_source(self, fn: Any, c: _ModuleCopy, what: str) -> str:
        """The source of a lambda of module ``c`` (found by its line, checked by its bytecode)."""
        line = fn.__code__.co_firstlineno
        for node in ast.walk(c.tree):
            if isinstance(node, ast.Lambda) and node.lineno == line:
                text = ast.get_source_segment(c.source, node)
                try:
                    code = compile(text, "<lambda>", "eval").co_consts
                except SyntaxError:
                    continue
                same = [k for k in code if inspect.iscode(k) and k.co_code == fn.__code__.co_code
                        and k.co_names == fn.__code__.co_names and k.co_consts == fn.__code__.co_consts]
                if same:
                    for ref in _referenced(ast.Expr(node)):
                        if ref in c.defs or ref in c.imports:
                            self.need(c.modname, ref, what)
                    return " ".join(text.split())
        raise ToTorchError(f"{what}: cannot find the source of the lambda {fn!r} of {c.modname}")

    def closure(self, fn: Any, what: str) -> str:
        """The name, in its module's copy, of a function that a factory made
        (a closure, not bound at the top level): its source wrapped in a
        factory taking its free variables, called with their values."""
        c = self._copy(fn.__module__)
        if id(fn) in c.closures:
            return c.closures[id(fn)]
        if fn.__name__ == "<lambda>":
            raise ToTorchError(f"{what}: cannot write the lambda {fn!r} of {fn.__module__} as source")
        try:
            src = textwrap.dedent(inspect.getsource(fn))
        except (OSError, TypeError) as e:
            raise ToTorchError(f"{what}: cannot read the source of {fn!r}: {e}") from e
        base = re.sub(r"\W", "_", fn.__name__)
        name, k = base, 1
        taken = set(c.defs) | set(c.imports) | set(c.closures.values())
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        c.closures[id(fn)] = name
        free = fn.__code__.co_freevars
        args = [f"{p}={self.value_expr(cell.cell_contents, c, what)}"
                for p, cell in zip(free, fn.__closure__ or ())]
        for ref in _referenced(ast.parse(src)):
            if (ref in c.defs or ref in c.imports) and ref not in free:
                self.need(c.modname, ref, what)
        tree = ast.parse(src)
        src = _apply(src.splitlines(keepends=True), 1, self.body_imports(c, tree.body[0], name, what))
        inner = fn.__code__.co_name
        text = (f"def _make_{name}({', '.join(free)}):\n{textwrap.indent(src, '    ')}"
                f"    return {inner}\n\n\n{name} = _make_{name}({', '.join(args)})\n")
        c.closure_texts.append(text)
        return name

    def value_expr(self, v: Any, c: _ModuleCopy, what: str) -> str:
        """Source for a closure's free-variable value, written in module copy ``c``."""
        if inspect.isfunction(v) and v.__name__ == "<lambda>" and v.__module__ == c.modname \
                and not v.__code__.co_freevars:
            return self.lambda_source(v, c, what)
        if inspect.isfunction(v) or inspect.isclass(v):
            modname = getattr(v, "__module__", "") or ""
            if modname.split(".")[0] == PKG:
                ref = self.ref(v, what)
                alias, _, name = ref.partition(".")
                if modname == c.modname:
                    return name
                c.import_lines.add(f"from . import {alias} as _{alias}")
                return f"_{alias}.{name}"
        if callable(v) and not isinstance(v, type) or inspect.isclass(v):
            qual = importable_name(v, what)
            if "." in qual:
                c.import_lines.add(f"import {qual.split('.')[0]}")
            return qual
        return literal(v, None, what)

    def need(self, modname: str, name: str, what: str) -> None:
        if (modname, name) in self._done:
            return
        self._done.add((modname, name))
        c = self._copy(modname)
        if name in c.defs:
            for i in c.defs[name]:
                if i in c.needed:
                    continue
                c.needed.add(i)
                for ref in c.references(i):
                    if ref in c.defs or ref in c.imports:
                        self.need(modname, ref, what)
                st = c.tree.body[i]
                c.edits[i] = self.body_imports(c, st, getattr(st, "name", "?"), what)
            return
        imp = c.imports.get(name)
        if imp is None:
            if hasattr(builtins, name):
                return
            raise ToTorchError(f"{what}: cannot find where {modname} defines {name!r}; "
                               "cannot copy it into the written module")
        if imp[0] == "import":
            _, module, asname = imp
            if module.split(".")[0] == PKG:
                raise ToTorchError(f"{what}: {modname} uses the onnxkit module {module} as {name!r}; "
                                   "cannot copy it into the written module")
            c.import_lines.add(f"import {module}" + (f" as {asname}" if asname else ""))
            return
        _, module, orig, level = imp
        absmod = c.absolute(module, level)
        if absmod.split(".")[0] != PKG:
            if absmod == "__future__":
                return
            c.import_lines.add(f"from {absmod} import {orig}" + (f" as {name}" if name != orig else ""))
            return
        try:
            target = importlib.import_module(absmod)
        except ImportError as e:
            raise ToTorchError(f"{what}: cannot import {absmod}: {e}") from e
        obj = getattr(target, orig, None)
        if inspect.ismodule(obj):
            raise ToTorchError(f"{what}: {modname} uses the onnxkit module {obj.__name__} as {name!r}; "
                               "cannot copy it into the written module")
        self.need(absmod, orig, what)
        other = self._copy(absmod).alias
        c.import_lines.add(f"from .{other} import {orig}" + (f" as {name}" if name != orig else ""))

    def write(self, folder: str) -> list[str]:
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "__init__.py"), "w", encoding="utf-8") as f:
            f.write(_SUPPORT_INIT)
        written = []
        for c in self.copies.values():
            body = [c.statement_text(i) for i in sorted(c.needed)] + c.closure_texts
            head = [f'"""Copied from {c.modname} (onnxkit) by `onnxkit import`: the helpers that '
                    'module.py calls."""\n', "\n", "from __future__ import annotations\n", "\n"]
            if c.needs_onnxkit:
                head[0] = head[0][:-4] + ("\n\nThese import onnxkit when they run (rare run-time cases handed "
                                          f"to onnxkit's numpy kernel): {', '.join(sorted(c.needs_onnxkit))}."
                                          '\n"""\n')
            imports = sorted(c.import_lines, key=lambda s: (s.startswith("from ."), s))
            text = "".join(head) + "".join(x + "\n" for x in imports) + "\n\n" + "\n\n".join(body)
            with open(os.path.join(folder, c.alias + ".py"), "w", encoding="utf-8") as f:
                f.write(text)
            written.append(c.alias)
        return written


_SUPPORT_INIT = '''"""Helpers of the written module, copied from onnxkit (see each file's header)."""

from __future__ import annotations

import torch


def restore(cls, modules, attributes, buffers=()):
    """An instance of the torch module class ``cls`` with these submodules,
    plain attributes and (non-persistent) buffers, without running its
    ``__init__`` (its saved state is what the import built)."""
    m = cls.__new__(cls)
    torch.nn.Module.__init__(m)
    for name, value in modules.items():
        m.add_module(name, value)
    for name, value in buffers:
        m.register_buffer(name, value, persistent=False)
    for name, value in attributes.items():
        setattr(m, name, value)
    return m
'''


# ---------------------------------------------------------------------------- literals

def literal(x: Any, names: dict | None = None, what: str = "") -> str:
    """Python source for an fx argument (fx nodes by their variable name)."""
    if isinstance(x, fx.Node):
        if names is None or x not in names:
            raise ToTorchError(f"{what}: refers to {x.name!r} out of scope")
        return names[x]
    if x is None or isinstance(x, (bool, str, bytes)):
        return repr(x)
    if isinstance(x, int):
        return repr(int(x))
    if isinstance(x, float):
        if math.isnan(x):
            return 'float("nan")'
        if math.isinf(x):
            return 'float("inf")' if x > 0 else 'float("-inf")'
        return repr(float(x))
    if isinstance(x, complex):
        return f"complex({literal(x.real)}, {literal(x.imag)})"
    if isinstance(x, torch.Size):
        return f"torch.Size({literal(list(x), names, what)})"
    if isinstance(x, list):
        return "[" + ", ".join(literal(v, names, what) for v in x) + "]"
    if isinstance(x, tuple):
        if len(x) == 1:
            return "(" + literal(x[0], names, what) + ",)"
        return "(" + ", ".join(literal(v, names, what) for v in x) + ")"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{literal(k, names, what)}: {literal(v, names, what)}"
                               for k, v in x.items()) + "}"
    if isinstance(x, slice):
        return f"slice({literal(x.start, names, what)}, {literal(x.stop, names, what)}, " \
               f"{literal(x.step, names, what)})"
    if isinstance(x, (torch.dtype, torch.memory_format, torch.layout)):
        return str(x)
    if isinstance(x, torch.device):
        return f"torch.device({str(x)!r})"
    if x is Ellipsis:
        return "..."
    raise ToTorchError(f"{what}: cannot write a {type(x).__name__} value ({x!r:.80}) as Python source")



def importable_name(fn: Any, where: str) -> str:
    """The name a generated file writes for the function or class ``fn`` of torch,
    Python or another library: a builtin's own name, else its qualified name,
    checked to import back as ``fn`` (ToTorchError naming ``where`` otherwise)."""
    if getattr(builtins, getattr(fn, "__name__", ""), None) is fn:
        return fn.__name__
    from torch.fx.node import _get_qualified_name
    try:
        qual = _get_qualified_name(fn)
    except Exception as e:
        raise ToTorchError(f"{where}: cannot name {fn!r}: {e}") from e
    if qual.startswith("_operator."):
        qual = "operator." + qual[len("_operator."):]
    if resolve(qual) is not fn:
        raise ToTorchError(f"{where}: {fn!r} cannot be imported as {qual!r}")
    return qual


def resolve(qual: str) -> Any:
    parts = qual.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for p in parts[i:]:
                obj = getattr(obj, p)
        except AttributeError:
            return None
        return obj
    return None
