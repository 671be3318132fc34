"""Erasing a person's personal text from the decision log (docs/privacy.md, The decision log).

Every case whose employee is the person is about them, whoever wrote its text: the nomination
and endorsement notes, the evidence and confirmation notes, the rationales of decisions and
appeal outcomes, the grounds of an appeal. Erasing removes that text and its salts from beside
the log and appends, per case, an erasure entry naming the entries and fields removed and the
request it was done under, all in one transaction. The log still verifies: each entry's
commitment stays, and `verify` reports the entry as erased. What the log records besides the
text (who acted, when, the outcome and what it was judged on) stays, as the log's purpose
requires. The person's text on other people's cases (a note they wrote as a manager) is about
those people and stays. The reasons of legal holds on them and of erasures refused under those
holds go the same way, once no hold is in force: while one is, nothing is erased
(docs/privacy.md, Legal holds).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.promotion.application.holds import ErasureHeld
from services.promotion.application.ports import Work
from services.promotion.application.promotion import Promotion, record
from services.promotion.domain.cases import CaseRefused
from services.promotion.domain.decision_log import LogEntry
from services.promotion.domain.holds import in_force
from services.promotion.domain.payloads import ErasedField, Erasure


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


async def erase_text(
    promotion: Promotion, tx: Work, employee_id: str, request_ref: str, actor: str
) -> PersonErased:
    """Remove the personal text of every case of `employee_id` from beside the log, under
    the erasure request `request_ref`, within the caller's transaction, for `actor`, whose
    right to erase the caller checked (`libs/privacy/requests.py`). A request carried out
    already is not carried out again; a person with no text left gets no erasure entry.
    Refused (`ErasureHeld`) while a legal hold is in force on the person or one of their
    cases."""
    ref = request_ref.strip()
    if not ref:
        raise CaseRefused("an erasure names the request it carries out: request_ref is blank")
    await tx.log.lock()
    entries = await tx.log.of_employee(employee_id)
    done = tuple(e for e in entries if e.kind == "erasure" and e.payload.get("request_ref") == ref)
    if done:
        return PersonErased(employee_id, ref, done, 0, repeated=True)
    standing = in_force(entries)
    if standing:
        # The workflow clears a request first; a request that skipped it is refused here.
        held = ", ".join(h.hold_id for h in standing)
        raise ErasureHeld(f"{employee_id!r} is not erased while legal holds are in force: {held}")
    held_text: dict[str, list[ErasedField]] = {}
    for entry in entries:
        for name in sorted(entry.personal or {}):
            held_text.setdefault(entry.case_id, []).append(
                ErasedField(entry_id=entry.entry_id, field=name)
            )
    appended: list[LogEntry] = []
    removed = 0
    for case_id, fields in held_text.items():
        erasure = Erasure(request_ref=ref, erased=tuple(fields))
        entry = await record(promotion, tx, case_id, employee_id, actor, erasure)
        count = await tx.log.erase(entry)
        if count != len(fields):
            # Rolled back whole: an erasure entry must name exactly what went.
            raise RuntimeError(f"erasure of case {case_id} removed {count} of {len(fields)} fields")
        removed += count
        appended.append(entry)
    return PersonErased(employee_id, ref, tuple(appended), removed)
