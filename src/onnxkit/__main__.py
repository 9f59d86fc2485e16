"""``python -m onnxkit``: the ``onnxkit`` command."""

import sys

from .cli import main

sys.exit(main())
