"""The default ONNX domain has two spellings, ``""`` and ``"ai.onnx"``: the one
place that says so.  Registries, schemas, the runtime and the passes key the
default domain as ``""`` and compare through these functions."""

from __future__ import annotations

from typing import Mapping

__all__ = ["ONNX_DOMAIN", "is_onnx_domain", "normalize_domain", "normalize_opsets"]

#: the default domain as onnxkit keys it (``"ai.onnx"`` is the same domain)
ONNX_DOMAIN = ""


def normalize_domain(domain: str | None) -> str:
    """``domain`` as registries key it: ``"ai.onnx"`` (and None) are ``""``."""
    return "" if not domain or domain == "ai.onnx" else domain


def is_onnx_domain(domain: str | None) -> bool:
    """Whether ``domain`` is the default ONNX domain (``""`` or ``"ai.onnx"``)."""
    return not domain or domain == "ai.onnx"


def normalize_opsets(opsets: Mapping[str, int]) -> dict[str, int]:
    """Opset imports keyed by :func:`normalize_domain` (``{"ai.onnx": 17}`` -> ``{"": 17}``)."""
    return {normalize_domain(k): v for k, v in opsets.items()}
