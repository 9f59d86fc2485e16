"""Run models: :class:`Session` (the onnxruntime API) and :func:`run`."""

from __future__ import annotations

from ._session import NodeArg, NodeProfile, Session, run

__all__ = ["NodeArg", "NodeProfile", "Session", "run"]
