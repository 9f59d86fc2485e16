"""A corpus of broken (and a few still valid) models, made by mutating valid
ones deterministically: conformance-suite node models plus small hand-built
models with initializers, subgraphs, functions and sparse tensors.

:func:`mutants` returns ``[(mutant_id, model_bytes)]``; ids are stable
(``<mutation>:<base>``), so disagreements can be listed by id.
"""

from __future__ import annotations

import copy
import random
from typing import Callable, Iterator

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from onnxkit.defs import SINGLE, get_schema, schema_versions

Mutation = Callable[[onnx.ModelProto, random.Random], "onnx.ModelProto | None"]


# ------------------------------------------------------------------ bases


def _vi(name: str, dtype: int = TensorProto.FLOAT, shape=(2, 3)):
    return helper.make_tensor_value_info(name, dtype, list(shape))


def _model(nodes, inputs, outputs, inits=(), functions=(), opsets=(("", 21),), ir=10,
           name="g", sparse=()) -> onnx.ModelProto:
    g = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits),
                          sparse_initializer=list(sparse))
    return helper.make_model(g, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets],
                             functions=list(functions), ir_version=ir)


def hand_built() -> list[tuple[str, onnx.ModelProto]]:
    """Small valid models exercising what the node test cases lack."""
    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4), "w")
    b = numpy_helper.from_array(np.ones(4, np.float32), "b")
    init = _model([helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
                   helper.make_node("Add", ["h", "b"], ["h2"], name="add"),
                   helper.make_node("Relu", ["h2"], ["y"], name="relu")],
                  [_vi("x")], [_vi("y", shape=(2, 4))], [w, b])

    then_g = helper.make_graph([helper.make_node("Add", ["x", "x"], ["t"], name="then_add")],
                               "then", [], [_vi("t")])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"], name="else_neg")],
                               "else", [], [_vi("e")])
    if_m = _model([helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0, name="sum"),
                   helper.make_node("Greater", ["s", "zero"], ["c"], name="gt"),
                   helper.make_node("If", ["c"], ["r"], then_branch=then_g, else_branch=else_g,
                                    name="if"),
                   helper.make_node("Sigmoid", ["r"], ["y"], name="sig")],
                  [_vi("x")], [_vi("y")],
                  [numpy_helper.from_array(np.array(0, np.float32), "zero")])

    body = helper.make_graph(
        [helper.make_node("Add", ["acc_in", "x"], ["acc_out"], name="body_add"),
         helper.make_node("Identity", ["cond_in"], ["cond_out"], name="body_id")],
        "body", [_vi("i", TensorProto.INT64, []), _vi("cond_in", TensorProto.BOOL, []), _vi("acc_in")],
        [_vi("cond_out", TensorProto.BOOL, []), _vi("acc_out")])
    loop = _model([helper.make_node("Loop", ["n", "", "x"], ["acc"], body=body, name="loop"),
                   helper.make_node("Mul", ["acc", "x"], ["y"], name="mul")],
                  [_vi("x")], [_vi("y")],
                  [numpy_helper.from_array(np.array(3, np.int64), "n")])

    fbody = [helper.make_node("Mul", ["a", "a"], ["sq"], name="f_mul"),
             helper.make_node("Add", ["sq", "a"], ["out"], name="f_add")]
    f = helper.make_function("local", "SquarePlus", ["a"], ["out"], fbody,
                             [helper.make_opsetid("", 21)])
    func = _model([helper.make_node("SquarePlus", ["x"], ["h"], domain="local", name="call"),
                   helper.make_node("Relu", ["h"], ["y"], name="relu")],
                  [_vi("x")], [_vi("y")], functions=[f], opsets=(("", 21), ("local", 1)))

    values = numpy_helper.from_array(np.array([1.0, 2.0, 3.0], np.float32), "sp")
    indices = numpy_helper.from_array(np.array([0, 4, 5], np.int64), "sp_idx")
    sp = helper.make_sparse_tensor(values, indices, [2, 3])
    sparse = _model([helper.make_node("Add", ["x", "x"], ["y"], name="add")],
                    [_vi("x")], [_vi("y")], sparse=[sp])
    return [("init", init), ("if", if_m), ("loop", loop), ("func", func), ("sparse", sparse)]


