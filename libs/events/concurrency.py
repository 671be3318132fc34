"""Optimistic concurrency on streams: what an append raises when its stream moved on.

Apart from the event store so that code which only declares what it needs of a log (an
application layer's ports) can catch it without importing a database driver.
"""

from __future__ import annotations


class ConcurrencyError(Exception):
    """The stream moved on since the caller read it; nothing was written. Reload and retry."""

    def __init__(self, stream_id: str, expected: int, actual: int | None) -> None:
        self.stream_id, self.expected, self.actual = stream_id, expected, actual
        found = "it moved on concurrently" if actual is None else f"it is at version {actual}"
        super().__init__(
            f"stream {stream_id!r}: expected version {expected} but {found}; "
            "reload the stream and retry the command"
        )
