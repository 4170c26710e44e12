"""Root pytest setup: every notebook kernel nbval starts gets the environment of the stored outputs.

``make test`` exports it too; this covers a direct ``pytest notebooks/…`` (see seqlib/_determinism.py).
"""

from __future__ import annotations

import os

from seqlib._determinism import reproducible_env

os.environ.update(reproducible_env())
