"""Edit a model: rename values and nodes, fix or free the dims of inputs, add
outputs, strip doc strings, metadata or value_info; the edits apply in that
order and the result is saved to OUT.  Weights are not read: external data
in OUT's folder is referred to where it is (elsewhere the kernel copies it
beside OUT, holes kept; it is written when that fails).  Follow --set-shape with
'onnxkit optimize' to fold what the fixed shapes make constant."""

from __future__ import annotations

import argparse
import os

NAME = "edit"
HELP = "rename, reshape inputs, add outputs, strip (weights untouched)"

_STRIP = ("doc", "metadata", "value_info")


def _pair(s: str) -> tuple[str, str]:
    old, sep, new = s.partition("=")
    if not sep or not old or not new:
        raise argparse.ArgumentTypeError(f"expected OLD=NEW, not {s!r}")
    return old, new


def _shape(s: str) -> tuple[str, list]:
    name, sep, dims = s.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=D1,D2,... (e.g. input_ids=batch,128), "
                                         f"not {s!r}")
    out: list = []
    for d in dims.split(",") if dims else []:
        d = d.strip()
        out.append(int(d) if d.isdigit() else (None if d in ("", "?") else d))
    return name, out


def _strip_list(s: str) -> list[str]:
    parts = [p.strip() for p in s.split(",") if p.strip()]
    bad = [p for p in parts if p not in _STRIP]
    if bad or not parts:
        raise argparse.ArgumentTypeError(f"--strip takes a list of {', '.join(_STRIP)}, not {s!r}")
    return parts


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="the .onnx file to read")
    p.add_argument("out", metavar="OUT", help="the .onnx file to write")
    p.add_argument("--rename", metavar="OLD=NEW", type=_pair, action="append", default=[],
                   help="rename a value or node (inputs, outputs, subgraph readers follow); repeatable")
    p.add_argument("--set-shape", metavar="NAME=D1,D2", type=_shape, action="append", default=[],
                   help="give an input new dims: numbers fix, names are symbols, ? is unknown "
                        "(input_ids=batch,128); repeatable")
    p.add_argument("--add-output", metavar="NAME", action="append", default=[],
                   help="make an intermediate value an output (typed by inference); repeatable")
    p.add_argument("--strip", metavar="WHAT", type=_strip_list, action="append", default=[],
                   help="remove doc, metadata and/or value_info (comma-separated)")
    p.add_argument("--no-check", action="store_true",
                   help="do not check the result (for a model the checker already rejects)")


def run(args: argparse.Namespace) -> int:
    from .. import load
    from ..edit import add_outputs, rename, set_shapes, strip
    from . import UsageError

    if not (args.rename or args.set_shape or args.add_output or args.strip):
        raise UsageError("nothing to do: give --rename, --set-shape, --add-output or --strip")
    model = load(args.model)
    lines = []
    if args.rename:
        mapping = dict(args.rename)
        model = rename(model, mapping, inplace=True, check=False)
        lines.append("renamed " + ", ".join(f"{o} -> {n}" for o, n in mapping.items()))
    if args.set_shape:
        shapes = dict(args.set_shape)
        before = {v.name: v.type for v in model.graph.inputs}
        model = set_shapes(model, shapes, inplace=True, check=False)
        for v in model.graph.inputs:
            if v.name in shapes:
                lines.append(f"input {v.name}: {before[v.name]} -> {v.type}")
        lines.append("outputs now " + ", ".join(f"{v.name}: {v.type}" for v in model.graph.outputs))
    if args.add_output:
        known = {id(v) for v in model.graph.outputs}
        model = add_outputs(model, args.add_output, inplace=True, check=False)
        new = [v for v in model.graph.outputs if id(v) not in known]
        lines.append("added outputs " + (", ".join(f"{v.name}: {v.type}" for v in new) or "none "
                                         "(already outputs)"))
    if args.strip:
        what = {w for group in args.strip for w in group}
        model = strip(model, doc="doc" in what, metadata="metadata" in what,
                      value_info="value_info" in what, inplace=True, check=False)
        lines.append("stripped " + ", ".join(w for w in _STRIP if w in what))
    if not args.no_check:       # once, after all the edits
        from ..check import check_model
        check_model(model, full=False)
    lines += write(model, args.out)
    print("\n".join(lines))
    return 0


def write(model, out: str) -> list[str]:
    """Save an edited model keeping its external data where it is; lines saying what was written."""
    from ..edit import save_edited
    from ._info import human_bytes

    files = save_edited(model, out)
    lines = [f"wrote {out} ({human_bytes(os.path.getsize(out))})"]
    folder = os.path.dirname(out)
    for loc, how in sorted(files.items()):
        path = os.path.join(folder, loc)
        size = human_bytes(os.path.getsize(path))
        lines.append({"kept": f"external data {path} ({size}) kept where it is, not read",
                      "copied": f"external data {path} ({size}) copied by the kernel, not read",
                      "written": f"wrote {path} ({size})"}[how])
    return lines
