"""Promotion cases folded from their decision-log entries (DOMAIN.md §6: nomination,
endorsement, readiness evaluation, decision and any appeal are entries), and the rules each
step is checked against (services/promotion/domain/cases.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.promotion.domain.cases import (
    Case,
    CaseRefused,
    NotEntitled,
    WrongState,
    nominate,
)
from services.promotion.domain.decision_log import EntryKind, LogEntry, next_entry
from services.promotion.domain.readiness import Readiness
from tests.unit.promotion.test_criteria_and_readiness import L3_TO_L4, LEAD, ready_case

EMPLOYEE, MANAGER, DECIDER, OTHER_DECIDER = "emp-1", "mgr-1", "committee-1", "committee-2"
START = datetime(2025, 6, 1, 9, tzinfo=UTC)


class Log:
    """A case's entries, appended as the service appends them."""

    def __init__(self) -> None:
        self.entries: list[LogEntry] = []
        payload = nominate(
            cycle_id="2025-h1",
            framework_id="eng",
            framework_version=2,
            transition=L3_TO_L4,
            operating_since=date(2025, 3, 30),
            note="",
            open_cases=[],
        )
        self.add("nomination", MANAGER, payload)

    def add(self, kind: EntryKind, actor: str, payload: dict[str, Any]) -> Case:
        previous = self.entries[-1] if self.entries else None
        self.entries.append(
            next_entry(
                previous,
                kind=kind,
                case_id="case-1",
                employee_id=EMPLOYEE,
                actor=actor,
                recorded_at=START + timedelta(hours=len(self.entries)),
                payload=payload,
            )
        )
        return self.case

    @property
    def case(self) -> Case:
        return Case.replay(self.entries)


def ready() -> Readiness:
    return ready_case()


def not_ready() -> Readiness:
    return ready_case(endorsed_by=None)


def endorsed() -> Log:
    log = Log()
    log.add("endorsement", MANAGER, log.case.endorse(MANAGER, MANAGER, ""))
    return log


def decided(outcome: str = "deny") -> Log:
    log = endorsed()
    case = log.case
    payload = case.decide(DECIDER, outcome, "Reasons, written.", ready(), "c-1", True)  # type: ignore[arg-type]
    log.add("decision", DECIDER, payload)
    return log


def test_one_open_case_per_person() -> None:
    with pytest.raises(WrongState, match="case-7"):
        nominate(
            cycle_id="2025-h1",
            framework_id="eng",
            framework_version=2,
            transition=L3_TO_L4,
            operating_since=None,
            note="",
            open_cases=["case-7"],
        )


def test_only_the_manager_endorses_and_a_decision_needs_the_endorsement() -> None:
    """DOMAIN.md §6: manager endorsement is a criterion; deciding without it is refused."""
    case = Log().case
    with pytest.raises(NotEntitled, match="manager"):
        case.endorse("someone-else", MANAGER, "")
    with pytest.raises(WrongState, match="endorsement"):
        case.decide(DECIDER, "deny", "Not yet.", ready(), "c-1", True)
    assert case.decide(DECIDER, "deny", "Not yet.", ready(), "c-1", False)["outcome"] == "deny"


def test_approval_needs_every_criterion_met_and_any_decision_a_rationale() -> None:
    """DOMAIN.md §6: a decision with a written rationale; objective criteria, recorded."""
    case = endorsed().case
    with pytest.raises(CaseRefused, match="rationale"):
        case.decide(DECIDER, "deny", "   ", ready(), "c-1", True)
    with pytest.raises(WrongState, match="endorsement"):
        case.decide(DECIDER, "approve", "Feels ready.", not_ready(), "c-1", True)
    payload = case.decide(DECIDER, "approve", "Every criterion met.", ready(), "c-1", True)
    assert payload["readiness"]["ready"] is True
    assert payload["readiness"]["evidence"][LEAD]["provided_by"] == "mgr-1"
    assert case.decide(DECIDER, "defer", "Next cycle.", not_ready(), "c-1", True)


