"""The promotion service's use cases (docs/domain.md §6): what they share.

The use cases are functions of their own modules, each taking the `Promotion` they run on:
`criteria` (publishing and reading criteria versions), `criteria_preview` (trying a draft
on the latest calibrated population), `readiness` (judging a person against a move), `cases`
(the steps of a case: nomination to appeal outcome), `cycle` (evaluating a cycle's open
cases), `audit` (audit queries, exports, fairness, log verification) and
`reactions` (the events the service consumes). They reach storage only through the ports
(`services.promotion.application.ports`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from libs.events.ports import UnitOfWork
from services.promotion.application.ports import Acting, Work
from services.promotion.domain.cases import CaseRefused, NotEntitled
from services.promotion.domain.decision_log import LogEntry
from services.promotion.domain.holds import is_person_record
from services.promotion.domain.payloads import EntryPayload

# Who records what the service does on its own account (the default criteria version).
ACTOR = "service:promotion"


class NotFound(CaseRefused):
    pass


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Promotion:
    """What every use case runs on: storage, the role that decides, and the clock."""

    uow: UnitOfWork[Work]
    decider_role: str
    clock: Callable[[], datetime] = _now


def case_stream(case_id: str) -> str:
    return f"promotion-case-{case_id}"


async def in_line(tx: Work, actor: Acting, employee_id: str) -> bool:
    """Whether the actor is a manager above the person."""
    return actor.subject in await tx.org_chart.managers_of(employee_id)


async def may_read(promotion: Promotion, tx: Work, actor: Acting, employee_id: str) -> None:
    """The person, anyone above them, HR, auditors and deciders."""
    if actor.subject == employee_id or any(
        actor.has(r) for r in ("hr_admin", "auditor", promotion.decider_role)
    ):
        return
    if not await in_line(tx, actor, employee_id):
        raise NotEntitled(f"{actor.subject!r} may not see {employee_id!r}'s promotion record")


async def case_entries(tx: Work, case_id: str) -> list[LogEntry]:
    """The entries of case `case_id`, in log order; none for a person's record (legal holds,
    refused erasures), which is no case."""
    return [] if is_person_record(case_id) else await tx.log.of_case(case_id)


async def record(
    promotion: Promotion,
    tx: Work,
    case_id: str,
    employee_id: str,
    actor: str,
    payload: EntryPayload,
) -> LogEntry:
    """Append the entry of `payload`, in version 2: personal text is held beside the log,
    committed to in it (docs/privacy.md, The decision log)."""
    recorded, personal = payload.sealed()
    return await tx.log.append(
        kind=payload.kind,
        case_id=case_id,
        employee_id=employee_id,
        actor=actor,
        recorded_at=promotion.clock(),
        payload=recorded,
        personal=personal,
    )


def require(actor: Acting, role: str, what: str) -> None:
    if not actor.has(role):
        raise NotEntitled(f"{what} needs the {role!r} role; {actor.subject!r} does not hold it")
