"""Audit queries and exports of the decision log (docs/domain.md §6): a case, a person's or
a cycle's record, a decision exactly as it was made, fairness monitoring, and the
verification of the whole log against its latest checkpoint."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from libs.events.schemas.framework import EffectiveRoleProfile
from libs.events.schemas.promotion import Move
from services.promotion.application.ports import Acting
from services.promotion.application.promotion import NotFound, Promotion, case_entries, may_read
from services.promotion.application.views import CaseView, EntryView
from services.promotion.domain import audit_report
from services.promotion.domain.cases import Case, NotEntitled
from services.promotion.domain.decision_log import (
    Checkpoint,
    CheckpointVerification,
    LogEntry,
    Verification,
    verify,
    verify_pinned,
)
from services.promotion.domain.fairness import (
    CycleFairness,
    Decision,
    adverse_impact,
    move_kind_of,
)
from services.promotion.domain.payloads import Decision as DecisionPayload
from services.promotion.domain.payloads import payload_of
from services.promotion.domain.readiness import Readiness

Scope = Literal["case", "employee", "cycle"]


class AsDecided(BaseModel):
    """A decision exactly as it was made: the framework version's target profile, the
    criteria and the scores it was judged on, whatever has been published since."""

    decision: EntryView
    framework_id: str
    framework_version: int
    latest_framework_version: int | None
    target_profile: EffectiveRoleProfile | None
    criteria_version: int
    readiness: Readiness


async def case(promotion: Promotion, case_id: str, actor: Acting) -> CaseView:
    """Where a case stands, with every entry of it."""
    entries = await record(promotion, "case", case_id, actor)
    return CaseView.of(Case.replay(entries), entries)


async def record(promotion: Promotion, scope: Scope, key: str, actor: Acting) -> list[LogEntry]:
    """A case's, a person's or a cycle's entries, in log order."""
    async with promotion.uow.transaction() as tx:
        if scope == "cycle":
            if not (actor.has("hr_admin") or actor.has("auditor")):
                raise NotEntitled("a cycle's promotion record is for HR and auditors")
            return await tx.log.of_cycle(key)
        if scope == "case":
            found = await case_entries(tx, key)
            if not found:
                raise NotFound(f"no promotion case {key}")
            await may_read(promotion, tx, actor, found[0].employee_id)
            return found
        await may_read(promotion, tx, actor, key)
        return await tx.log.of_employee(key)


async def report(promotion: Promotion, scope: Scope, key: str, actor: Acting) -> str:
    """The record as a report for legal review (Markdown)."""
    entries = await record(promotion, scope, key, actor)
    return audit_report.report(f"{scope} {key}", entries, promotion.clock())


async def as_decided(
    promotion: Promotion, case_id: str, actor: Acting, sequence: int | None = None
) -> AsDecided:
    """The latest decision of the case (or the one at `sequence`) as it was made."""
    entries = await record(promotion, "case", case_id, actor)
    decisions = [e for e in entries if e.kind in ("decision", "appeal_outcome")]
    if sequence is not None:
        decisions = [e for e in decisions if e.sequence == sequence]
    if not decisions:
        raise NotFound(f"case {case_id} has no decision" + (f" at {sequence}" if sequence else ""))
    entry = decisions[-1]
    decided = payload_of(entry)
    assert isinstance(decided, DecisionPayload)
    readiness = decided.readiness
    scores = readiness.calibration
    t = readiness.transition
    async with promotion.uow.transaction() as tx:
        profile = await tx.frameworks.role_profile(
            scores.framework_id,
            scores.framework_version,
            (t.target_family, t.to_track, t.to_level),
        )
        versions = [
            k.version for k in await tx.frameworks.all() if k.framework_id == scores.framework_id
        ]
    return AsDecided(
        decision=EntryView.of(entry),
        framework_id=scores.framework_id,
        framework_version=scores.framework_version,
        latest_framework_version=max(versions, default=None),
        target_profile=profile,
        criteria_version=readiness.criteria_version,
        readiness=readiness,
    )


async def fairness(
    promotion: Promotion, attribute: str, actor: Acting, min_group_size: int | None = None
) -> list[CycleFairness]:
    """Promotion rates and adverse-impact ratios per cycle, lateral moves apart (hr_admin
    and auditor only)."""
    if not (actor.has("hr_admin") or actor.has("auditor")):
        raise NotEntitled("fairness monitoring is for HR and auditors only")
    async with promotion.uow.transaction() as tx:
        decided = await tx.log.decisions()
        groups = await tx.records.attribute(attribute)
    decisions = [
        Decision(
            person=e.employee_id,
            cycle=e.payload["cycle_id"],
            outcome=e.payload["outcome"],
            move_kind=move_kind_of(Move.model_validate(e.payload["readiness"]["transition"])),
        )
        for e in decided
    ]
    options = {} if min_group_size is None else {"min_group_size": min_group_size}
    return adverse_impact(decisions, groups, **options)


@dataclass(frozen=True)
class LogAudit:
    """The whole log verified, and against the checkpoint when one was given. `chain` is
    None only when the checkpoint was refused before the log was read (another key, a bad
    signature)."""

    chain: Verification | None
    against: CheckpointVerification | None = None


def verify_log(
    entries: Iterable[LogEntry], checkpoint: Checkpoint | None = None, pinned: str = ""
) -> LogAudit:
    """Every entry's hash, link and columns, in order; with a checkpoint, the log against it
    once it is shown to be signed with the `pinned` key (`verify_pinned`)."""
    if checkpoint is None:
        return LogAudit(verify(entries))
    against = verify_pinned(pinned, checkpoint, entries)
    return LogAudit(against.chain, against)
