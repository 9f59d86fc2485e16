"""onnxkit.strip: doc strings, metadata and value_info go, the computation stays."""

from __future__ import annotations

import numpy as np

import onnxkit

from ._helpers import close, onnx_check, ort_run


def test_strip_doc_metadata_and_value_info(exported):
    m = onnxkit.load(exported("bert", "torchscript"))
    onnxkit.infer_shapes(m)
    m.doc_string = "a model"
    m.metadata_props["author"] = "someone"
    m.graph.nodes[0].doc_string = "a node"
    m.graph.nodes[0].metadata_props["k"] = "v"
    m.graph.inputs[0].doc_string = "ids"
    before = len(onnxkit.to_bytes(m))
    s = onnxkit.strip(m)
    assert s.doc_string == "" and s.graph.nodes[0].doc_string == "" and s.graph.inputs[0].doc_string == ""
    assert s.metadata_props == {"author": "someone"}          # metadata kept unless asked
    s = onnxkit.strip(m, metadata=True, value_info=True)
    assert s.metadata_props == {} and s.graph.nodes[0].metadata_props == {}
    assert s.graph.value_info == [] and all(
        v.type is None for n in s.graph for v in n.outputs if v not in s.graph.outputs)
    assert str(s.graph.inputs[0].type) == "int64[batch,seq]"
    assert len(onnxkit.to_bytes(s)) < before
    assert m.doc_string == "a model" and m.graph.nodes[0].doc_string == "a node"
    onnx_check(s)
    from .._real_models import feeds_for
    feeds = feeds_for(["input_ids", "attention_mask"], 2, 8, 0)
    close(ort_run(s, feeds)["out"], ort_run(m, feeds)["out"])
    assert np.isfinite(ort_run(s, feeds)["out"]).all()
