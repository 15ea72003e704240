"""Fixtures of the live-twin tests (defined in ``live_helpers.py``, importable by the tests)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from live_helpers import port, serve_thread, shared_server, tank_bundle  # noqa: E402, F401
