"""The structural checks: model header, graphs (scopes, order, single
assignment), nodes against their schemas, model-local functions.

Names are what ONNX scopes by, so the walk works on names, as a reader of the
file would: a node may read a graph input, an initializer, an output of an
earlier node, or (in a subgraph) any of those of an enclosing graph that are
defined before the node holding the subgraph.  Values made in memory without a
name (the builder leaves none, but hand-made IR may) count by identity.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Hashable, Iterable

from ..defs import SINGLE, OpSchema, get_schema, has_schema, max_opset, schema_versions
from ..ir import (Attribute, AttributeType, Function, Graph, Model, Node, SparseTensor, TensorBase,
                  Type, Value)
from ..ir._domain import is_onnx_domain, normalize_domain
from ..ir._details import attributes_as_listed, details, initializers_as_listed, output_description
from ._data import (check_declaration, check_sparse, check_tensor, ir_version_problem,
                    type_of_initializer)
from ._problem import Problem, Where
from ._typing import check_node_types, type_string

__all__ = ["ModelChecker"]

#: domains whose operators must all be known (onnx's checker refuses unknown ops there)
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training"})
#: removed experimental ops that onnx lets through with a warning
EXPERIMENTAL_OPS = frozenset({"ATen", "Affine", "ConstantFill", "Crop", "DynamicSlice", "GRUUnit",
                              "GivenTensorFill", "ImageScaler", "ParametricSoftplus", "Scale",
                              "ScaledTanh"})
#: schemas that accept attributes they do not declare
UNCHECKED_ATTRIBUTES = frozenset({("", "LayerNormalization", 17)})
_INT32 = (-(2 ** 31), 2 ** 31 - 1)
_NEEDS_VALUE = {AttributeType.TENSOR: "t", AttributeType.SPARSE_TENSOR: "sparse_tensor",
                AttributeType.GRAPH: "g", AttributeType.TYPE_PROTO: "tp"}
_FIELD = {AttributeType.FLOAT: "f", AttributeType.INT: "i", AttributeType.STRING: "s",
          AttributeType.TENSOR: "t", AttributeType.GRAPH: "g", AttributeType.SPARSE_TENSOR: "sparse_tensor",
          AttributeType.TYPE_PROTO: "tp", AttributeType.FLOATS: "floats", AttributeType.INTS: "ints",
          AttributeType.STRINGS: "strings", AttributeType.TENSORS: "tensors",
          AttributeType.GRAPHS: "graphs", AttributeType.SPARSE_TENSORS: "sparse_tensors",
          AttributeType.TYPE_PROTOS: "type_protos"}


def _key(v: Value) -> Hashable | None:
    """How a value is scoped: by name; by identity when unnamed (None); an
    empty name is a missing optional value (None is returned)."""
    if v.name:
        return v.name
    return ("#", id(v)) if v.name is None else None


def _label(v: Value) -> str:
    return repr(v.name) if v.name else "(unnamed value)"


def _attr_name(t: int) -> str:
    return AttributeType.NAMES.get(t, str(t))


def _op(schema: OpSchema) -> str:
    return f"{schema.domain + '.' if schema.domain else ''}{schema.name}-{schema.since_version}"


def _span(lo: int, hi: int) -> str:
    if lo == hi:
        return f"exactly {lo}"
    return f"at least {lo}" if hi >= 2 ** 31 - 1 else f"{lo} to {hi}"


def _suggest(name: str, options: Iterable[str]) -> str:
    options = list(options)
    same = [o for o in options if o.lower() == name.lower()]
    close = same or difflib.get_close_matches(name, options, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class _Scope:
    """The names one graph defines, chained to the enclosing graph's scope.
    ``later`` maps the names this graph's nodes define to (index, node), for
    messages about values used before (or without) their definition."""

    __slots__ = ("names", "parent", "later")

    def __init__(self, parent: _Scope | None, later: dict[Hashable, tuple[int, Node]] | None = None):
        self.names: set[Hashable] = set()
        self.parent = parent
        self.later = later or {}

    def visible(self, k: Hashable) -> bool:
        s: _Scope | None = self
        while s is not None:
            if k in s.names:
                return True
            s = s.parent
        return False


class ModelChecker:
    """One run of the structural checks over a model; ``problems`` collects
    every problem found."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.problems: list[Problem] = []
        self.ir = int(model.ir_version or 0)
        self.in_function = False
        self.inferred: dict[int, Type] = {}  # id(Value) -> type known from an op's constraints
        self.functions = {f.identifier[:2]: f for f in model.functions}

    # ------------------------------------------------------------ model
    def run(self) -> list[Problem]:
        m = self.model
        top = Where("model")
        add = self.problems.append
        msg = ir_version_problem(self.ir)
        if msg:
            add(top.problem("ir-version", msg))
        raw_props = getattr(m.metadata_props, "_raw", None)
        if raw_props is not None:
            keys = [k for k, _ in raw_props]
            dup = sorted({k for k in keys if keys.count(k) > 1})
            add(top.problem("metadata", f"metadata_props repeats the key(s) {dup}; keep one entry "
                                        "per key"))
        opsets = self._opsets(m.opset_imports, details(m).opsets, top, "the model")
        if self.ir >= 3 and not opsets:
            add(top.problem("opset-import", "the model imports no opset; add opset_import "
                                            "entries (e.g. domain '' version 21)"))
        elif 0 < self.ir < 3:
            if opsets:  # checked against them all the same: the graph was written for them
                add(top.problem("opset-import", f"a model of IR version {self.ir} (< 3) cannot "
                                                "have opset_import; raise ir_version"))
            else:
                opsets = {"": 1}
        self.graph(m.graph, f"graph {m.graph.name!r}", None, True, opsets)
        if self.ir >= 8 and m.functions:
            self.model_functions(opsets)
        return self.problems

    def _opsets(self, imports: dict[str, int], raw: list | None, where: Where,
                owner: str) -> dict[str, int]:
        if raw is not None:
            seen: dict[str, Any] = {}
            for d, v in raw:
                d = d or ""
                if d in seen and seen[d] != v:
                    self.problems.append(where.problem(
                        "opset-import", f"{owner} imports domain {d!r} twice, at versions {seen[d]} "
                                        f"and {v}; keep one entry (onnxkit would use the first, onnx "
                                        "the last)"))
                seen.setdefault(d, v)
        for d, v in imports.items():
            if not _INT32[0] <= v <= _INT32[1]:
                self.problems.append(where.problem(
                    "opset-import", f"{owner} imports domain {d!r} at version {v}, out of range"))
            elif d in STANDARD_DOMAINS and v > max_opset(d):
                self.problems.append(where.problem(
                    "opset-import", f"{owner} imports {d or 'ai.onnx'} at opset {v}, newer than the "
                                    f"newest this onnxkit knows ({max_opset(d)}); its operators may "
                                    "mean something else there: import an opset up to that one"))
        return dict(imports)

    # ------------------------------------------------------------ graphs
    def graph(self, g: Graph, path: str, parent: _Scope | None, main: bool,
              opsets: dict[str, int]) -> None:
        where = Where(path)
        add = self.problems.append

        def report(code: str, message: str, value: str | None = None) -> None:
            add(where.problem(code, message, value))

        if not g.name:
            report("missing-name", "the graph has no name; give it one")
        for i, v in enumerate(g.inputs):
            check_declaration(v, f"graph input {i}", main, report)
        for i, v in enumerate(g.outputs):
            check_declaration(output_description(g, i), f"graph output {i}", main, report)

        nodes = list(g)
        scope = _Scope(parent, _producers(nodes))
        for v in g.inputs:
            k = _key(v)
            if k is None:
                continue
            if k in scope.names:
                report("duplicate-name", f"graph input {_label(v)} is listed twice; names must be "
                                         "unique (single static assignment)", v.name)
            scope.names.add(k)
        self._initializers(g, scope, report)
        for i, n in enumerate(nodes):
            here = where.at(i, n)
            for j, v in enumerate(n.inputs):
                if v is not None:
                    k = _key(v)
                    if k is not None and not scope.visible(k):
                        self._undefined(n, i, j, v, k, scope, nodes, here)
            self.node(n, here, scope, opsets)
            for v in n.outputs:
                k = _key(v)
                if k is None:
                    continue
                if scope.visible(k):
                    add(here.problem("duplicate-name",
                                     f"output {_label(v)} is already defined earlier (in this graph or "
                                     "an enclosing one); every value must be assigned once: rename "
                                     "it", v.name))
                scope.names.add(k)
        for i, v in enumerate(g.outputs):
            k = _key(v)
            if k is not None and k not in scope.names:
                outer = "" if parent is None or not parent.visible(k) else (
                    " (it belongs to an enclosing graph; pass it through an Identity node)")
                report("undefined-output", f"graph output {i} {_label(v)} is not an input, "
                                           f"initializer or node output of this graph{outer}", v.name)

    def _initializers(self, g: Graph, scope: _Scope,
                      report: Callable[..., None]) -> None:
        seen: set[str] = set()
        inputs = {id(v) for v in g.inputs}
        repeated = {id(v) for _, v in details(g).repeated_initializers}
        for v in initializers_as_listed(g):
            name = v.name or ""
            if not name:
                report("missing-name", "an initializer has no name; give it one")
                continue
            if name in seen or id(v) in repeated:
                report("duplicate-initializer", f"initializer {name!r} is defined twice; remove one",
                       name)
                continue
            seen.add(name)
            t = v.const_value
            if t is not None:
                check_tensor(t, f"initializer {name!r}", report)
            if self.ir and self.ir <= 3:
                if name not in scope.names:
                    report("initializer-not-input", f"initializer {name!r} is not a graph input; "
                                                    "IR version <= 3 requires it: list it among the "
                                                    "inputs or raise ir_version to 4 or more", name)
            else:
                scope.names.add(name)
            if t is not None and id(v) in inputs and v.type is not None:
                self._initializer_vs_input(v, t, report)
        for s in g.sparse_initializers:
            name = s.name or ""
            if not name:
                report("missing-name", "a sparse initializer has no name; give it one")
                continue
            if name in seen:
                report("duplicate-initializer", f"sparse initializer {name!r} repeats the name of "
                                                "another initializer; remove one", name)
                continue
            seen.add(name)
            check_sparse(s, f"sparse initializer {name!r}", report)
            scope.names.add(name)

    def _initializer_vs_input(self, v: Value, t: TensorBase, report: Callable[..., None]) -> None:
        declared, actual = v.type, type_of_initializer(t)
        ds, as_ = type_string(declared), type_string(actual)
        if ds is not None and as_ is not None and ds != as_:
            report("type-mismatch", f"graph input {v.name!r} is declared {ds}, but its initializer "
                                    f"is {as_}", v.name)
            return
        shape = getattr(declared, "shape", None)
        if shape is None or ds is None:
            return
        dims = list(shape.dims)
        if len(dims) != len(t.shape) or any(isinstance(d, int) and d != e
                                            for d, e in zip(dims, t.shape)):
            report("shape-mismatch", f"graph input {v.name!r} is declared with shape {dims}, but its "
                                     f"initializer has shape {list(t.shape)}", v.name)

    def _undefined(self, n: Node, i: int, j: int, v: Value, k: Hashable, scope: _Scope,
                   nodes: list[Node], here: Where) -> None:
        name = _label(v)
        if k in scope.later:
            pi, p = scope.later[k]
            cyc = " and depends on this node's own outputs (a cycle): break the cycle" \
                if _reaches(p, n, set(map(id, nodes))) else \
                ": nodes must come in topological order (onnxkit's Graph.sort() reorders them)"
            msg = (f"input {j} {name} is produced only by a later node, node {pi} "
                   f"{repr(p.name) + ' ' if p.name else ''}({p.op_type}){cyc}")
        else:
            s = scope.parent
            while s is not None and k not in s.later:
                s = s.parent
            if s is not None:
                pi, p = s.later[k]
                msg = (f"input {j} {name} comes from an enclosing graph, where it is produced by node "
                       f"{pi} ({p.op_type}) after the node holding this subgraph; a subgraph may only "
                       "read values defined before its node: move that node earlier")
            else:
                msg = (f"input {j} {name} is not defined: it is no graph input, initializer or output "
                       "of an earlier node" + ("" if scope.parent is None else
                                               " (nor of an enclosing graph)"))
        self.problems.append(here.problem("undefined-input", msg, v.name))

    # ------------------------------------------------------------ nodes
    def node(self, n: Node, here: Where, scope: _Scope, opsets: dict[str, int]) -> None:
        add = self.problems.append

        def report(code: str, message: str, value: str | None = None) -> None:
            add(here.problem(code, message, value))

        if not n.op_type:
            report("missing-op-type", "the node has no op_type")
        if not n.inputs and not n.outputs:
            report("arity", "the node has neither inputs nor outputs")
        domain = n.domain
        version = opsets.get(domain)
        if version is None and domain == "":
            version = opsets.get("ai.onnx")
        if version is None:
            report("opset-import", f"domain {domain!r} of this node is not imported; add "
                                   f"{{domain: {domain!r}, version: N}} to opset_import")
        attrs = attributes_as_listed(n)
        seen: set[str] = set()
        for a in attrs:
            if a.name in seen:
                report("duplicate-attribute", f"attribute {a.name!r} is given twice; keep one")
            seen.add(a.name)
            self._attribute(a, here, scope, opsets, report)
        if version is None or not n.op_type:
            return
        if is_onnx_domain(domain) and n.op_type in EXPERIMENTAL_OPS:
            return
        schema = get_schema(n.op_type, version, domain)
        if schema is None:
            if domain in STANDARD_DOMAINS:
                report("unknown-op", self._unknown_op(n.op_type, domain, version))
            else:
                f = self.functions.get((domain, n.op_type))
                if f is not None:
                    self._call(n, f, report)
            return
        if schema.deprecated:
            report("deprecated-op", f"{n.op_type} is deprecated at opset {version} of "
                                    f"{domain or 'ai.onnx'}; replace it (see the ONNX operator "
                                    "changelog)")
            return
        self._verify(n, schema, attrs, report)
        self._control_flow(n, schema, report)
        if not self.in_function:
            outs = check_node_types(n, schema, self._type_of, report)
            for v, t in zip(n.outputs, outs):
                if t is not None and type_string(v.type) is None:
                    self.inferred[id(v)] = t

    def _type_of(self, v: Value) -> Type | None:
        if type_string(v.type) is not None:
            return v.type
        return self.inferred.get(id(v), v.type)

    def _unknown_op(self, op: str, domain: str, version: int) -> str:
        dom = domain or "ai.onnx"
        versions = schema_versions(op, domain)
        if versions:
            first = versions[0].since_version
            if first > version:
                return (f"{op} exists in {dom} only from opset {first}, but the model imports "
                        f"opset {version}; raise the opset import")
        from ..defs import all_schemas
        names = {s.name for s in all_schemas(normalize_domain(domain))}
        hint = _suggest(op, names) if not has_schema(op, domain) else ""
        return f"{dom} has no operator {op!r} at opset {version}{hint}"

    def _attribute(self, a: Attribute, here: Where, scope: _Scope, opsets: dict[str, int],
                   report: Callable[..., None]) -> None:
        if not a.name:
            report("attribute-name", "an attribute has no name")
        d = details(a)
        stray = d.stray or {}
        typeless = "type" in d.absent
        if typeless and self.ir >= 2:
            report("attribute-type", f"attribute {a.name!r} has no type field; set it "
                                     f"({_attr_name(a.type)}, judging by its value)")
        if stray:
            if not typeless:
                report("attribute-value", f"attribute {a.name!r} is {_attr_name(a.type)} but also "
                                          f"sets {', '.join(stray)}; keep only the field of its type")
            else:
                report("attribute-value", f"attribute {a.name!r} sets more than one value field "
                                          f"({', '.join(stray)} and more); keep one")
        if a.ref_attr_name is not None and not self.in_function:
            report("attribute-ref", f"attribute {a.name!r} refers to @{a.ref_attr_name}, but "
                                    "attribute references are only allowed inside a function body; "
                                    "give the value itself")
        value = a.value
        if a.ref_attr_name is not None or value is None:
            return
        items = value if isinstance(value, list) else [value]
        for k, x in enumerate(items):
            label = f"attribute {a.name!r}" + (f" item {k}" if isinstance(value, list) else "")
            if isinstance(x, TensorBase):
                check_tensor(x, f"tensor of {label}", report)
            elif isinstance(x, SparseTensor):
                check_sparse(x, f"sparse tensor of {label}", report)
            elif isinstance(x, Graph):
                self.graph(x, here.sub(a.name, x.name), scope, False, opsets)

    def _verify(self, n: Node, schema: OpSchema, attrs: list[Attribute],
                report: Callable[..., None]) -> None:
        op = _op(schema)
        nin, nout = len(n.inputs), len(n.outputs)
        if not schema.min_input <= nin <= schema.max_input:
            report("arity", f"the node has {_count(nin, 'input')}, but {op} takes "
                            f"{_span(schema.min_input, schema.max_input)}")
        if not schema.min_output <= nout <= schema.max_output:
            report("arity", f"the node has {_count(nout, 'output')}, but {op} gives "
                            f"{_span(schema.min_output, schema.max_output)}")
        for kind, formal, actual in (("input", schema.inputs, n.inputs),
                                     ("output", schema.outputs, n.outputs)):
            for idx, v in enumerate(actual):
                if idx >= len(formal):
                    if formal and formal[-1].variadic:
                        break
                    if (kind == "input" and nin <= schema.max_input) or \
                            (kind == "output" and nout <= schema.max_output):
                        report("arity", f"the node has {len(actual)} {kind}s, but {op} declares "
                                        f"only {len(formal)}")
                    break
                empty = v is None if kind == "input" else v.name == ""
                if empty and formal[idx].option == SINGLE:
                    report("missing-input" if kind == "input" else "missing-output",
                           f"{kind} {idx} ({formal[idx].name}) of {op} is required, but it is "
                           "empty; connect a value")
        unchecked = (schema.domain, schema.name, schema.since_version) in UNCHECKED_ATTRIBUTES
        given: set[str] = set()
        for a in attrs:
            given.add(a.name)
            if a.name.startswith("__"):
                continue
            ad = schema.attributes.get(a.name)
            if ad is None:
                if not unchecked:
                    have = ", ".join(sorted(schema.attributes)) or "none"
                    report("unknown-attribute", f"{op} has no attribute {a.name!r}"
                                                f"{_suggest(a.name, schema.attributes)}; its attributes: "
                                                f"{have}")
                continue
            typeless = "type" in details(a).absent
            if typeless and self.ir >= 2:
                continue  # reported already: no type field
            atype = 0 if typeless else a.type
            if atype != ad.type:
                report("attribute-type", f"attribute {a.name!r} is {_attr_name(atype)}, but {op} "
                                         f"expects {_attr_name(ad.type)}")
                continue
            if a.ref_attr_name is None and ad.type in _NEEDS_VALUE and a.value is None:
                report("attribute-value", f"attribute {a.name!r} ({_attr_name(ad.type)}) holds no "
                                          f"value (field {_NEEDS_VALUE[ad.type]!r} is empty)")
        for name, ad in schema.attributes.items():
            if ad.required and name not in given:
                report("missing-attribute", f"{op} requires attribute {name!r} "
                                            f"({_attr_name(ad.type)}); add it")

    def _control_flow(self, n: Node, schema: OpSchema, report: Callable[..., None]) -> None:
        """Subgraph arity of If, Loop and Scan against the node's own."""
        if not is_onnx_domain(n.domain):
            return
        nin, nout = len(n.inputs), len(n.outputs)
        if n.op_type == "If":
            for attr in ("then_branch", "else_branch"):
                g = n.attr(attr)
                if isinstance(g, Graph) and len(g.outputs) != nout:
                    report("subgraph-arity", f"{attr} has {len(g.outputs)} outputs, but the If node "
                                             f"has {nout}; they must match")
        elif n.op_type == "Loop":
            g = n.attr("body")
            if isinstance(g, Graph):
                if len(g.inputs) != max(nin, 2):
                    report("subgraph-arity", f"the Loop body has {len(g.inputs)} inputs, but must "
                                             f"have {max(nin, 2)} (iteration number, condition and "
                                             f"{max(nin - 2, 0)} loop-carried values)")
                if len(g.outputs) != nout + 1:
                    report("subgraph-arity", f"the Loop body has {len(g.outputs)} outputs, but must "
                                             f"have {nout + 1} (condition and one per Loop output)")
        elif n.op_type == "Scan":
            g = n.attr("body")
            skip = 1 if schema.since_version < 9 else 0  # Scan-8 takes sequence_lens first
            if isinstance(g, Graph):
                if len(g.inputs) != nin - skip:
                    report("subgraph-arity", f"the Scan body has {len(g.inputs)} inputs, but the node "
                                             f"passes {nin - skip}")
                if len(g.outputs) != nout:
                    report("subgraph-arity", f"the Scan body has {len(g.outputs)} outputs, but the "
                                             f"node has {nout}")

    def _call(self, n: Node, f: Function, report: Callable[..., None]) -> None:
        """A call of a model-local function: no more inputs, outputs or
        attributes than the function declares."""
        label = f"function {f.domain}.{f.name}"
        if len(n.inputs) > len(f.inputs):
            report("arity", f"the node passes {len(n.inputs)} inputs, but {label} takes "
                            f"{len(f.inputs)}")
        if len(n.outputs) > len(f.outputs):
            report("arity", f"the node takes {len(n.outputs)} outputs, but {label} gives "
                            f"{len(f.outputs)}")
        known = set(f.attributes) | {a.name for a in f.attribute_defaults}
        for name in n.attributes:
            if name not in known and not name.startswith("__"):
                report("unknown-attribute", f"{label} has no attribute {name!r}"
                                            f"{_suggest(name, known)}; its attributes: "
                                            f"{', '.join(sorted(known)) or 'none'}")

    # ------------------------------------------------------------ functions
    def model_functions(self, opsets: dict[str, int]) -> None:
        funcs = self.model.functions
        top = Where("model")
        ids: dict[tuple, Function] = {}
        for f in funcs:
            if f.identifier in ids:
                self.problems.append(top.problem(
                    "duplicate-function", f"function {f.domain}.{f.name} is defined twice; remove "
                                          "one"))
            ids.setdefault(f.identifier, f)
        self._call_cycles(list(ids.values()))
        merged = dict(opsets)
        for f in funcs:
            for d, v in f.opset_imports.items():
                merged.setdefault(d, v)
        self.in_function = True
        try:
            for f in funcs:
                self.function(f, merged)
        finally:
            self.in_function = False

    def _call_cycles(self, funcs: list[Function]) -> None:
        by_key = {(f.domain, f.name, f.overload): f for f in funcs}
        calls: dict[int, list[Function]] = {}
        for f in funcs:
            callees = []
            for n in f.graph.all_nodes():
                g = by_key.get((n.domain, n.op_type, n.overload))
                if g is not None:
                    callees.append(g)
            calls[id(f)] = callees
        state: dict[int, int] = {}  # 1 on the path, 2 done
        reported: set[frozenset] = set()

        def visit(f: Function, path: list[Function]) -> None:
            state[id(f)] = 1
            path.append(f)
            for g in calls[id(f)]:
                if state.get(id(g)) == 1:
                    cycle = path[path.index(g):]
                    key = frozenset(map(id, cycle))
                    if key not in reported:
                        reported.add(key)
                        chain = " -> ".join(f"{x.domain}.{x.name}" for x in [*cycle, g])
                        self.problems.append(Where("model").problem(
                            "function-cycle", f"model-local functions call each other in a cycle "
                                              f"({chain}); functions must not be recursive"))
                elif g is not f and id(g) not in state:
                    visit(g, path)
            path.pop()
            state[id(f)] = 2

        for f in funcs:
            if id(f) not in state:
                visit(f, [])

    def function(self, f: Function, model_opsets: dict[str, int]) -> None:
        where = Where(f"function {f.domain}.{f.name}" if f.name else "function (no name)")
        add = self.problems.append

        def report(code: str, message: str, value: str | None = None) -> None:
            add(where.problem(code, message, value))

        if not f.name:
            report("missing-name", "a model-local function has no name; give it one")
        explicit = details(f).explicit
        if self.ir >= 8 and not f.domain and "domain" not in explicit:
            report("missing-name", "the function has no domain field; set it (model-local "
                                   "functions usually use a domain of their own, e.g. 'local')")
        fops = self._opsets(f.opset_imports, details(f).opsets, where, "the function")
        scope = _Scope(None)
        for v in f.inputs:
            k = _key(v)
            if k is not None and k in scope.names:
                report("duplicate-name", f"function input {_label(v)} is listed twice", v.name)
            if k is not None:
                scope.names.add(k)
        names = [v.name for v in f.outputs]
        for nm in sorted({x for x in names if names.count(x) > 1 and x}):
            report("duplicate-name", f"function output {nm!r} is listed twice", nm)
        for nm in sorted({x for x in f.attributes if f.attributes.count(x) > 1}):
            report("duplicate-attribute", f"function attribute {nm!r} is declared twice", None)
        nodes = list(f.graph)
        scope.later = _producers(nodes)
        for i, n in enumerate(nodes):
            here = where.at(i, n)
            for j, v in enumerate(n.inputs):
                if v is not None:
                    k = _key(v)
                    if k is not None and k not in scope.names:
                        self._undefined(n, i, j, v, k, scope, nodes, here)
            self._compatible(n, fops, model_opsets, here)
            self.node(n, here, scope, fops)
            for v in n.outputs:
                k = _key(v)
                if k is None:
                    continue
                if k in scope.names:
                    add(here.problem("duplicate-name", f"output {_label(v)} is already defined in "
                                                       "the function; rename it", v.name))
                scope.names.add(k)
        for v in f.outputs:
            k = _key(v)
            if k is not None and k not in scope.names:
                report("undefined-output", f"function output {_label(v)} is produced by no node of "
                                           "the function (nor is it an input)", v.name)

    def _compatible(self, n: Node, fops: dict[str, int], model_opsets: dict[str, int],
                    here: Where) -> None:
        fv = fops.get(n.domain)
        mv = model_opsets.get(n.domain)
        if fv is None or mv is None or fv == mv:
            return
        a, b = get_schema(n.op_type, mv, n.domain), get_schema(n.op_type, fv, n.domain)
        if a is None and b is None:
            return
        if a is None or b is None or a.since_version != b.since_version:
            self.problems.append(here.problem(
                "opset-import", f"the function imports {n.domain or 'ai.onnx'} version {fv} and the "
                                f"model version {mv}, which define {n.op_type} differently; import "
                                "the same version in both"))


def _producers(nodes: list[Node]) -> dict[Hashable, tuple[int, Node]]:
    """Where each value of a graph is first produced: key -> (index, node)."""
    out: dict[Hashable, tuple[int, Node]] = {}
    for i, n in enumerate(nodes):
        for v in n.outputs:
            k = _key(v)
            if k is not None:
                out.setdefault(k, (i, n))
    return out


def _reaches(start: Node, target: Node, members: set[int]) -> bool:
    """Whether ``target`` is among the nodes ``start`` depends on (in one graph)."""
    stack, seen = [start], set()
    while stack:
        x = stack.pop()
        for v in x.inputs:
            p = v.producer() if v is not None else None
            if p is None or id(p) not in members or id(p) in seen:
                continue
            if p is target:
                return True
            seen.add(id(p))
            stack.append(p)
    return False
