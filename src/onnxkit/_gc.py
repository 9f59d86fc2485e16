"""The cyclic garbage collector paused for a block of work.

Exporting, importing and drawing a model each allocate hundreds of thousands
of small objects that live until the work is done (fake tensors and FX nodes,
IR nodes, page data).  Each allocation burst sets off full collections over
the whole heap — a large share of the time (0.2 s of a 1.5 s BERT-base
export, 0.47 s of a BERT-base import, half of building a 20,000-node page)
while finding no garbage.  What such work leaves in cycles is collected once
the collector is back on.
"""

from __future__ import annotations

import contextlib
import gc
from typing import Iterator

__all__ = ["gc_paused"]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The collector off inside the block, and back as it was after."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
