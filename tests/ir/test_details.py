"""Round-trip details (onnxkit.ir._details.WireDetails): repeated initializer
names and proto2 presence kept in typed fields, read back by serde, the text
printer, the checker and clone."""

from __future__ import annotations

import copy

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import onnxkit
from onnxkit.check import find_problems
from onnxkit.ir import clone_model
from onnxkit.ir._details import (NO_DETAILS, WireDetails, details, initializers_as_listed,
                                 output_description)
from onnxkit.text import parse, to_text


def _with_repeated_initializers() -> onnx.ModelProto:
    """Initializers a, b, a, c, a: the name ``a`` three times."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    inits = [numpy_helper.from_array(np.array([i, i], np.float32), n)
             for i, n in enumerate("abaca")]
    g = helper.make_graph([helper.make_node("Add", ["x", "a"], ["s"]),
                           helper.make_node("Add", ["s", "b"], ["y"])], "g", [x], [y], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])


def test_repeated_initializers_are_kept_apart_and_written_back_in_place():
    original = _with_repeated_initializers()
    m = onnxkit.load(original.SerializeToString())
    g = m.graph
    assert list(g.initializers) == ["a", "b", "c"]            # plain names only
    assert g.initializers["a"].const_value.numpy().tolist() == [0, 0]   # the first one
    assert g.nodes[0].inputs[1] is g.initializers["a"]
    repeated = details(g).repeated_initializers
    assert [(pos, v.name) for pos, v in repeated] == [(2, "a"), (4, "a")]
    assert [v.const_value.numpy()[0] for _, v in repeated] == [2, 4]
    assert [v.name for v in initializers_as_listed(g)] == list("abaca")
    assert onnx.load_from_string(onnxkit.to_bytes(m)) == original


def test_repeats_go_with_their_name():
    m = onnxkit.load(_with_repeated_initializers().SerializeToString())
    del m.graph.initializers["c"]              # no repeat: the others stay in place
    assert [v.name for v in initializers_as_listed(m.graph)] == list("abaa")
    m.graph.nodes[0].set_input(1, m.graph.initializers["b"])
    del m.graph.initializers["a"]              # as dead-code elimination would
    back = onnx.load_from_string(onnxkit.to_bytes(m))
    assert [t.name for t in back.graph.initializer] == ["b"]
    assert find_problems(m, full=False) == []


def test_checker_reports_each_repeat():
    m = onnxkit.load(_with_repeated_initializers().SerializeToString())
    dup = [p for p in find_problems(m, full=False) if p.code == "duplicate-initializer"]
    assert [p.value for p in dup] == ["a", "a"]


def test_text_prints_and_parses_repeated_initializers():
    m = onnxkit.load(_with_repeated_initializers().SerializeToString())
    text = to_text(m)
    assert text == onnx.printer.to_text(_with_repeated_initializers())
    back = parse(text)
    assert list(back.graph.initializers) == ["a", "b", "c"]
    assert [pos for pos, _ in details(back.graph).repeated_initializers] == [2, 4]
    assert to_text(back) == text


def test_a_clone_saves_as_its_original():
    original = _with_repeated_initializers()
    node = original.graph.node[0]
    node.attribute.extend([helper.make_attribute("k", 1), helper.make_attribute("k", 2)])
    node.domain = ""                                       # present with its default value
    original.graph.output[0].ClearField("name")            # absent where the IR needs a name
    original.opset_import.append(helper.make_opsetid("", 13))   # a repeated domain
    data = original.SerializeToString()
    m = onnxkit.load(data)
    c = clone_model(m)
    assert onnxkit.to_bytes(c) == onnxkit.to_bytes(m)
    assert onnx.load_from_string(onnxkit.to_bytes(c)) == onnx.load_from_string(data)
    # the clone's details are its own: changing them leaves the original's alone
    assert details(c.graph) is not details(m.graph)
    assert details(c.graph).repeated_initializers[0][1] is not details(m.graph).repeated_initializers[0][1]
    assert not set(map(id, details(c.graph.nodes[0]).attribute_list)) & \
        set(map(id, details(m.graph.nodes[0]).attribute_list))


def test_clone_round_trips_every_conformance_case(cases):
    failed = []
    for name, proto in cases:
        m = onnxkit.load(proto.SerializeToString())
        if onnxkit.to_bytes(clone_model(m)) != onnxkit.to_bytes(m):
            failed.append(name)
    assert failed == []


def test_objects_without_details_share_the_empty_record_untouched(cases):
    for _, proto in list(cases)[:200]:
        m = onnxkit.load(proto.SerializeToString())
        to_text(m)
        onnxkit.to_bytes(clone_model(m))
    assert details(onnxkit.ir.Value("v")) is NO_DETAILS
    empty = WireDetails()
    assert all(getattr(NO_DETAILS, f) == getattr(empty, f) for f in WireDetails.__slots__)


def test_edited_attributes_are_written_as_edited():
    p = copy.deepcopy(_with_repeated_initializers())
    p.graph.node[0].attribute.extend([helper.make_attribute("k", 1), helper.make_attribute("k", 2)])
    m = onnxkit.load(p.SerializeToString())
    n = m.graph.nodes[0]
    assert n.attributes["k"].value == 2
    del n.attributes["k"]
    back = onnx.load_from_string(onnxkit.to_bytes(m))
    assert list(back.graph.node[0].attribute) == []


def test_an_outer_value_output_keeps_its_own_description_while_it_is_that_output():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    c = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    described = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"])   # the branch's view
    then = helper.make_graph([], "then", [], [described])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["z"])], "else", [],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])])
    node = helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)
    p = helper.make_model(helper.make_graph([node], "g", [x, c], [y]),
                          opset_imports=[helper.make_opsetid("", 18)])
    m = onnxkit.load(p.SerializeToString())
    branch = m.graph.nodes[0].attributes["then_branch"].value
    assert branch.outputs[0] is m.graph.inputs[0]                  # the outer value itself
    assert output_description(branch, 0).shape.dims == ("N",)      # described as the file did
    assert onnx.load_from_string(onnxkit.to_bytes(m)) == p
    branch.outputs[0] = m.graph.inputs[1]                         # now another value: no description
    assert output_description(branch, 0) is m.graph.inputs[1]
    written = onnx.load_from_string(onnxkit.to_bytes(m)).graph.node[0].attribute[1].g
    assert written.output[0].name == "c"
    assert written.output[0].type.tensor_type.elem_type == TensorProto.BOOL
