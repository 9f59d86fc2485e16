"""Print a model in the ONNX text syntax."""

from __future__ import annotations

import argparse
import sys

from ..errors import OnnxkitError

NAME = "print"
HELP = "print a model in the ONNX text syntax"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="the .onnx file")


def run(args: argparse.Namespace) -> int:
    from .. import load

    try:
        from ..text import to_text
    except ModuleNotFoundError as e:
        if e.name != "onnxkit.text":
            raise
        raise OnnxkitError("this onnxkit has no text printer (onnxkit.text) yet") from None
    text = to_text(load(args.model))
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
