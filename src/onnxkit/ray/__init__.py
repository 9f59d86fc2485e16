"""Batch inference on Ray Data (``onnxkit[ray]``): the same code on a laptop and a cluster.

In the Ray Data idiom::

    ds = ray.data.read_parquet("rows/")
    out = ds.map_batches(onnxkit.ray.Predictor, fn_constructor_kwargs={"model": "m.onnx"},
                         concurrency=2, batch_size=256, batch_format="numpy")

or ``onnxkit.ray.predict(ds, "m.onnx", workers=2)``, which also checks the
model on the driver and gives each worker its share of the cores.  A
Predictor opens the model by path in its worker (memory-mapped: workers of one
machine share the weights' pages; only the path goes through the object
store), feeds the model's inputs from the columns of their names (or those
given in ``columns``) and returns the outputs as columns beside the others.
``run_batch`` is the ``onnxkit batch`` command: its workers each read a piece
of the input, predict and write that piece's Parquet file (rows never pass
through the object store), then a summary.

This package is named like the library it uses; inside it ``import ray``
is the library (imports are absolute).  ``import onnxkit`` does not import it.
"""

from __future__ import annotations

from ._inputs import ImageOptions, decode_image
from ._predictor import Predictor, open_session
from ._run import Summary, plan_workers, predict, run_batch, start_ray

__all__ = ["ImageOptions", "Predictor", "Summary", "decode_image", "open_session", "plan_workers", "predict",
           "run_batch", "start_ray"]
