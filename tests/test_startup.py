"""Importing onnxkit costs numpy and the loader: the rest (ml_dtypes, the text
syntax, inference, the checker, the builder, the optimizer, the runtime, the
exporter) loads on first use."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

HEAVY = ["ml_dtypes", "onnxkit.text", "onnxkit.infer", "onnxkit.check", "onnxkit.builder",
         "onnxkit.passes", "onnxkit.runtime", "onnxkit.export", "onnxkit.ops", "onnxkit.defs", "torch"]


def _loaded_after(code: str) -> set[str]:
    probe = code + "\nimport sys\nprint('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         timeout=120).stdout
    return {m for m in out.split() if m in HEAVY}


def test_import_loads_only_the_loader():
    assert _loaded_after("import onnxkit") == set()


def test_loading_a_float_model_needs_no_ml_dtypes(tmp_path):
    import onnxkit

    b = onnxkit.GraphBuilder("g")
    x = b.input("x", "float", [2])
    b.output(b.op.Add(x, b.initializer(np.ones(2, np.float32), "w")), "y")
    path = tmp_path / "m.onnx"
    onnxkit.save(b.model(opset=21), path)
    assert _loaded_after(f"import onnxkit\nm = onnxkit.load({str(path)!r})\n"
                         "m.graph.initializers['w'].const_value.numpy()") == set()
    # running it loads the runtime and the kernels, still not ml_dtypes
    loaded = _loaded_after(f"import onnxkit, numpy\nonnxkit.run({str(path)!r}, {{'x': numpy.ones(2, 'float32')}})")
    assert "onnxkit.runtime" in loaded and "ml_dtypes" not in loaded


def test_lazy_names_resolve():
    import onnxkit

    assert callable(onnxkit.check)
    for name in ("Session", "run", "GraphBuilder", "FunctionBuilder", "parse", "to_text", "optimize",
                 "infer_shapes"):
        assert callable(getattr(onnxkit, name)), name
    assert set(onnxkit.__all__) <= set(dir(onnxkit))


def test_bfloat16_types_load_ml_dtypes_when_touched():
    from onnxkit.ir import DataType

    dt = DataType.BFLOAT16.numpy_dtype
    assert dt.name == "bfloat16" and DataType.from_numpy(dt) == DataType.BFLOAT16
    assert DataType.BFLOAT16.bitwidth == 16 and DataType.INT4.bitwidth == 4
