"""Legal holds (docs/privacy.md, Legal holds): HR or legal counsel keep a person's promotion
record from erasure while a claim, an audit or litigation may need it.

A hold is on a person or on one of their cases, and stands until lifted. Placing and lifting
are entries of the decision log, like every step of a case, so who held what, when and why
is in the chain. A hold on a case is an entry of that case. A hold on a person, like an
erasure request refused under holds, belongs to no case: it is recorded under the person's
record, `person_record(employee_id)` (`person:<employee_id>`), which is never a case id.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field

from services.promotion.domain.cases import CaseRefused, WrongState
from services.promotion.domain.decision_log import LogEntry
from services.promotion.domain.payloads import ErasureRefused, HoldLifted, LegalHold

PERSON_RECORD = "person:"
# Long enough for a matter reference and a sentence or two; the detail is in legal's files.
MAX_REASON = 2_000
HOLD_KINDS = frozenset({"legal_hold", "legal_hold_lifted"})
Placer = Literal["hr_admin", "legal"]


def person_record(employee_id: str) -> str:
    """The case id of the entries about a person that belong to none of their cases."""
    return f"{PERSON_RECORD}{employee_id}"


def is_person_record(case_id: str) -> bool:
    return case_id.startswith(PERSON_RECORD)


def reason_for(text: str, what: str) -> str:
    """A hold's reason as recorded: required, at most `MAX_REASON` characters."""
    stripped = text.strip()
    if not stripped:
        raise CaseRefused(f"{what} needs a reason: it is required and must not be blank")
    if len(stripped) > MAX_REASON:
        raise CaseRefused(
            f"{what}: the reason has {len(stripped)} characters; at most {MAX_REASON}: "
            "refer to the matter rather than quoting it"
        )
    return stripped


class Lifted(BaseModel):
    model_config = ConfigDict(frozen=True)

    by: str
    at: datetime
    reason: str


class Hold(BaseModel):
    """A legal hold as the log's entries leave it, text disclosed (`[erased]` once erased)."""

    model_config = ConfigDict(frozen=True)

    hold_id: str
    employee_id: str
    on: Literal["person", "case"]
    case_id: str | None
    placed_by: str
    placed_as: Placer
    placed_at: datetime
    reason: str
    lifted: Lifted | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def in_force(self) -> bool:
        return self.lifted is None

    def lift(self, reason: str) -> HoldLifted:
        """The payload of the entry lifting the hold; refused when it was lifted already."""
        if self.lifted is not None:
            raise WrongState(
                f"legal hold {self.hold_id} was lifted by {self.lifted.by} on "
                f"{_when(self.lifted.at)}: there is nothing to lift"
            )
        return HoldLifted(hold_id=self.hold_id, reason=reason_for(reason, "lifting a legal hold"))

    @property
    def lifted_by(self) -> tuple[Placer, ...]:
        """Who may lift it: legal counsel's hold only legal, HR's either."""
        return ("legal",) if self.placed_as == "legal" else ("hr_admin", "legal")

    def named(self) -> str:
        """The hold as an answer outside the log names it: what, who placed it, when."""
        on = "the person" if self.case_id is None else f"case {self.case_id}"
        placed = f"placed by {self.placed_by} on {_when(self.placed_at)}"
        return f"legal hold {self.hold_id} on {on}, {placed}"

    def described(self) -> str:
        """The hold as the log's refusal names it: `named`, and why."""
        return f"{self.named()}: {self.reason}"


def place(hold_id: str, case_id: str | None, reason: str, placed_as: Placer) -> LegalHold:
    """The payload of a hold's placement: on the case `case_id`, or on the person (None),
    by legal counsel or HR (`placed_as`, which decides who may lift it)."""
    return LegalHold(
        hold_id=hold_id,
        on="person" if case_id is None else "case",
        placed_as=placed_as,
        reason=reason_for(reason, "a legal hold"),
    )


def holds(entries: Iterable[LogEntry]) -> dict[str, Hold]:
    """The holds placed and lifted in `entries` (log order), by hold id, text disclosed."""
    found: dict[str, Hold] = {}
    for entry in entries:
        if entry.kind not in HOLD_KINDS:
            continue
        p = entry.disclosed()
        if entry.kind == "legal_hold":
            found[p["hold_id"]] = Hold(
                hold_id=p["hold_id"],
                employee_id=entry.employee_id,
                on=p["on"],
                case_id=None if p["on"] == "person" else entry.case_id,
                placed_by=entry.actor,
                # Recorded before who placed it as was kept: legal's, the stricter.
                placed_as=p.get("placed_as", "legal"),
                placed_at=entry.recorded_at,
                reason=p["reason"],
            )
        elif (placed := found.get(p["hold_id"])) is not None:
            lifted = Lifted(by=entry.actor, at=entry.recorded_at, reason=p["reason"])
            found[placed.hold_id] = placed.model_copy(update={"lifted": lifted})
    return found


def in_force(entries: Iterable[LogEntry]) -> list[Hold]:
    """The holds in force among those `entries` place, oldest first."""
    return [h for h in holds(entries).values() if h.in_force]


def refusal(
    request_ref: str, requested_by: str, employee_id: str, standing: list[Hold]
) -> ErasureRefused | None:
    """The refusal of an erasure request while holds are in force; None when none is."""
    if not standing:
        return None
    each = "; ".join(h.described() for h in standing)
    return ErasureRefused(
        request_ref=request_ref,
        requested_by=requested_by,
        holds=tuple(h.hold_id for h in standing),
        reason=f"erasure request {request_ref} of {employee_id} is refused while legal holds "
        f"are in force: {each}",
    )


def refused_answer(request_ref: str, employee_id: str, standing: Iterable[Hold]) -> str:
    """What a refused request is answered with outside the log: each hold, who placed it and
    when, never why (the reasons are the person's data: read through the legal holds)."""
    each = "; ".join(h.named() for h in standing)
    return (
        f"erasure request {request_ref} of {employee_id} is refused while legal holds are in "
        f"force: {each} (their reasons: GET /legal-holds?employee_id={employee_id})"
    )


def erasures_cleared(entries: Iterable[LogEntry]) -> list[LogEntry]:
    """The `erasure_cleared` entries among `entries`, oldest first."""
    return [entry for entry in entries if entry.kind == "erasure_cleared"]


def erasure_under_way(employee_id: str, cleared: LogEntry) -> WrongState:
    """The refusal of a hold on a person whose erasure `cleared` has not ended."""
    return WrongState(
        f"{employee_id!r} cannot be held: an erasure cleared on {_when(cleared.recorded_at)} "
        f"under request {cleared.payload['request_ref']} is under way, and their keys may "
        "already be destroyed; a hold can be placed once it has ended"
    )


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
