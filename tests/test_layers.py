"""No module of one layer imports a module of a higher layer.

The layers, lowest first, are those of docs/architecture.md (the list is
read from there, so the two cannot drift).  Every ``import`` of every module
under src/onnxkit counts, those inside functions (lazy imports) included,
unless listed in ALLOWED with the reason.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "onnxkit"
DOC = ROOT / "docs" / "architecture.md"

#: (importing module, imported module) -> why a lower layer may reach up here
ALLOWED: dict[tuple[str, str], str] = {
    ("onnxkit.export._verify", "onnxkit"):
        "verify() runs the exported model through the public API (onnxkit.Session, "
        "onnxkit.check), imported when called: export is the top of the library layers",
}


def layers() -> list[list[str]]:
    """The layer list of docs/architecture.md: one entry per line of its Layers
    block, each the names (``errors.py``, ``ir/``, ``builder.py``) at the line's start."""
    text = DOC.read_text()
    block = text[text.index("## Layers"):]
    block = block[block.index("```") + 3:]
    block = block[:block.index("```")]
    out = []
    for line in block.splitlines():
        if not line.strip() or line.startswith(" "):
            continue                                        # a continued description
        names = re.findall(r"([A-Za-z_][\w]*)(?:\.py|/)(?=[\s,]|$)", line.split("  ")[0] + " ")
        if names:
            out.append(names)
    return out


def _rank() -> dict[str, int]:
    return {name: i for i, names in enumerate(layers()) for name in names}


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, int]]:
    """(absolute module imported, line) for every import of onnxkit modules in ``path``."""
    mod = _module_name(path)
    package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "onnxkit"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "onnxkit":
                continue
            if target == "onnxkit":             # from onnxkit import proto, errors, ...
                out += [(f"onnxkit.{a.name}", node.lineno) for a in node.names]
            else:
                out.append((target, node.lineno))
    return out


def _layer_of(module: str, rank: dict[str, int]) -> int | None:
    """The layer of ``onnxkit.x.y``: that of ``x``; None for the package itself (the top)."""
    parts = module.split(".")
    if len(parts) < 2 or parts[1] in ("__init__", "__main__"):
        return None
    return rank.get(parts[1])


def test_the_layer_list_names_every_top_level_module():
    rank = _rank()
    names = {p.stem if p.is_file() else p.name for p in SRC.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    names -= {"__init__", "__main__"}
    assert names - set(rank) == set(), "add them to the Layers list of docs/architecture.md"


def test_no_module_imports_a_higher_layer():
    rank = _rank()
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        mod = _module_name(path)
        mine = _layer_of(mod, rank)
        if mine is None:
            continue                                         # onnxkit/__init__.py may import anything
        for target, line in _imports(path):
            theirs = _layer_of(target, rank)
            if theirs is None and target in ("onnxkit", "onnxkit.__init__"):
                theirs = len(rank)                           # the top-level package is above all
            if theirs is not None and theirs > mine and (mod, target) not in ALLOWED:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {mod} imports {target}")
    assert not bad, "upward imports (see the layer list of docs/architecture.md):\n" + "\n".join(bad)


def test_lazy_imports_count_and_the_chosen_order_holds():
    rank = _rank()
    # the Session imports the optimizer inside a function: it is seen (and allowed: runtime is above passes)
    assert ("onnxkit.passes", "onnxkit.runtime._session") in {
        (t, "onnxkit.runtime._session") for t, _ in _imports(SRC / "runtime" / "_session.py")}
    assert rank["ir"] < rank["text"] < rank["defs"] < rank["ops"] < rank["passes"] < rank["runtime"]
    # the passes reach the kernels through ops/, never the runtime's plan
    for path in (SRC / "passes").glob("*.py"):
        assert not any(t.startswith("onnxkit.runtime") for t, _ in _imports(path)), path.name


#: the modules that may look up an onnxkit module by name (importlib), and why
DYNAMIC_LOOKUPS = {
    "onnxkit.runtime._providers":
        "the execution provider table finds onnxkit.<package>._provider by name "
        "(docs/architecture.md, Execution providers)",
}


def test_dynamic_imports_only_where_sanctioned():
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        mod = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name not in ("import_module", "__import__"):
                continue
            arg = node.args[0] if node.args else None
            text = ast.unparse(arg) if arg is not None else ""
            if "onnxkit" in text and mod not in DYNAMIC_LOOKUPS:
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {mod} looks up {text}")
    assert not bad, "dynamic imports of onnxkit modules outside the sanctioned lookup:\n" + "\n".join(bad)
