"""The promotion service's ports in memory (services/promotion/application/ports.py): the
decision log and its read models beside the shared event log and replicas, held by the
shared unit of work (tests/support/memory.py), which undoes a refused step as PostgreSQL
does. Locks are held per transaction, so two overlapping runs see each other's."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from libs.events.envelope import Envelope
from libs.events.schemas.assessment import CalibrationCompleted
from libs.events.schemas.hris import ProtectedAttributeRecorded
from libs.replicas.people import Person
from services.promotion.application import reactions
from services.promotion.application.ports import Calibrated, Placed, PublishedCriteria
from services.promotion.application.promotion import Promotion
from services.promotion.domain.criteria import CriteriaSet
from services.promotion.domain.decision_log import EntryKind, LogEntry, PersonalText, next_entry
from services.promotion.domain.readiness import CalibratedScores
from tests.support.envelopes import envelope
from tests.support.memory import (
    MemoryEventLog,
    MemoryFrameworkVersions,
    MemoryOrgChart,
    MemoryUnitOfWork,
)


@dataclass(frozen=True)
class Actor:
    """Who acts, as the use cases see them (`Acting`)."""

    subject: str
    roles: frozenset[str]

    def has(self, role: str) -> bool:
        return role in self.roles


class MemoryDecisionLog:
    def __init__(self) -> None:
        self.entries: list[LogEntry] = []
        # The personal text held beside the log, by entry id and field.
        self.personal: dict[tuple[str, str], PersonalText] = {}

    async def lock(self) -> None:
        return None

    def _read(self, entries: list[LogEntry]) -> list[LogEntry]:
        """Entries as reads give them: with the personal text held for each."""
        return [
            replace(
                e,
                personal={f: t for (i, f), t in self.personal.items() if i == str(e.entry_id)},
            )
            for e in entries
        ]

    async def of_case(self, case_id: str) -> list[LogEntry]:
        return self._read([e for e in self.entries if e.case_id == case_id])

    async def of_employee(self, employee_id: str) -> list[LogEntry]:
        return self._read([e for e in self.entries if e.employee_id == employee_id])

    async def of_cycle(self, cycle_id: str) -> list[LogEntry]:
        cases = {
            e.case_id
            for e in self.entries
            if e.kind == "nomination" and e.payload["cycle_id"] == cycle_id
        }
        return self._read([e for e in self.entries if e.case_id in cases])

    async def decisions(self) -> list[LogEntry]:
        return self._read([e for e in self.entries if e.kind in ("decision", "appeal_outcome")])

    async def append(
        self,
        *,
        kind: EntryKind,
        case_id: str,
        employee_id: str,
        actor: str,
        recorded_at: datetime,
        payload: Mapping[str, Any],
        personal: Mapping[str, PersonalText] | None = None,
    ) -> LogEntry:
        entry = next_entry(
            self.entries[-1] if self.entries else None,
            kind=kind,
            case_id=case_id,
            employee_id=employee_id,
            actor=actor,
            recorded_at=recorded_at,
            payload=payload,
        )
        # Stored as read back: the payload as the JSON its body holds.
        assert entry.body is not None
        self.entries.append(LogEntry.from_body(entry.body, entry.hash))
        held = dict(personal or {})
        for name, text in held.items():
            self.personal[(str(entry.entry_id), name)] = text
        return replace(entry, personal=held)

    async def erase(self, erasure: LogEntry) -> int:
        assert erasure.kind == "erasure"
        named = [(n["entry_id"], n["field"]) for n in erasure.payload["erased"]]
        return sum(self.personal.pop(key, None) is not None for key in named)

    async def batches(self) -> AsyncGenerator[list[LogEntry], None]:
        for start in range(0, len(self.entries), 2):
            yield self.entries[start : start + 2]


def _active_in(person: Person | None, department: str | None) -> bool:
    return (
        person is not None
        and person.active
        and person.department is not None
        and department in (None, person.department)
    )


class MemoryRecords:
    def __init__(self, org_chart: MemoryOrgChart | None = None) -> None:
        # The org chart replica the SQL joins with, in the same schema there.
        self.org_chart = org_chart or MemoryOrgChart()
        self.calibrations: list[Calibrated] = []
        self.criteria_versions: list[PublishedCriteria] = []
        self.attributes: dict[tuple[str, str], tuple[str | None, int]] = {}

    async def record_calibration(self, event: CalibrationCompleted, at: datetime) -> bool:
        if any(c.scores.session_id == event.session_id for c in self.calibrations):
            return False
        for s in event.scores:
            self.calibrations.append(
                Calibrated(
                    campaign_id=event.campaign_id,
                    completed_at=at,
                    position=tuple(s.position) if s.position else None,  # type: ignore[arg-type]
                    scores=CalibratedScores(
                        session_id=event.session_id,
                        framework_id=event.framework_id,
                        framework_version=event.framework_version,
                        subject=s.subject,
                        scores=s.scores,
                    ),
                )
            )
        return True

    async def latest_calibration(
        self, employee_id: str, framework_id: str | None = None
    ) -> Calibrated | None:
        found = [
            c
            for c in self.calibrations
            if c.scores.subject == employee_id and framework_id in (None, c.scores.framework_id)
        ]
        return max(found, key=lambda c: (c.completed_at, c.scores.session_id), default=None)

    async def calibration_of(self, session_id: str, employee_id: str) -> Calibrated | None:
        for c in self.calibrations:
            if (c.scores.session_id, c.scores.subject) == (session_id, employee_id):
                return c
        return None

    async def population(self, session_id: str | None = None) -> list[Calibrated]:
        if session_id is None:
            latest = max(
                self.calibrations,
                key=lambda c: (c.completed_at, c.scores.session_id),
                default=None,
            )
            if latest is None:
                return []
            session_id = latest.scores.session_id
        found = [c for c in self.calibrations if c.scores.session_id == session_id]
        return sorted(found, key=lambda c: c.scores.subject)

    async def latest_session(self, department: str | None = None) -> str | None:
        people = self.org_chart.people
        found = [
            c for c in self.calibrations if _active_in(people.get(c.scores.subject), department)
        ]
        latest = max(found, key=lambda c: (c.completed_at, c.scores.session_id), default=None)
        return None if latest is None else latest.scores.session_id

    async def in_departments(
        self, session_id: str, department: str | None = None
    ) -> AsyncIterator[list[Placed]]:
        batch: list[Placed] = []
        for c in await self.population(session_id):
            p = self.org_chart.people.get(c.scores.subject)
            if p is None or not _active_in(p, department):
                continue
            whole = p.job_family and p.track and p.level
            position = (p.job_family, p.track, p.level) if whole else None
            batch.append(Placed(c, p.department or "", position, p.level_since))  # type: ignore[arg-type]
            if len(batch) == 2:  # small batches, as the database hands them over
                yield batch
                batch = []
        if batch:
            yield batch

    async def criteria(self, version: int | None = None) -> PublishedCriteria | None:
        found = [c for c in self.criteria_versions if version in (None, c.criteria.version)]
        return found[-1] if found else None

    async def publish_criteria(self, draft: dict[str, Any], by: str, at: datetime) -> CriteriaSet:
        published = CriteriaSet.model_validate(
            {**draft, "version": len(self.criteria_versions) + 1}
        )
        self.criteria_versions.append(PublishedCriteria(published, by, at))
        return published

    async def record_attribute(self, envelope: Envelope, event: ProtectedAttributeRecorded) -> None:
        key = (event.employee_id, event.attribute)
        held = self.attributes.get(key)
        if held is None or held[1] < envelope.stream_version:
            self.attributes[key] = (event.value, envelope.stream_version)

    async def attribute(self, attribute: str) -> dict[str, str | None]:
        return {p: v for (p, a), (v, _) in self.attributes.items() if a == attribute}


@dataclass
class MemoryErasures:
    """The replica of erasure requests: the references of those that ended."""

    ended_refs: set[str] = field(default_factory=set)

    async def ended(self, request_ref: str) -> bool:
        return request_ref in self.ended_refs


@dataclass
class MemoryWork:
    log: MemoryDecisionLog = field(default_factory=MemoryDecisionLog)
    org_chart: MemoryOrgChart = field(default_factory=MemoryOrgChart)
    records: MemoryRecords = field(default_factory=MemoryRecords)
    frameworks: MemoryFrameworkVersions = field(default_factory=MemoryFrameworkVersions)
    erasures: MemoryErasures = field(default_factory=MemoryErasures)
    events: MemoryEventLog = field(default_factory=lambda: MemoryEventLog("promotion"))
    # The locks every open transaction holds, and this transaction's.
    held: set[str] = field(default_factory=set)
    mine: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.records.org_chart = self.org_chart

    async def lock(self, name: str) -> None:
        # One coroutine at a time in these tests: a held lock would wait forever.
        assert name not in self.held or name in self.mine, f"{name} is held"
        self._take(name)

    async def try_lock(self, name: str) -> bool:
        if name in self.held and name not in self.mine:
            return False
        self._take(name)
        return True

    def _take(self, name: str) -> None:
        self.held.add(name)
        self.mine.add(name)


class MemoryPromotion(MemoryUnitOfWork[MemoryWork]):
    """The unit of work, its locks released when a transaction ends, however it ends."""

    def __init__(self, work: MemoryWork) -> None:
        super().__init__(work, work.log, work.records, work.events)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[MemoryWork]:
        try:
            async with super().transaction() as work:
                own = replace(work, mine=set())
                try:
                    yield own
                finally:
                    work.held -= own.mine
        finally:
            # A rollback puts the records back as a copy: joined to the one org chart again.
            self.work.records.org_chart = self.work.org_chart


async def calibrate(promotion: Promotion, event: CalibrationCompleted, days_ago: int) -> None:
    """The session reaches the service as its consumer delivers it, `days_ago` days before
    the promotion's clock says it is now."""
    at = promotion.clock() - timedelta(days=days_ago)
    async with promotion.uow.transaction() as tx:
        await reactions.on_calibration(tx, envelope(event, "calibration", at=at), event)
