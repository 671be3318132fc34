"""Legal holds and the clearance of erasure requests (docs/privacy.md, Legal holds).

`hr_admin` or `legal` place a hold on a person or on one of their cases, with a reason, and
lift it with a reason; each is an entry of the decision log, appended under its lock. Before
a person is erased, the erasure workflow asks `clear_erasure`: while any hold on the person
or on one of their cases is in force, the request is refused, and the refusal is an entry of
the log naming the request and the holds, one per request. A request cleared is an entry
too, with its `ErasureCleared` event in the same transaction: from then on the services
erase under it, and no hold is placed on the person until it has ended, since their keys
may already be destroyed.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import uuid4

from libs.events.envelope import EventMetadata
from libs.events.schemas.promotion import ErasureCleared as Cleared
from services.promotion.application.ports import Acting, Work
from services.promotion.application.promotion import (
    ACTOR,
    NotFound,
    Promotion,
    case_entries,
    record,
)
from services.promotion.domain import holds as rules
from services.promotion.domain.cases import CaseRefused, NotEntitled, WrongState
from services.promotion.domain.holds import Hold, person_record
from services.promotion.domain.payloads import ErasureCleared

PLACING = ("hr_admin", "legal")
READING = ("hr_admin", "legal", "auditor", "privacy_officer")


@dataclass(frozen=True)
class Clearance:
    """Whether a person may be erased under a request; when not, the holds in force, who
    placed them and when (their reasons stay in the log's refusal entry)."""

    cleared: bool
    reason: str = ""


class ErasureHeld(WrongState):
    """An erasure asked for while legal holds are in force."""


async def place_hold(
    promotion: Promotion,
    actor: Acting,
    reason: str,
    *,
    employee_id: str | None = None,
    case_id: str | None = None,
) -> Hold:
    """Hold a person's record, or one case of theirs (exactly one of the two)."""
    _require(actor, PLACING, "placing a legal hold")
    if (employee_id is None) == (case_id is None):
        raise CaseRefused("a legal hold is on a person or on a case: give employee_id or case_id")
    async with promotion.uow.transaction() as tx:
        await tx.log.lock()
        if case_id is not None:
            found = await case_entries(tx, case_id)
            if not found:
                raise NotFound(f"no promotion case {case_id}")
            person, kept_under = found[0].employee_id, case_id
        else:
            assert employee_id is not None
            if await tx.org_chart.person(employee_id) is None and not await tx.log.of_employee(
                employee_id
            ):
                raise NotFound(f"{employee_id!r} is neither in the org chart nor in the log")
            person, kept_under = employee_id, person_record(employee_id)
        await _no_erasure_under_way(tx, person)
        hold_id = f"hold-{uuid4().hex[:16]}"
        placed_as: rules.Placer = "legal" if actor.has("legal") else "hr_admin"
        payload = rules.place(hold_id, case_id, reason, placed_as)
        entry = await record(promotion, tx, kept_under, person, actor.subject, payload)
    return rules.holds([entry])[hold_id]


async def lift_hold(promotion: Promotion, hold_id: str, reason: str, actor: Acting) -> Hold:
    """Lift a hold in force; lifting one lifted already is refused (409)."""
    _require(actor, PLACING, "lifting a legal hold")
    async with promotion.uow.transaction() as tx:
        await tx.log.lock()
        entries = await tx.log.of_hold(hold_id)
        hold = rules.holds(entries).get(hold_id)
        if hold is None:
            raise NotFound(f"no legal hold {hold_id}")
        if not any(actor.has(role) for role in hold.lifted_by):
            raise NotEntitled(
                f"legal hold {hold_id} was placed by legal counsel ({hold.placed_by}): only the "
                f"legal role lifts it; {actor.subject!r} does not hold it"
            )
        payload = hold.lift(reason)
        entry = await record(
            promotion, tx, entries[0].case_id, hold.employee_id, actor.subject, payload
        )
    return rules.holds([*entries, entry])[hold_id]


async def holds_of(promotion: Promotion, employee_id: str, actor: Acting) -> list[Hold]:
    """Every hold placed on the person or their cases, in force or lifted, oldest first."""
    _require(actor, READING, "reading legal holds")
    async with promotion.uow.transaction() as tx:
        entries = await tx.log.of_employee(employee_id)
    return list(rules.holds(entries).values())


async def clear_erasure(
    promotion: Promotion, employee_id: str, request_ref: str, requested_by: str
) -> Clearance:
    """Whether the erasure request `request_ref` (checked by the caller to be
    `requested_by`'s, about `employee_id`) may go ahead. Refused while holds are in force,
    cleared otherwise, each with one entry per request (a clearance with its
    `ErasureCleared` event): a repeat finds it and answers the same."""
    async with promotion.uow.transaction() as tx:
        await tx.log.lock()
        entries = await tx.log.of_employee(employee_id)
        for entry in entries:
            if entry.payload.get("request_ref") != request_ref:
                continue
            if entry.kind == "erasure_cleared":
                return Clearance(True)
            if entry.kind == "erasure_refused":
                placed = rules.holds(entries)
                named = [placed[hold_id] for hold_id in entry.payload["holds"]]
                return Clearance(False, rules.refused_answer(request_ref, employee_id, named))
        standing = rules.in_force(entries)
        refused = rules.refusal(request_ref, requested_by, employee_id, standing)
        kept_under = person_record(employee_id)
        if refused is not None:
            await record(promotion, tx, kept_under, employee_id, ACTOR, refused)
            return Clearance(False, rules.refused_answer(request_ref, employee_id, standing))
        cleared = ErasureCleared(request_ref=request_ref, requested_by=requested_by)
        await record(promotion, tx, kept_under, employee_id, ACTOR, cleared)
        event = Cleared(request_ref=request_ref, employee_id=employee_id)
        await tx.events.append(erasure_stream(request_ref), 0, [event], EventMetadata(actor=ACTOR))
    return Clearance(True)


def erasure_stream(request_ref: str) -> str:
    """The stream of a request's clearance in the promotion log."""
    return f"promotion-erasure-{request_ref}"


async def _no_erasure_under_way(tx: Work, employee_id: str) -> None:
    """Refuse a hold while an erasure of the person cleared and has not ended: their keys
    may already be destroyed, and a hold would leave the erasure half done."""
    for cleared in rules.erasures_cleared(await tx.log.of_employee(employee_id)):
        ref = cleared.payload["request_ref"]
        if not await tx.erasures.ended(ref):
            raise rules.erasure_under_way(employee_id, cleared)


def _require(actor: Acting, roles: tuple[str, ...], what: str) -> None:
    if not any(actor.has(role) for role in roles):
        raise NotEntitled(
            f"{what} needs one of the roles {', '.join(roles)}; {actor.subject!r} holds none"
        )