def test_nobody_decides_their_own_case() -> None:
    with pytest.raises(NotEntitled, match="their own"):
        endorsed().case.decide(EMPLOYEE, "approve", "Me.", ready(), "c-1", True)


def test_a_deferral_keeps_the_case_open_and_an_approval_closes_it() -> None:
    log = endorsed()
    log.add("decision", DECIDER, log.case.decide(DECIDER, "defer", "Later.", ready(), "c", True))
    assert (log.case.status, log.case.open) == ("deferred", True)
    log.add("decision", DECIDER, log.case.decide(DECIDER, "approve", "Now.", ready(), "c", True))
    case = log.case
    assert (case.status, case.final_outcome) == ("approved", "approve")
    with pytest.raises(WrongState, match="appeal"):
        case.attach_evidence(LEAD, "late", [LEAD])


def test_an_appeal_is_heard_by_someone_else_once_and_overturning_changes_the_outcome() -> None:
    log = decided("deny")
    with pytest.raises(CaseRefused, match="grounds"):
        log.case.lodge_appeal(EMPLOYEE, " ")
    log.add("appeal", EMPLOYEE, log.case.lodge_appeal(EMPLOYEE, "My scores were misread."))
    case = log.case
    assert case.status == "appealed"
    with pytest.raises(NotEntitled, match="someone other"):
        case.decide_appeal(DECIDER, "upheld", None, "Stands.", ready(), "c-1")
    with pytest.raises(CaseRefused, match="other than 'deny'"):
        case.decide_appeal(OTHER_DECIDER, "overturned", "deny", "Hm.", ready(), "c-1")
    with pytest.raises(CaseRefused, match="keeps its outcome"):
        case.decide_appeal(OTHER_DECIDER, "upheld", "approve", "Hm.", ready(), "c-1")
    payload = case.decide_appeal(OTHER_DECIDER, "overturned", "approve", "Misread.", ready(), "c")
    log.add("appeal_outcome", OTHER_DECIDER, payload)
    case = log.case
    assert (case.status, case.final_outcome) == ("closed", "approve")
    with pytest.raises(WrongState, match="once per case"):
        case.lodge_appeal(EMPLOYEE, "Again.")


def test_a_deferral_cannot_be_appealed() -> None:
    with pytest.raises(WrongState, match="only an approval or a denial"):
        decided("defer").case.lodge_appeal(EMPLOYEE, "Unfair.")


def test_evidence_must_be_an_item_the_criteria_name() -> None:
    case = Log().case
    with pytest.raises(CaseRefused, match="not an evidence item"):
        case.attach_evidence("did great things", "trust me", [LEAD])
    assert case.attach_evidence(LEAD, "the payments migration", [LEAD])["item"] == LEAD


def test_the_fold_counts_published_entries_and_keeps_what_each_step_recorded() -> None:
    """Nominations, evaluations, decisions and appeal outcomes go out as events; the case's
    event stream version is their count."""
    log = endorsed()
    log.add("evidence", EMPLOYEE, log.case.attach_evidence(LEAD, "migration", [LEAD]))
    log.add("calibration_confirmation", "hr-1", log.case.confirm("cal-1", True, ""))
    log.add("readiness_evaluated", "hr-1", log.case.evaluated(ready(), "c-1"))
    case = log.case
    assert (case.published, case.entries) == (2, 5)
    assert case.endorsed_by == MANAGER
    assert case.evidence[LEAD].provided_by == EMPLOYEE
    assert case.confirmed_in_session == "cal-1"
    assert case.readiness is not None
    assert case.readiness["ready"] is True
    assert case.operating_since == date(2025, 3, 30)
    rejected = log.add("calibration_confirmation", "hr-1", case.confirm("cal-2", False, "no"))
    assert rejected.confirmed_in_session is None
