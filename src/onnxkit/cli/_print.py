"""Print a model in the ONNX text syntax.  Weights of more than 16 values are shown as their type and a summary (count,
min, max, mean, share of zeros) in a comment, so that a big model prints in a
moment; --weights prints every value, as onnx.printer does (that text parses
back into the same model with onnxkit.parse)."""

from __future__ import annotations

import argparse
import sys

NAME = "print"
HELP = "print a model in the ONNX text syntax (weights summarized unless --weights)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="the .onnx file")
    p.add_argument("--weights", action="store_true",
                   help="print every weight's values in full (text that parses back into the model)")


def run(args: argparse.Namespace) -> int:
    from .. import load
    from ..text import to_text

    text = to_text(load(args.model), weights=args.weights)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
