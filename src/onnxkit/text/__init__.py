"""The ONNX text syntax: print the IR as text, parse text into the IR.

``to_text`` writes what ``onnx.printer.to_text`` writes; ``parse`` (and
``parse_graph``, ``parse_function``, ``parse_node``) read what
``onnx.parser`` reads and build the IR of the message it builds.

>>> from onnxkit.text import parse, to_text
>>> m = parse('''<ir_version: 10, opset_import: ["" : 21]>
... g (float[N] x) => (float[N] y) { y = Relu (x) }''')
>>> print(to_text(m.graph))
g (float[N] x) => (float[N] y) {
   y = Relu (x)
}
"""

from __future__ import annotations

from ._parser import parse, parse_function, parse_graph, parse_node
from ._printer import to_text

__all__ = ["parse", "parse_function", "parse_graph", "parse_node", "to_text"]
