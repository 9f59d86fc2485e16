"""onnxkit's exceptions: one hierarchy, each error says what, where and what to do."""

from __future__ import annotations


class OnnxkitError(Exception):
    """Base class of every error onnxkit raises on purpose."""


class FormatError(OnnxkitError):
    """Bytes that are not a valid ONNX protobuf message.

    ``offset`` is the byte offset in the buffer being decoded where the problem
    was found, ``message`` the protobuf message being read and ``field`` its field
    (name, or number when unknown); any of them may be None.
    """

    def __init__(self, reason: str, *, offset: int | None = None, message: str | None = None,
                 field: str | None = None) -> None:
        self.reason = reason
        self.offset = offset
        self.message = message
        self.field = field
        where = []
        if message:
            where.append(f"{message}.{field}" if field else message)
        if offset is not None:
            where.append(f"byte offset {offset}")
        super().__init__(f"{reason} (at {', '.join(where)})" if where else reason)


class UnsupportedDataTypeError(OnnxkitError):
    """A tensor element type onnxkit cannot represent or convert."""


class DataSizeError(OnnxkitError):
    """Tensor data whose size disagrees with its shape and element type."""


class ExternalDataError(OnnxkitError):
    """External tensor data that cannot be read: missing file, out-of-range bytes,
    or a location outside the model's folder (refused, never read)."""


class ParseError(OnnxkitError):
    """Text that is not valid ONNX text syntax; carries line and column."""

    def __init__(self, reason: str, *, line: int | None = None, column: int | None = None) -> None:
        self.reason = reason
        self.line = line
        self.column = column
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(reason + where)


class IRError(OnnxkitError):
    """A misuse of the in-memory model API (e.g. a value from another graph)."""


class CheckError(OnnxkitError):
    """A model that breaks the ONNX rules; ``problems`` lists every one found."""

    def __init__(self, problems: list) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} found:\n"
        super().__init__(head + "\n".join(f"  - {p}" for p in self.problems))


class InferenceError(OnnxkitError):
    """Shape & type inference found a contradiction (names the node and value).

    Raised by :mod:`onnxkit.infer` with ``node_index``, ``node_name``,
    ``op_type``, ``where`` (the enclosing nodes), ``value_name``, ``declared``,
    ``inferred`` and ``rule_crashed`` (True when an op's rule itself failed:
    a bug of onnxkit's, not a fault of the model)."""


class InvalidInputError(OnnxkitError):
    """Inputs given to a session that do not fit the model (names the input,
    what was expected and what was given)."""


class RunError(OnnxkitError):
    """A node failed while running (names the node, its op type and its inputs),
    or a model cannot be run (an operator without a kernel)."""


class ProviderError(OnnxkitError):
    """An execution provider that is unknown or not available here (its
    package is not installed, the device it was asked for is missing).  The
    session never falls back to another provider silently."""


class OptimizeError(OnnxkitError):
    """A pass of the optimizer failed on a model (usually a malformed one)."""


class QuantizeError(OnnxkitError):
    """A model or calibration data that :func:`onnxkit.quantize` cannot work
    with (names the node, value or sample and what is wrong)."""


class EditError(OnnxkitError):
    """A model edit (:mod:`onnxkit.edit`) that cannot be done: an unknown name,
    a name that would collide, a value that cannot be computed from the given
    inputs, opsets of two models that cannot be reconciled."""
