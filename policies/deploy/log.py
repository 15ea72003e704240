"""The deploy decision log: one JSON object per line, written by a background thread, fsynced.

Events: ``start``, ``connected``, ``connect_failed``, ``connection_lost``, ``fallback``, ``recovered``,
``step`` (one per twin step observed: observation, policy action, safe action, what the twin applied,
controller, problem), ``signal``, ``handover``, ``stop`` (with the summary). Non-finite floats are
written as the strings ``"nan"``, ``"inf"``, ``"-inf"`` (strict JSON). The file format and its
durability are those of the live twin's step record (:mod:`twingym.jsonlines`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from twingym.jsonlines import JsonLinesWriter, read_jsonlines


class DecisionLog:
    """Append-only JSON-lines log; ``write(event, **fields)`` adds ``wall_time`` and ``event``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._out = JsonLinesWriter(self.path, fsync=True)

    def write(self, event: str, **fields: Any) -> None:
        self._out.write({"event": event, "wall_time": time.time(), **fields})

    def close(self) -> None:
        self._out.close()


#: every complete line of a decision log (a torn last line is skipped)
read_log = read_jsonlines

__all__ = ["DecisionLog", "read_log"]
