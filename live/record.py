"""Crash-safe step record of the live twin: append-only JSON lines, flushed and fsynced.

One line per step (a JSON object, see :meth:`LiveTwin.record_line` for the fields). Lines are only
ever appended; a crash (even ``kill -9``) can at worst leave the last line incomplete, and
:func:`read_record` skips such a line, so every complete line before it is intact. A restarted
server appends to the same file (a new ``"event": "start"`` line marks the restart).

Durability: a background writer thread appends, flushes and ``fsync``s (group commit: the lines
queued during one fsync go out with the next), so a slow disk never stalls the real-time loop. What
a power loss can lose is the few steps queued after the last fsync (milliseconds); a process crash
loses only what the OS had not yet been handed. The writer is :class:`twingym.jsonlines.JsonLinesWriter`,
shared with the deploy decision log.
"""

from __future__ import annotations

from twingym.jsonlines import JsonLinesWriter, read_jsonlines

#: the step record writer (``write(record)`` queues one line; ``close()`` drains and fsyncs)
StepRecorder = JsonLinesWriter
#: every complete line of a record (a torn last line is skipped)
read_record = read_jsonlines

__all__ = ["StepRecorder", "read_record"]
