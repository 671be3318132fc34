"""Legal holds in the decision log (services/promotion/domain/holds.py, docs/privacy.md,
Legal holds): placed and lifted as entries whose reasons are personal text, folded back into
the holds in force, and the refusal of an erasure request naming each of them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.promotion.domain.cases import CaseRefused, WrongState
from services.promotion.domain.decision_log import ERASED, verify
from services.promotion.domain.fairness import UNDISCLOSED, Decision, adverse_impact
from services.promotion.domain.holds import (
    MAX_REASON,
    holds,
    in_force,
    person_record,
    place,
    refusal,
    refused_answer,
)
from services.promotion.domain.payloads import payload_of
from tests.support.decision_log_entries import Log

REASON = "Claim 2026-114 before the tribunal."


def test_holds_are_placed_and_lifted_as_entries_that_commit_to_their_reasons() -> None:
    log = Log()
    placed = log.add(
        "lou-legal",
        case_id=person_record("ann"),
        payload=place("hold-1", None, f" {REASON} ", "legal"),
    )
    assert placed.payload["reason"] != REASON, "the reason is a commitment in the chain"
    assert placed.personal is not None
    assert placed.personal["reason"].text == REASON
    log.add("hr-1", case_id="case-1", payload=place("hold-2", "case-1", "Audit 77.", "hr_admin"))
    [person, case] = in_force(log.entries)
    assert (person.on, person.case_id, person.placed_by, person.reason) == (
        "person",
        None,
        "lou-legal",
        REASON,
    )
    assert (case.on, case.case_id) == ("case", "case-1")
    assert (person.lifted_by, case.lifted_by) == (("legal",), ("hr_admin", "legal"))

    log.add("lou-legal", case_id=person_record("ann"), payload=person.lift("Withdrawn."))
    found = holds(log.entries)
    assert found["hold-1"].lifted is not None
    assert (found["hold-1"].lifted.by, found["hold-1"].lifted.reason) == ("lou-legal", "Withdrawn.")
    assert [h.hold_id for h in in_force(log.entries)] == ["hold-2"]
    with pytest.raises(WrongState, match="lifted by lou-legal"):
        found["hold-1"].lift("Again.")
    assert verify(log.entries).ok
    assert payload_of(log.entries[-1]).model_dump() == {"hold_id": "hold-1", "reason": "Withdrawn."}


@pytest.mark.parametrize(
    ("reason", "why"), [("  ", "required"), ("x" * (MAX_REASON + 1), f"at most {MAX_REASON}")]
)
def test_a_hold_needs_a_bounded_reason_to_be_placed_or_lifted(reason: str, why: str) -> None:
    with pytest.raises(CaseRefused, match=why):
        place("hold-1", None, reason, "legal")
    log = Log()
    log.add(
        "lou-legal", case_id=person_record("ann"), payload=place("hold-1", None, REASON, "legal")
    )
    with pytest.raises(CaseRefused, match=why):
        holds(log.entries)["hold-1"].lift(reason)


def test_a_refusal_names_each_hold_in_force_who_placed_it_when_and_why() -> None:
    log = Log()
    log.add(
        "lou-legal", case_id=person_record("ann"), payload=place("hold-1", None, REASON, "legal")
    )
    log.add("hr-1", case_id="case-1", payload=place("hold-2", "case-1", "Audit 77.", "hr_admin"))
    refused = refusal("req-1", "pat-privacy", "ann", in_force(log.entries))
    assert refused is not None
    assert (refused.holds, refused.requested_by) == (("hold-1", "hold-2"), "pat-privacy")
    assert refused.reason == (
        "erasure request req-1 of ann is refused while legal holds are in force: "
        "legal hold hold-1 on the person, placed by lou-legal on 2026-03-02 09:30 UTC: "
        f"{REASON}; legal hold hold-2 on case case-1, placed by hr-1 on 2026-03-02 10:30 UTC: "
        "Audit 77."
    )
    assert refusal("req-1", "pat-privacy", "ann", []) is None
    entry = log.add("service:promotion", case_id=person_record("ann"), payload=refused)
    assert entry.personal is not None
    assert set(entry.personal) == {"reason"}, "the quoted reasons are personal text too"
    # The answer outside the log names the holds, never why they were placed.
    assert refused_answer("req-1", "ann", in_force(log.entries)) == (
        "erasure request req-1 of ann is refused while legal holds are in force: "
        "legal hold hold-1 on the person, placed by lou-legal on 2026-03-02 09:30 UTC; "
        "legal hold hold-2 on case case-1, placed by hr-1 on 2026-03-02 10:30 UTC "
        "(their reasons: GET /legal-holds?employee_id=ann)"
    )


def test_a_hold_recorded_without_who_placed_it_as_is_legal_counsels() -> None:
    log = Log()
    placed = log.add(
        "hr-1", case_id="case-1", payload=place("hold-1", "case-1", REASON, "hr_admin")
    )
    payload = {k: v for k, v in placed.payload.items() if k != "placed_as"}
    log.entries[-1] = replace(placed, payload=payload)
    assert holds(log.entries)["hold-1"].lifted_by == ("legal",)


def test_erased_reasons_read_as_erased() -> None:
    log = Log()
    placed = log.add(
        "lou-legal", case_id=person_record("ann"), payload=place("hold-1", None, REASON, "legal")
    )
    log.entries[-1] = replace(placed, personal={})
    assert holds(log.entries)["hold-1"].reason == ERASED


def test_an_erased_attribute_value_counts_as_undisclosed() -> None:
    decisions = [Decision(person="ann", cycle="2026-h1", outcome="approve")]
    [cycle] = adverse_impact(decisions, {"ann": ERASED})
    assert [g.group for g in cycle.groups] == [UNDISCLOSED]
