"""Shared pytest setup.

Test modules may import the helper modules that sit beside them (``tests/dovecot.py``: a real
Dovecot IMAP server and its fixtures): pytest runs with ``--import-mode=importlib``, which does not
put this directory on ``sys.path``, so it is added here.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