def conformance_bases(cases, count: int = 30) -> list[tuple[str, onnx.ModelProto]]:
    """``count`` valid node-test models spread over the suite (by name)."""
    valid = []
    for name, m in sorted(cases, key=lambda c: c[0]):
        if not m.graph.node or m.functions:
            continue
        try:
            onnx.checker.check_model(m, full_check=True)
        except Exception:
            continue
        valid.append((name, m))
    step = max(1, len(valid) // count)
    return valid[::step][:count]


# ------------------------------------------------------------------ helpers


def _schema(n: onnx.NodeProto, m: onnx.ModelProto):
    version = {o.domain: o.version for o in m.opset_import}.get(n.domain)
    return None if version is None else get_schema(n.op_type, version, n.domain)


def _pick(rng: random.Random, seq):
    seq = list(seq)
    return rng.choice(seq) if seq else None


def _nodes_with(m: onnx.ModelProto, pred) -> list[onnx.NodeProto]:
    return [n for n in m.graph.node if pred(n)]


# ------------------------------------------------------------------ mutations
# Each takes a copy of a valid model and a seeded Random; returns the mutant or
# None when it does not apply to that model.


def undefined_input(m, rng):
    n = _pick(rng, _nodes_with(m, lambda n: any(n.input)))
    if n is None:
        return None
    j = rng.choice([j for j, x in enumerate(n.input) if x])
    n.input[j] = "no_such_value"
    return m


def duplicate_output(m, rng):
    if len(m.graph.node) < 2:
        if not m.graph.input:
            return None
        m.graph.node[0].output[0] = m.graph.input[0].name
        return m
    n = m.graph.node[rng.randrange(1, len(m.graph.node))]
    n.output[0] = m.graph.node[0].output[0]
    return m


def reverse_order(m, rng):
    nodes = list(m.graph.node)
    produced = {o for n in nodes for o in n.output}
    if len(nodes) < 2 or not any(i in produced for n in nodes for i in n.input):
        return None
    del m.graph.node[:]
    m.graph.node.extend(reversed(nodes))
    return m


def cycle(m, rng):
    nodes = list(m.graph.node)
    pairs = [(i, j) for j, b in enumerate(nodes) for i, a in enumerate(nodes[:j])
             if any(o in b.input for o in a.output if o) and a.input and a.input[0]]
    if not pairs:
        return None
    i, j = rng.choice(pairs)
    nodes[i].input[0] = nodes[j].output[0]
    return m


def unknown_op(m, rng):
    n = _pick(rng, m.graph.node)
    n.op_type = rng.choice(["NoSuchOp", n.op_type + "X", n.op_type.lower()])
    return m


def experimental_op(m, rng):
    n = _pick(rng, _nodes_with(m, lambda n: n.domain in ("", "ai.onnx")))
    if n is None:
        return None
    n.op_type = rng.choice(["Scale", "ATen", "Crop"])
    return m


def unknown_attribute(m, rng):
    n = _pick(rng, _nodes_with(m, lambda n: _schema(n, m) is not None))
    if n is None:
        return None
    n.attribute.append(helper.make_attribute(rng.choice(["bogus", "axes_", "kernel"]), 1))
    return m


def internal_attribute(m, rng):
    n = _pick(rng, m.graph.node)
    n.attribute.append(helper.make_attribute("__internal_note", 1))
    return m


_RETYPE = {AttributeProto.INT: ("f", AttributeProto.FLOAT, float),
           AttributeProto.FLOAT: ("i", AttributeProto.INT, int),
           AttributeProto.STRING: ("i", AttributeProto.INT, lambda s: 7),
           AttributeProto.INTS: ("i", AttributeProto.INT, lambda xs: xs[0] if xs else 0),
           AttributeProto.FLOATS: ("f", AttributeProto.FLOAT, lambda xs: xs[0] if xs else 0.0)}


def wrong_attribute_type(m, rng):
    cands = [(n, a) for n in m.graph.node for a in n.attribute if a.type in _RETYPE]
    if not cands:
        return None
    n, a = rng.choice(cands)
    field, new_type, conv = _RETYPE[a.type]
    value = helper.get_attribute_value(a)
    if isinstance(value, bytes):
        value = value.decode()
    new = helper.make_attribute(a.name, conv(list(value) if isinstance(value, list) else value))
    new.type = new_type
    idx = list(n.attribute).index(a)
    n.attribute[idx].CopyFrom(new)
    return m


def attribute_without_type(m, rng):
    cands = [(n, a) for n in m.graph.node for a in n.attribute]
    if not cands:
        return None
    _, a = rng.choice(cands)
    a.ClearField("type")
    return m


def missing_required_attribute(m, rng):
    cands = []
    for n in m.graph.node:
        s = _schema(n, m)
        if s is None:
            continue
        for k, a in enumerate(n.attribute):
            d = s.attributes.get(a.name)
            if d is not None and d.required:
                cands.append((n, k))
    if not cands:
        return None
    n, k = rng.choice(cands)
    del n.attribute[k]
    return m


def extra_input(m, rng):
    cands = [n for n in m.graph.node if (s := _schema(n, m)) is not None and n.input
             and s.max_input == len(n.input) and not s.inputs[-1].variadic]
    n = _pick(rng, cands)
    if n is None:
        return None
    n.input.append(n.input[0])
    return m


def too_few_inputs(m, rng):
    cands = [n for n in m.graph.node if (s := _schema(n, m)) is not None and s.min_input >= 1
             and len(n.input) >= s.min_input]
    n = _pick(rng, cands)
    if n is None:
        return None
    del n.input[_schema(n, m).min_input - 1:]
    return m


def empty_required_input(m, rng):
    cands = [(n, j) for n in m.graph.node if (s := _schema(n, m)) is not None
             for j, x in enumerate(n.input) if x and j < len(s.inputs) and s.inputs[j].option == SINGLE]
    if not cands:
        return None
    n, j = rng.choice(cands)
    n.input[j] = ""
    return m


def extra_output(m, rng):
    cands = [n for n in m.graph.node if (s := _schema(n, m)) is not None
             and s.max_output == len(n.output) and not s.outputs[-1].variadic]
    n = _pick(rng, cands)
    if n is None:
        return None
    n.output.append("extra_output_value")
    return m


_TENSOR_TYPES = ["tensor(string)", "tensor(bool)", "tensor(complex64)", "tensor(int8)",
                 "tensor(uint16)", "tensor(float)", "tensor(int64)"]
_CODE = {"string": TensorProto.STRING, "bool": TensorProto.BOOL, "complex64": TensorProto.COMPLEX64,
         "int8": TensorProto.INT8, "uint16": TensorProto.UINT16, "float": TensorProto.FLOAT,
         "int64": TensorProto.INT64}


def type_constraint_violation(m, rng):
    """Give a graph input an element type its first consumer does not accept."""
    for vi in m.graph.input:
        if not vi.type.HasField("tensor_type"):
            continue
        for n in m.graph.node:
            s = _schema(n, m)
            if s is None or vi.name not in n.input:
                continue
            j = list(n.input).index(vi.name)
            p = s.inputs[min(j, len(s.inputs) - 1)]
            tc = s.type_constraints.get(p.type_str)
            allowed = tc.allowed if tc else (p.type_str,)
            bad = [t for t in _TENSOR_TYPES if t not in allowed]
            if not bad:
                continue
            vi.type.tensor_type.elem_type = _CODE[rng.choice(bad)[7:-1]]
            return m
    return None


def remove_default_opset(m, rng):
    keep = [o for o in m.opset_import if o.domain not in ("", "ai.onnx")]
    del m.opset_import[:]
    m.opset_import.extend(keep)
    return m


def opset_too_old(m, rng):
    """Import the default domain at a version older than one of the ops used."""
    for n in m.graph.node:
        if n.domain not in ("", "ai.onnx"):
            continue
        versions = schema_versions(n.op_type, "")
        if versions and versions[0].since_version > 1:
            return _set_default_opset(m, versions[0].since_version - 1)
    return None


def _set_default_opset(m, version: int):
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = version
    return m


def _import_default_again(m, delta: int):
    v = next(o.version for o in m.opset_import if o.domain == "")
    m.opset_import.append(helper.make_opsetid("", v + delta))
    return m


def opset_zero(m, rng):
    return _set_default_opset(m, 0)


def opset_from_the_future(m, rng):
    return _set_default_opset(m, 99)


def duplicate_opset_domain(m, rng):
    return _import_default_again(m, 0)


def conflicting_opset_domain(m, rng):
    return _import_default_again(m, -1)


def output_type_mismatch(m, rng):
    """Declare a graph output with another element type than its node gives."""
    vi = _pick(rng, [vi for vi in m.graph.output if vi.type.HasField("tensor_type")])
    if vi is None:
        return None
    t = vi.type.tensor_type
    t.elem_type = TensorProto.INT8 if t.elem_type != TensorProto.INT8 else TensorProto.UINT16
    return m


def ir_zero(m, rng):
    m.ir_version = 0
    return m


def ir_future(m, rng):
    m.ir_version = rng.choice([15, 99])
    return m


def ir2_with_opsets(m, rng):
    m.ir_version = 2
    return m


def graph_without_name(m, rng):
    m.graph.name = ""
    return m


def input_without_type(m, rng):
    if not m.graph.input:
        return None
    m.graph.input[rng.randrange(len(m.graph.input))].ClearField("type")
    return m


def input_without_shape(m, rng):
    cands = [vi for vi in m.graph.input if vi.type.HasField("tensor_type")]
    vi = _pick(rng, cands)
    if vi is None:
        return None
    vi.type.tensor_type.ClearField("shape")
    return m


def output_not_produced(m, rng):
    m.graph.output[rng.randrange(len(m.graph.output))].name = "not_produced"
    return m


def duplicate_input(m, rng):
    if not m.graph.input:
        return None
    m.graph.input.append(copy.deepcopy(m.graph.input[0]))
    return m


def empty_op_type(m, rng):
    _pick(rng, m.graph.node).op_type = ""
    return m


def missing_domain_import(m, rng):
    n = _pick(rng, m.graph.node)
    n.domain = "com.example.unimported"
    return m


def doc_strings(m, rng):
    """Still valid: documentation everywhere."""
    m.doc_string = "model doc"
    m.graph.doc_string = "graph doc"
    for n in m.graph.node:
        n.doc_string = f"{n.op_type} doc"
    return m


def rename_values(m, rng):
    """Still valid: every value renamed consistently."""
    names = {vi.name for vi in m.graph.input} | {o for n in m.graph.node for o in n.output}
    names |= {t.name for t in m.graph.initializer}
    mapping = {x: f"v_{k}_{x}" for k, x in enumerate(sorted(x for x in names if x))}

    def ren(g):
        for vi in [*g.input, *g.output, *g.value_info]:
            vi.name = mapping.get(vi.name, vi.name)
        for t in g.initializer:
            t.name = mapping.get(t.name, t.name)
        for n in g.node:
            n.input[:] = [mapping.get(x, x) for x in n.input]
            n.output[:] = [mapping.get(x, x) for x in n.output]
            for a in n.attribute:
                if a.type == AttributeProto.GRAPH:
                    ren(a.g)
    ren(m.graph)
    return m


def ref_attribute_in_graph(m, rng):
    cands = [(n, a) for n in m.graph.node for a in n.attribute
             if a.type in (AttributeProto.INT, AttributeProto.FLOAT)]
    if not cands:
        return None
    n, a = rng.choice(cands)
    ref = helper.make_attribute_ref(a.name, a.type)
    n.attribute[list(n.attribute).index(a)].CopyFrom(ref)
    return m


GENERIC: dict[str, Mutation] = {
    f.__name__: f for f in [
        undefined_input, duplicate_output, reverse_order, cycle, unknown_op, experimental_op,
        unknown_attribute, internal_attribute, wrong_attribute_type, attribute_without_type,
        missing_required_attribute, extra_input, too_few_inputs, empty_required_input, extra_output,
        type_constraint_violation, remove_default_opset, opset_too_old, opset_zero,
        duplicate_opset_domain, output_type_mismatch, ir_zero, ir_future, ir2_with_opsets, graph_without_name,
        input_without_type, input_without_shape, output_not_produced, duplicate_input,
        empty_op_type, missing_domain_import, doc_strings, rename_values]}
#: applied to one base only (the hand-built If model)
RARE: dict[str, Mutation] = {f.__name__: f for f in [conflicting_opset_domain, ref_attribute_in_graph,
                                                     opset_from_the_future]}


# ------------------------------------------------------------------ special bases


def _init_mutations(m, rng) -> Iterator[tuple[str, onnx.ModelProto]]:
    x = copy.deepcopy(m)
    x.graph.initializer.append(copy.deepcopy(x.graph.initializer[0]))
    yield "duplicate_initializer", x
    x = copy.deepcopy(m)
    x.graph.initializer[0].raw_data = x.graph.initializer[0].raw_data[:-4]
    yield "initializer_data_too_short", x
    x = copy.deepcopy(m)
    x.graph.initializer[1].dims[:] = [5]
    yield "initializer_dims_too_big", x
    x = copy.deepcopy(m)
    x.graph.initializer[0].name = ""
    yield "initializer_without_name", x
    x = copy.deepcopy(m)
    x.graph.initializer[0].data_type = TensorProto.UNDEFINED
    yield "initializer_undefined_type", x
    x = copy.deepcopy(m)
    x.ir_version = 3
    yield "ir3_initializer_not_input", x
    x = copy.deepcopy(m)
    x.ir_version = 3
    x.graph.input.extend([_vi("w", shape=(3, 4)), _vi("b", shape=(4,))])
    yield "ir3_initializer_is_input", x
    x = copy.deepcopy(m)
    x.graph.input.append(_vi("w", TensorProto.INT64, (3, 4)))
    yield "initializer_input_type_differs", x
    x = copy.deepcopy(m)
    x.graph.input.append(_vi("b", shape=(4,)))
    yield "initializer_also_input", x
    x = copy.deepcopy(m)
    t = x.graph.initializer[1]
    t.ClearField("raw_data")
    t.float_data.extend([1.0, 2.0, 3.0, 4.0])
    yield "initializer_float_data", x
    x = copy.deepcopy(m)
    x.graph.initializer[1].int64_data.extend([1, 2, 3, 4])
    x.graph.initializer[1].ClearField("raw_data")
    yield "initializer_wrong_field", x
    x = copy.deepcopy(m)
    x.graph.node[1].input[1] = "h"
    x.graph.node[0].output[0] = "b"
    yield "node_output_shadows_initializer", x


def _if_mutations(m, rng) -> Iterator[tuple[str, onnx.ModelProto]]:
    def if_node(x):
        return next(n for n in x.graph.node if n.op_type == "If")

    def branch(x, name):
        return next(a.g for a in if_node(x).attribute if a.name == name)

    x = copy.deepcopy(m)
    branch(x, "then_branch").node[0].input[1] = "y"  # produced after the If
    yield "subgraph_reads_later_value", x
    x = copy.deepcopy(m)
    x.graph.node.insert(3, helper.make_node("Identity", ["x"], ["late"], name="late"))
    branch(x, "then_branch").node[0].input[1] = "late"
    yield "subgraph_reads_value_of_next_node", x
    x = copy.deepcopy(m)
    branch(x, "then_branch").node[0].input[0] = "nowhere"
    yield "subgraph_undefined_input", x
    x = copy.deepcopy(m)
    branch(x, "else_branch").output[0].name = "x"
    yield "subgraph_output_is_outer_value", x
    x = copy.deepcopy(m)
    e = branch(x, "else_branch")
    e.node.append(helper.make_node("Neg", ["x"], ["e2"], name="else_neg2"))
    e.output.append(_vi("e2"))
    yield "if_branches_differ_in_outputs", x
    x = copy.deepcopy(m)
    branch(x, "then_branch").node[0].output[0] = "s"
    branch(x, "then_branch").output[0].name = "s"
    yield "subgraph_reassigns_outer_name", x
    x = copy.deepcopy(m)
    branch(x, "then_branch").node[0].input[1] = "s"  # defined before the If: fine
    yield "subgraph_reads_earlier_value", x
    x = copy.deepcopy(m)
    branch(x, "then_branch").node[0].op_type = "NoSuchOp"
    yield "subgraph_unknown_op", x
    x = copy.deepcopy(m)
    branch(x, "then_branch").name = ""
    yield "subgraph_without_name", x
    x = copy.deepcopy(m)
    del if_node(x).attribute[1]
    yield "if_missing_else_branch", x


def _loop_mutations(m, rng) -> Iterator[tuple[str, onnx.ModelProto]]:
    def body(x):
        return x.graph.node[0].attribute[0].g

    x = copy.deepcopy(m)
    body(x).node[0].input[1] = "y"
    yield "loop_body_reads_later_value", x
    x = copy.deepcopy(m)
    del body(x).input[2]
    yield "loop_body_too_few_inputs", x
    x = copy.deepcopy(m)
    body(x).node[0].input[1] = "n"  # the int64 trip count, added to a float
    yield "loop_body_type_mismatch_with_outer_value", x
    x = copy.deepcopy(m)
    body(x).node[1].output[0] = "acc_out"
    yield "loop_body_duplicate_output", x


def _func_mutations(m, rng) -> Iterator[tuple[str, onnx.ModelProto]]:
    f0 = m.functions[0]
    x = copy.deepcopy(m)
    del x.functions[0].opset_import[:]
    yield "function_without_opset_import", x
    x = copy.deepcopy(m)
    x.functions[0].opset_import[0].version = 6  # Mul-6 and Add-6 differ from 21's Mul-14, Add-14
    yield "function_opset_incompatible", x
    x = copy.deepcopy(m)
    x.functions[0].opset_import[0].version = 20  # Mul/Add: same schema at 20 and 21
    yield "function_opset_compatible", x
    x = copy.deepcopy(m)
    x.functions[0].node[1].op_type = "SquarePlus"
    x.functions[0].node[1].domain = "local"
    del x.functions[0].node[1].input[1]
    x.functions[0].opset_import.append(helper.make_opsetid("local", 1))
    yield "function_recursive", x
    x = copy.deepcopy(m)
    x.functions.append(copy.deepcopy(f0))
    yield "function_defined_twice", x
    x = copy.deepcopy(m)
    x.functions[0].node[1].input[0] = "nowhere"
    yield "function_undefined_input", x
    x = copy.deepcopy(m)
    x.functions[0].node[0].op_type = "NoSuchOp"
    yield "function_unknown_op", x
    x = copy.deepcopy(m)
    x.functions[0].node[0].output[0] = "a"
    x.functions[0].node[1].input[0] = "a"
    yield "function_reassigns_input", x
    x = copy.deepcopy(m)
    x.functions[0].node.reverse()
    yield "function_nodes_out_of_order", x
    x = copy.deepcopy(m)
    x.functions[0].name = ""
    yield "function_without_name", x
    x = copy.deepcopy(m)
    x.functions[0].node[0].attribute.append(helper.make_attribute("bogus", 1))
    yield "function_node_unknown_attribute", x
    x = copy.deepcopy(m)
    del x.opset_import[1]
    yield "function_domain_not_imported", x


def _sparse_mutations(m, rng) -> Iterator[tuple[str, onnx.ModelProto]]:
    x = copy.deepcopy(m)
    idx = x.graph.sparse_initializer[0].indices
    idx.CopyFrom(numpy_helper.from_array(np.array([4, 0, 5], np.int64), "sp_idx"))
    yield "sparse_indices_unsorted", x
    x = copy.deepcopy(m)
    idx = x.graph.sparse_initializer[0].indices
    idx.CopyFrom(numpy_helper.from_array(np.array([0, 4, 6], np.int64), "sp_idx"))
    yield "sparse_index_out_of_range", x
    x = copy.deepcopy(m)
    x.graph.sparse_initializer[0].dims[:] = [2, 0]
    yield "sparse_zero_dim", x
    x = copy.deepcopy(m)
    idx = x.graph.sparse_initializer[0].indices
    idx.CopyFrom(numpy_helper.from_array(np.array([[0, 0], [1, 1], [1, 2]], np.int64), "sp_idx"))
    yield "sparse_coordinate_indices", x
    x = copy.deepcopy(m)
    x.graph.initializer.append(numpy_helper.from_array(np.zeros(2, np.float32), "sp"))
    yield "sparse_name_repeats_initializer", x


SPECIAL = {"init": _init_mutations, "if": _if_mutations, "loop": _loop_mutations,
           "func": _func_mutations, "sparse": _sparse_mutations}


# ------------------------------------------------------------------ the corpus


def mutants(cases, count: int = 30, seed: int = 20240) -> list[tuple[str, bytes]]:
    """Every mutant of the corpus as ``(id, serialized model)``."""
    bases = hand_built() + conformance_bases(cases, count)
    out: list[tuple[str, bytes]] = []
    for bname, base in bases:
        rng = random.Random(f"{seed}:{bname}")
        for mname, mutate in GENERIC.items():
            m = mutate(copy.deepcopy(base), rng)
            if m is not None:
                out.append((f"{mname}:{bname}", m.SerializeToString()))
        if bname in SPECIAL:
            for mname, m in SPECIAL[bname](base, rng):
                out.append((f"{mname}:{bname}", m.SerializeToString()))
        if bname == "if":
            for mname, mutate in RARE.items():
                m = mutate(copy.deepcopy(base), rng)
                if m is not None:
                    out.append((f"{mname}:{bname}", m.SerializeToString()))
    return out
