"""Model surgery: extract, merge, rename, set_shapes, add_outputs, strip.

>>> import onnxkit
>>> m = onnxkit.parse('''<ir_version: 10, opset_import: ["" : 21]>
... g (float[N, 4] x) => (float[N, 4] y) { t = Relu (x)  y = Neg (t) }''')
>>> part = onnxkit.extract(m, ["x"], ["t"])
>>> [n.op_type for n in part.graph]
['Relu']
>>> [v.name for v in onnxkit.rename(m, {"x": "pixels"}).graph.inputs]
['pixels']

Each edit returns a new model that shares the tensors of the one it was given
(``inplace=True`` edits that one), and checks the result (``check=False``
skips it).  Edits work on the graph only: no weight is read, copied or
computed, so editing a model of gigabytes costs the size of its graph.
:func:`save_edited` saves such a model keeping its external-data files
where they are (see :mod:`onnxkit.edit._save`).  Mistakes (an unknown name,
a collision, a value that cannot be computed from the given inputs) raise
:class:`~onnxkit.errors.EditError`.
"""

from __future__ import annotations

from ._extract import extract
from ._merge import merge
from ._rename import rename
from ._save import save_edited
from ._shapes import add_outputs, set_shapes
from ._strip import strip

__all__ = ["add_outputs", "extract", "merge", "rename", "save_edited", "set_shapes", "strip"]
