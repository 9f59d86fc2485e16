"""The export error."""

from __future__ import annotations

from ..errors import OnnxkitError


class ExportError(OnnxkitError):
    """A PyTorch program that cannot be exported as asked.

    The message names what failed, the user's source line that produced it
    (``file:line``) where known, and what to change.  ``source`` is that
    ``file:line`` string or None.
    """

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        super().__init__(f"{message} (at {source})" if source and source not in message else message)
