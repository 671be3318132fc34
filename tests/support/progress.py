"""Waits that fail on a stall, not on a deadline.

A test polling for something slow keeps waiting on a busy machine as long as what it
watches moves, and fails as soon as nothing has moved for `stall` seconds, as it would on
an idle one (pytest's timeout bounds the whole test).
"""

from __future__ import annotations

import time

_NOTHING_YET = object()


class Stall:
    """Watches what a wait sees; fails the wait when none of it changed for `seconds`."""

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds, self.what = seconds, what
        self._seen: object = _NOTHING_YET
        self._since = time.monotonic()

    def watch(self, *observed: object) -> None:
        """Note what the wait sees now; raise AssertionError after `seconds` without change."""
        if observed != self._seen:
            self._seen, self._since = observed, time.monotonic()
        elif time.monotonic() - self._since > self.seconds:
            raise AssertionError(f"no progress for {self.seconds:g}s waiting for {self.what}")
