"""A decision log as storage reads it back, built entry by entry in memory: for the pure
tests of the log's personal text, erasures and holds."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from uuid import UUID

from services.promotion.domain.decision_log import LogEntry, PersonalText, next_entry
from services.promotion.domain.payloads import EntryPayload, ErasedField, Erasure

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
# What the log records about a person besides the steps of their cases (docs/privacy.md):
# erasures of their text, legal holds placed and lifted, erasure requests refused under a hold
# or cleared.
PRIVACY_KINDS: frozenset[str] = frozenset(
    {"erasure", "legal_hold", "legal_hold_lifted", "erasure_refused", "erasure_cleared"}
)


class Log:
    """A log as storage reads it back: each entry from its body, with the personal text
    held beside it."""

    def __init__(self) -> None:
        self.entries: list[LogEntry] = []

    def add(
        self, actor: str, payload: EntryPayload, *, sealed: bool = True, case_id: str = "case-1"
    ) -> LogEntry:
        recorded, held = payload.sealed() if sealed else (payload.record(), {})
        entry = next_entry(
            self.entries[-1] if self.entries else None,
            kind=payload.kind,
            case_id=case_id,
            employee_id="ann",
            actor=actor,
            recorded_at=T0 + timedelta(hours=len(self.entries)),
            payload=recorded,
            entry_id=UUID(int=len(self.entries) + 1),
        )
        assert entry.body is not None
        stored = dataclasses.replace(LogEntry.from_body(entry.body, entry.hash), personal=held)
        self.entries.append(stored)
        return stored

    def erase(self, request_ref: str, *entries: LogEntry) -> LogEntry:
        """What an erasure leaves: the text gone, an erasure entry naming it."""
        named = [(e, name) for e in entries for name in sorted(e.personal or {})]
        erasure = self.add(
            "hr-1",
            Erasure(
                request_ref=request_ref,
                erased=tuple(ErasedField(entry_id=e.entry_id, field=n) for e, n in named),
            ),
        )
        for index, entry in enumerate(self.entries):
            if entry in entries:
                self.entries[index] = dataclasses.replace(entry, personal={})
        return erasure

    def held(self, sequence: int, **texts: PersonalText) -> None:
        entry = self.entries[sequence - 1]
        self.entries[sequence - 1] = dataclasses.replace(
            entry, personal={**(entry.personal or {}), **texts}
        )
