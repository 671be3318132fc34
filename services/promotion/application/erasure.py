"""Erasing a person's personal text from the decision log (docs/privacy.md, The decision log).

Every case whose employee is the person is about them, whoever wrote its text: the nomination
and endorsement notes, the evidence and confirmation notes, the rationales of decisions and
appeal outcomes, the grounds of an appeal. Erasing removes that text and its salts from beside
the log and appends, per case, an erasure entry naming the entries and fields removed and the
request it was done under, all in one transaction. The log still verifies: each entry's
commitment stays, and `verify` reports the entry as erased. What the log records besides the
text (who acted, when, the outcome and what it was judged on) stays, as the log's purpose
requires. The person's text on other people's cases (a note they wrote as a manager) is about
those people and stays.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.promotion.application.ports import Acting
from services.promotion.application.promotion import Promotion, require
from services.promotion.domain.cases import CaseRefused
from services.promotion.domain.decision_log import LogEntry
from services.promotion.domain.payloads import ErasedField, Erasure

# Who may erase, until the privacy request flow that drives erasure names a role of its own.
ERASING_ROLE = "hr_admin"


@dataclass(frozen=True)
class PersonErased:
    """What an erasure did: the erasure entries of the request (one per case) and how many
    fields were removed by this call; `repeated` when the request had been carried out
    before, in which case nothing was done."""

    employee_id: str
    request_ref: str
    entries: tuple[LogEntry, ...]
    removed: int
    repeated: bool = False


async def erase_person(
    promotion: Promotion, employee_id: str, request_ref: str, actor: Acting
) -> PersonErased:
    """Remove the personal text of every case of `employee_id` from beside the log, under
    the erasure request `request_ref`. A request carried out already is not carried out
    again; a person with no text left gets no erasure entry."""
    require(actor, ERASING_ROLE, "erasing a person's promotion record")
    ref = request_ref.strip()
    if not ref:
        raise CaseRefused("an erasure names the request it carries out: request_ref is blank")
    async with promotion.uow.transaction() as tx:
        await tx.log.lock()
        entries = await tx.log.of_employee(employee_id)
        done = tuple(
            e for e in entries if e.kind == "erasure" and e.payload.get("request_ref") == ref
        )
        if done:
            return PersonErased(employee_id, ref, done, 0, repeated=True)
        held: dict[str, list[ErasedField]] = {}
        for entry in entries:
            for name in sorted(entry.personal or {}):
                held.setdefault(entry.case_id, []).append(
                    ErasedField(entry_id=entry.entry_id, field=name)
                )
        appended: list[LogEntry] = []
        removed = 0
        for case_id, fields in held.items():
            recorded, _ = Erasure(request_ref=ref, erased=tuple(fields)).sealed()
            erasure = await tx.log.append(
                kind="erasure",
                case_id=case_id,
                employee_id=employee_id,
                actor=actor.subject,
                recorded_at=promotion.clock(),
                payload=recorded,
            )
            count = await tx.log.erase(erasure)
            if count != len(fields):
                # Rolled back whole: an erasure entry must name exactly what went.
                raise RuntimeError(
                    f"erasure of case {case_id} removed {count} of {len(fields)} fields"
                )
            removed += count
            appended.append(erasure)
    return PersonErased(employee_id, ref, tuple(appended), removed)
