"""What the use cases answer with: a case as its entries leave it, and the entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from libs.events.schemas.promotion import Move
from services.promotion.domain.cases import Case, Outcome
from services.promotion.domain.decision_log import EntryKind, LogEntry
from services.promotion.domain.holds import is_person_record


class EntryView(BaseModel):
    """One decision-log entry as the API shows it: personal text as written, or `[erased]`."""

    model_config = ConfigDict(frozen=True)

    sequence: int
    kind: EntryKind
    case_id: str
    employee_id: str
    actor: str
    recorded_at: datetime
    payload: dict[str, Any]
    hash: str
    previous_hash: str

    @classmethod
    def of(cls, entry: LogEntry) -> EntryView:
        return cls(
            sequence=entry.sequence,
            kind=entry.kind,
            case_id=entry.case_id,
            employee_id=entry.employee_id,
            actor=entry.actor,
            recorded_at=entry.recorded_at,
            payload=entry.disclosed(),
            hash=entry.hash,
            previous_hash=entry.previous_hash,
        )


class CaseView(BaseModel):
    """Where a case stands, and every entry it consists of."""

    case_id: str
    employee_id: str
    cycle_id: str
    move: Move
    status: str
    outcome: Outcome | None
    nominated_by: str
    endorsed_by: str | None
    evidence: list[str]
    confirmed_in_session: str | None
    ready: bool | None
    entries: list[EntryView]

    @classmethod
    def of(cls, case: Case, entries: list[LogEntry]) -> CaseView:
        ready = case.readiness["ready"] if case.readiness else None
        return cls(
            case_id=case.case_id,
            employee_id=case.employee_id,
            cycle_id=case.cycle_id,
            move=Move(**case.move),
            status=case.status,
            outcome=case.final_outcome,
            nominated_by=case.nominated_by,
            endorsed_by=case.endorsed_by,
            evidence=sorted(case.evidence),
            confirmed_in_session=case.confirmed_in_session,
            ready=ready,
            entries=[EntryView.of(e) for e in entries],
        )


def cases_of(entries: list[LogEntry]) -> list[Case]:
    """The cases the entries make up, in the order of their first entries; entries of the
    person's record (legal holds, refused erasures) are no case."""
    by_case: dict[str, list[LogEntry]] = {}
    for entry in entries:
        if not is_person_record(entry.case_id):
            by_case.setdefault(entry.case_id, []).append(entry)
    return [Case.replay(steps) for steps in by_case.values()]
