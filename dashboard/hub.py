"""Fan-out of encoded messages to every connected browser, never waiting on a slow one.

Each client has a small outbox: frames replace the one not yet sent (a slow browser skips frames
rather than building a backlog), events and twin descriptions queue (bounded) so none is lost. The
producer (:class:`twingym.dashboard.feed.TwinFeed`) only appends and sets an event, so publishing to
20 browsers costs the same as to one; the sending happens in each client's own task.
"""

from __future__ import annotations

import asyncio
from collections import deque

MAX_QUEUED = 100     # events per client waiting to be sent; older ones are dropped past this


class Outbox:
    """What one browser has not been sent yet."""

    def __init__(self) -> None:
        self.frame: str | None = None
        self.queued: deque[str] = deque(maxlen=MAX_QUEUED)
        self.ready = asyncio.Event()
        self.sent = 0
        self.skipped = 0

    def put(self, text: str, is_frame: bool) -> None:
        if is_frame:
            if self.frame is not None:
                self.skipped += 1
            self.frame = text
        else:
            self.queued.append(text)
        self.ready.set()

    async def take(self) -> list[str]:
        """Wait until something is there; return it in order (events first, then the latest frame)."""
        await self.ready.wait()
        self.ready.clear()
        out = list(self.queued)
        self.queued.clear()
        if self.frame is not None:
            out.append(self.frame)
            self.frame = None
        self.sent += len(out)
        return out


class Hub:
    """The set of connected browsers. Use from the web server's event loop only."""

    def __init__(self) -> None:
        self.clients: set[Outbox] = set()

    def add(self) -> Outbox:
        box = Outbox()
        self.clients.add(box)
        return box

    def remove(self, box: Outbox) -> None:
        self.clients.discard(box)

    def publish(self, text: str, is_frame: bool = False) -> None:
        """Give ``text`` (one JSON message) to every client; a frame replaces an unsent frame."""
        for box in self.clients:
            box.put(text, is_frame)
