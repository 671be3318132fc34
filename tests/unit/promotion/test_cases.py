"""Promotion cases folded from their decision-log entries (docs/domain.md §6: "nomination,
endorsement, readiness evaluation, decision and any appeal are entries"), and the rules each
step is checked against (services/promotion/domain/cases.py, module docstring).

Every test builds the entries the way the service appends them: a command on the case as its
entries leave it returns a payload, and `next_entry` turns that payload into the next entry.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

import pytest

from services.promotion.domain.cases import (
    PUBLISHED_KINDS,
    Case,
    CaseRefused,
    NotEntitled,
    Outcome,
    WrongState,
    nominate,
)
from services.promotion.domain.decision_log import EntryKind, LogEntry, next_entry
from services.promotion.domain.payloads import Appeal, Endorsement, EntryPayload, Nomination
from services.promotion.domain.readiness import Readiness
from tests.support.readiness import L3_TO_L4, LEAD, ready_case

# The readiness helpers judge "ann", endorsed by "mgr-1": the case is hers.
EMPLOYEE, MANAGER = "ann", "mgr-1"
DECIDER, SECOND_DECIDER, HR = "committee-1", "committee-2", "hr-1"
CASE_ID, CAMPAIGN = "case-1", "campaign-1"
NAMED: tuple[str, ...] = (LEAD,)
START = datetime(2025, 6, 1, 9, tzinfo=UTC)

Command = Callable[[Case], EntryPayload]


def nomination(open_cases: Sequence[str] = ()) -> Nomination:
    return nominate(
        cycle_id="2025-h1",
        framework_id="fw-eng",
        framework_version=2,
        transition=L3_TO_L4,
        operating_since=date(2025, 3, 30),
        note="Led the checkout redesign.",
        open_cases=open_cases,
    )


class Log:
    """One case's entries, appended as the service appends them."""

    def __init__(self, case_id: str = CASE_ID) -> None:
        self.case_id = case_id
        self.entries: list[LogEntry] = []
        self.add("nomination", MANAGER, nomination())

    def add(self, kind: EntryKind, actor: str, payload: EntryPayload) -> Case:
        assert payload.kind == kind
        previous = self.entries[-1] if self.entries else None
        self.entries.append(
            next_entry(
                previous,
                kind=kind,
                case_id=self.case_id,
                employee_id=EMPLOYEE,
                actor=actor,
                recorded_at=START + timedelta(hours=len(self.entries)),
                payload=payload.record(),
            )
        )
        return self.case

    def step(self, kind: EntryKind, actor: str, command: Command) -> Case:
        """Run a command on the case as the log leaves it and append its entry."""
        return self.add(kind, actor, command(self.case))

    @property
    def case(self) -> Case:
        return Case.replay(self.entries)


def ready() -> Readiness:
    """Every criterion met."""
    return ready_case()


def not_ready() -> Readiness:
    """No evidence for the named item and no calibration confirmation: two criteria unmet."""
    return ready_case(evidence={}, confirmed_in_session=None)


def decide(outcome: Outcome, readiness: Readiness | None = None, actor: str = DECIDER) -> Command:
    judged = readiness if readiness is not None else ready()
    return lambda case: case.decide(
        actor, outcome, f"Written reasons to {outcome}.", judged, CAMPAIGN, True
    )


def endorsed() -> Log:
    log = Log()
    log.step("endorsement", MANAGER, lambda case: case.endorse(MANAGER, MANAGER, "Ready."))
    return log


def decided(outcome: Outcome) -> Log:
    log = endorsed()
    log.step("decision", DECIDER, decide(outcome))
    return log


def appealed(outcome: Outcome) -> Log:
    log = decided(outcome)
    log.step("appeal", EMPLOYEE, lambda case: case.lodge_appeal(EMPLOYEE, "Scores misread."))
    return log


def closed() -> Log:
    """Denied, appealed, and the denial upheld by a second decider."""
    log = appealed("deny")
    log.step(
        "appeal_outcome",
        SECOND_DECIDER,
        lambda case: case.decide_appeal(
            SECOND_DECIDER, "upheld", None, "Scores reviewed; they stand.", ready(), CAMPAIGN
        ),
    )
    return log


# Every step towards a decision, as a command any case in any state can be asked to take.
STEPS_TOWARDS_A_DECISION: dict[str, Command] = {
    "endorse": lambda case: case.endorse(MANAGER, MANAGER, "Again."),
    "attach_evidence": lambda case: case.attach_evidence(LEAD, "Late evidence.", NAMED),
    "confirm": lambda case: case.confirm("cal-2025-q3", True, ""),
    "evaluated": lambda case: case.evaluated(ready(), CAMPAIGN),
    "decide": lambda case: case.decide(
        SECOND_DECIDER, "approve", "Another decision.", ready(), CAMPAIGN, True
    ),
}


# -- nomination: one open case per person --------------------------------------------------


def test_a_nomination_while_the_person_has_an_open_case_is_refused_naming_it() -> None:
    """cases.py: "One open case per person: a second nomination while one is open is
    refused, naming it." """
    with pytest.raises(WrongState, match=r"open promotion case .*: case-3, case-9"):
        nomination(open_cases=["case-9", "case-3"])
    with pytest.raises(WrongState, match="decide it"):
        nomination(open_cases=iter(["case-3"]))


def test_a_nomination_records_the_cycle_the_framework_version_and_the_move() -> None:
    """docs/domain.md §6: the log records the framework version it relied on; the move is the
    transition, level L to L+1 in a track. A blank cycle is refused, saying what is missing."""
    payload = nomination()
    assert payload.record() == {
        "cycle_id": "2025-h1",
        "framework_id": "fw-eng",
        "framework_version": 2,
        "move": {
            "family": "eng",
            "from_track": "ic",
            "from_level": "L3",
            "to_track": "ic",
            "to_level": "L4",
        },
        "operating_since": "2025-03-30",
        "note": "Led the checkout redesign.",
    }
    with pytest.raises(CaseRefused, match="review cycle is required"):
        nominate(
            cycle_id="  ",
            framework_id="fw-eng",
            framework_version=2,
            transition=L3_TO_L4,
            operating_since=None,
            note="",
            open_cases=[],
        )


def test_only_a_nominated_or_deferred_case_counts_as_open_for_a_new_nomination() -> None:
    """cases.py: "A case is open after its nomination and after a deferral; an approval or a
    denial closes it", so a person with only decided cases may be nominated again."""
    deferred, approved, denied = decided("defer"), decided("approve"), decided("deny")
    assert (Log().case.open, deferred.case.open) == (True, True)
    assert (approved.case.open, denied.case.open) == (False, False)
    with pytest.raises(WrongState):
        nomination(open_cases=[c.case_id for c in [deferred.case] if c.open])
    after_decisions = [c.case_id for c in [approved.case, denied.case] if c.open]
    assert nomination(open_cases=after_decisions).cycle_id == "2025-h1"


# -- decisions ---------------------------------------------------------------------------


def test_approval_is_refused_while_criteria_are_unmet_and_the_message_names_them() -> None:
    """cases.py: "Approval needs every criterion met at the moment of the decision";
    docs/domain.md §6: objective, recorded criteria. The refusal names what is missing."""
    case = endorsed().case
    readiness = not_ready()
    unmet = [r.name for r in readiness.unmet]
    assert unmet == [f"evidence:{LEAD}", "calibration_confirmation"]
    with pytest.raises(WrongState) as refused:
        case.decide(DECIDER, "approve", "Feels ready.", readiness, CAMPAIGN, True)
    message = str(refused.value)
    assert f"criteria not met: {', '.join(unmet)}" in message
    assert "Deny or defer" in message


@pytest.mark.parametrize("outcome", ["deny", "defer"])
def test_deny_and_defer_need_only_a_rationale_not_a_ready_verdict(outcome: Outcome) -> None:
    """cases.py: "Deny and defer need no readiness verdict, only a rationale"; docs/domain.md §6:
    the decision records the criteria version, the calibration and the scores as they were."""
    readiness = not_ready()
    payload = endorsed().case.decide(
        DECIDER, outcome, "  Evidence is missing.\n", readiness, CAMPAIGN, True
    )
    assert payload.record() == {
        "outcome": outcome,
        "rationale": "Evidence is missing.",
        "cycle_id": "2025-h1",
        "campaign_id": CAMPAIGN,
        "readiness": readiness.model_dump(mode="json"),
    }
    assert payload.record()["readiness"]["ready"] is False
    assert payload.record()["readiness"]["criteria_version"] == 3
    assert payload.record()["readiness"]["calibration"]["scores"]["collaboration"] == 4.0


def test_an_approval_records_the_readiness_it_was_judged_on() -> None:
    """docs/domain.md §6: a decision "records the framework version, the criteria version, the
    calibration it relied on and the scores as they were"."""
    payload = endorsed().case.decide(
        DECIDER, "approve", "Every criterion met.", ready(), CAMPAIGN, True
    )
    recorded = payload.record()["readiness"]
    assert (payload.outcome, recorded["ready"]) == ("approve", True)
    assert recorded["calibration"]["framework_version"] == 2
    assert recorded["calibration"]["session_id"] == "cal-2025-q2"
    assert recorded["evidence"][LEAD]["provided_by"] == MANAGER


@pytest.mark.parametrize("outcome", ["approve", "deny", "defer"])
@pytest.mark.parametrize("rationale", ["", "   ", "\n\t "])
def test_a_blank_rationale_is_refused_for_every_outcome(outcome: Outcome, rationale: str) -> None:
    """docs/domain.md §6: a decision is made "with a written rationale"."""
    with pytest.raises(CaseRefused, match=r"written rationale .* must not be blank"):
        endorsed().case.decide(DECIDER, outcome, rationale, ready(), CAMPAIGN, True)


def test_a_blank_rationale_is_refused_on_an_appeal_outcome() -> None:
    """docs/domain.md §6: every decision, the appeal's too, carries a written rationale."""
    case = appealed("deny").case
    with pytest.raises(CaseRefused, match="rationale"):
        case.decide_appeal(SECOND_DECIDER, "upheld", None, "  ", ready(), CAMPAIGN)
    with pytest.raises(CaseRefused, match="rationale"):
        case.decide_appeal(SECOND_DECIDER, "overturned", "approve", "", ready(), CAMPAIGN)


@pytest.mark.parametrize("outcome", ["approve", "deny", "defer"])
def test_nobody_decides_their_own_case(outcome: Outcome) -> None:
    """cases.py: "Nobody decides their own case", even when every criterion is met and no
    endorsement is required."""
    case = endorsed().case
    with pytest.raises(NotEntitled, match="'ann' may not decide their own promotion"):
        case.decide(EMPLOYEE, outcome, "It is me.", ready(), CAMPAIGN, False)


# -- endorsement ---------------------------------------------------------------------------


def test_only_the_employees_manager_endorses() -> None:
    """docs/domain.md §6: manager endorsement; `Case.endorse`: "The employee's manager endorses"."""
    case = Log().case
    with pytest.raises(NotEntitled, match=r"only 'ann''s manager \('mgr-1'\) endorses"):
        case.endorse("mgr-elsewhere", MANAGER, "")
    with pytest.raises(NotEntitled, match="'ann' is not"):
        case.endorse(EMPLOYEE, MANAGER, "")
    with pytest.raises(NotEntitled, match="None"):
        case.endorse(MANAGER, None, "")  # nobody is the manager of someone without one
    assert case.endorse(MANAGER, MANAGER, "  Ready.  ") == Endorsement(note="Ready.")


def test_the_same_manager_does_not_endorse_twice() -> None:
    """An endorsement is one entry: a second by the same manager is refused, not logged."""
    case = endorsed().case
    assert case.endorsed_by == MANAGER
    with pytest.raises(WrongState, match="already endorsed by 'mgr-1'"):
        case.endorse(MANAGER, MANAGER, "")


@pytest.mark.parametrize("outcome", ["approve", "deny", "defer"])
def test_a_decision_is_refused_without_the_endorsement_the_criteria_require(
    outcome: Outcome,
) -> None:
    """docs/domain.md §6: manager endorsement is a criterion; `Case.decide` refuses any outcome
    without it when the criteria require it, and not when they do not."""
    case = Log().case
    with pytest.raises(WrongState, match="no manager endorsement"):
        case.decide(DECIDER, outcome, "Reasons.", ready(), CAMPAIGN, True)
    assert case.decide(DECIDER, outcome, "Reasons.", ready(), CAMPAIGN, False).outcome == (outcome)
    assert endorsed().case.decide(DECIDER, outcome, "Reasons.", ready(), CAMPAIGN, True)


# -- after a decision ------------------------------------------------------------------------


@pytest.mark.parametrize(("outcome", "status"), [("approve", "approved"), ("deny", "denied")])
@pytest.mark.parametrize("step", sorted(STEPS_TOWARDS_A_DECISION))
def test_no_step_after_an_approval_or_a_denial_except_an_appeal(
    outcome: Outcome, status: str, step: str
) -> None:
    """cases.py: "an approval or a denial closes it, and only an appeal reopens the
    question"."""
    case = decided(outcome).case
    assert (case.status, case.open, case.final_outcome) == (status, False, outcome)
    with pytest.raises(WrongState, match=f"is {status}: .*an appeal is the way to contest it"):
        STEPS_TOWARDS_A_DECISION[step](case)
    assert case.lodge_appeal(EMPLOYEE, "Misread.") == Appeal(grounds="Misread.")


@pytest.mark.parametrize(("log", "status"), [(appealed("deny"), "appealed"), (closed(), "closed")])
@pytest.mark.parametrize("step", sorted(STEPS_TOWARDS_A_DECISION))
def test_no_step_towards_a_decision_during_or_after_an_appeal(
    log: Log, status: str, step: str
) -> None:
    """cases.py: after an approval or a denial only the appeal moves the case."""
    case = log.case
    assert case.status == status
    with pytest.raises(WrongState, match=f"is {status}"):
        STEPS_TOWARDS_A_DECISION[step](case)


def test_a_deferral_keeps_the_case_open_and_a_later_decision_stands() -> None:
    """cases.py: "A case is open after its nomination and after a deferral"; steps towards a
    decision go on, and the later decision is the one that stands."""
    log = decided("defer")
    case = log.case
    assert (case.status, case.open, case.final_outcome) == ("deferred", True, "defer")
    log.step("evidence", EMPLOYEE, STEPS_TOWARDS_A_DECISION["attach_evidence"])
    log.step("calibration_confirmation", HR, STEPS_TOWARDS_A_DECISION["confirm"])
    log.step("readiness_evaluated", HR, STEPS_TOWARDS_A_DECISION["evaluated"])
    case = log.step("decision", SECOND_DECIDER, decide("approve", actor=SECOND_DECIDER))
    assert (case.status, case.open, case.final_outcome) == ("approved", False, "approve")
    assert case.decision is not None
    assert (case.decision.decided_by, case.decision.sequence) == (SECOND_DECIDER, 7)


# -- appeals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("log", "status"), [(Log(), "open"), (endorsed(), "open"), (decided("defer"), "deferred")]
)
def test_only_an_approval_or_a_denial_can_be_appealed(log: Log, status: str) -> None:
    """cases.py: only an appeal reopens an approval or a denial; there is nothing to appeal
    before a decision, and a deferral keeps the case open instead."""
    with pytest.raises(WrongState, match=f"is {status}: only an approval or a denial"):
        log.case.lodge_appeal(EMPLOYEE, "Unfair.")


@pytest.mark.parametrize("log", [appealed("approve"), appealed("deny"), closed()])
def test_a_case_is_appealed_once(log: Log) -> None:
    """cases.py: "only an appeal reopens the question, once per case": neither while an
    appeal is pending nor after its outcome."""
    with pytest.raises(WrongState, match="once per case"):
        log.case.lodge_appeal(EMPLOYEE, "Again.")


def test_an_appeal_needs_its_grounds() -> None:
    """An appeal is recorded with what it contests; blank grounds are refused."""
    with pytest.raises(CaseRefused, match="grounds of the appeal"):
        decided("deny").case.lodge_appeal(EMPLOYEE, " \n")


@pytest.mark.parametrize("actor", [EMPLOYEE, DECIDER])
def test_the_appeal_is_heard_by_someone_other_than_the_employee_and_the_first_decider(
    actor: str,
) -> None:
    """cases.py: "Nobody decides their own case, and an appeal is heard by someone other than
    the person who made the decision appealed"."""
    case = appealed("deny").case
    for result, outcome in (("upheld", None), ("overturned", "approve")):
        with pytest.raises(NotEntitled, match="someone other than the employee"):
            case.decide_appeal(actor, result, outcome, "Heard.", ready(), CAMPAIGN)  # type: ignore[arg-type]
    heard = case.decide_appeal(SECOND_DECIDER, "upheld", None, "Heard.", ready(), CAMPAIGN)
    assert heard.result == "upheld"


@pytest.mark.parametrize("outcome", ["approve", "deny"])
def test_upholding_keeps_the_outcome_and_giving_another_is_refused(outcome: Outcome) -> None:
    """`Case.decide_appeal`: "Uphold the decision"; an upheld decision keeps its outcome."""
    log = appealed(outcome)
    case = log.case
    other: Outcome = "deny" if outcome == "approve" else "approve"
    for refused in (other, "defer"):
        with pytest.raises(CaseRefused, match="upheld decision keeps its outcome"):
            case.decide_appeal(SECOND_DECIDER, "upheld", refused, "Hm.", ready(), CAMPAIGN)  # type: ignore[arg-type]
    same = case.decide_appeal(SECOND_DECIDER, "upheld", outcome, "Stands.", ready(), CAMPAIGN)
    assert (same.result, same.outcome) == ("upheld", outcome)
    payload = case.decide_appeal(SECOND_DECIDER, "upheld", None, "Stands.", ready(), CAMPAIGN)
    assert (payload.result, payload.outcome) == ("upheld", outcome)
    case = log.add("appeal_outcome", SECOND_DECIDER, payload)
    assert (case.status, case.open, case.final_outcome) == ("closed", False, outcome)


@pytest.mark.parametrize("outcome", ["approve", "deny"])
def test_overturning_needs_an_outcome_other_than_the_one_appealed(outcome: Outcome) -> None:
    """`Case.decide_appeal`: "overturn it with another outcome"; the outcome that stands is
    then the appeal's, and the decision appealed stays on record."""
    log = appealed(outcome)
    case = log.case
    for same in (None, outcome):
        with pytest.raises(CaseRefused, match=f"outcome other than '{outcome}'"):
            case.decide_appeal(SECOND_DECIDER, "overturned", same, "Hm.", ready(), CAMPAIGN)
    other: Outcome = "deny" if outcome == "approve" else "approve"
    payload = case.decide_appeal(SECOND_DECIDER, "overturned", other, "Misread.", ready(), "c")
    assert (payload.result, payload.outcome, payload.rationale) == (
        "overturned",
        other,
        "Misread.",
    )
    case = log.add("appeal_outcome", SECOND_DECIDER, payload)
    assert (case.status, case.final_outcome) == ("closed", other)
    assert case.decision is not None
    assert case.decision.outcome == outcome
    assert case.appeal_outcome is not None
    assert case.appeal_outcome.decided_by == SECOND_DECIDER


def test_overturning_to_an_approval_is_judged_on_the_criteria_met_now() -> None:
    """cases.py: approval needs every criterion met at the moment of the decision, on appeal
    too; the refusal names what is unmet."""
    case = appealed("deny").case
    with pytest.raises(WrongState, match=r"criteria not met: evidence:.*calibration_confirmation"):
        case.decide_appeal(SECOND_DECIDER, "overturned", "approve", "Hm.", not_ready(), CAMPAIGN)


def test_an_appeal_outcome_needs_an_appeal() -> None:
    """There is no appeal to decide before one is lodged, nor a second time."""
    for log in (decided("deny"), closed()):
        with pytest.raises(WrongState, match="no appeal to decide"):
            log.case.decide_appeal(SECOND_DECIDER, "upheld", None, "Hm.", ready(), CAMPAIGN)


def test_an_appeal_is_not_overturned_to_a_deferral() -> None:
    """cases.py: an appeal ends the case, so it is decided, approve or deny: a deferral would
    leave an appealed case with no decision ever to come."""
    log = appealed("deny")
    with pytest.raises(CaseRefused, match="not defer"):
        log.case.decide_appeal(
            SECOND_DECIDER, "overturned", "defer", "Wait for Q3 scores.", ready(), CAMPAIGN
        )
    assert log.case.status == "appealed"


# -- evidence ----------------------------------------------------------------------------------


def test_evidence_must_be_an_item_the_criteria_name() -> None:
    """docs/domain.md §6: "scope evidence named by the criteria"; anything else is refused, with
    the items the criteria name."""
    case = Log().case
    with pytest.raises(CaseRefused, match=re.escape(f"they name: ['{LEAD}']")):
        case.attach_evidence("did great things", "Trust me.", NAMED)
    with pytest.raises(CaseRefused, match="they name: none"):
        case.attach_evidence(LEAD, "Migration.", [])
    with pytest.raises(CaseRefused, match="a note saying what the evidence is"):
        case.attach_evidence(LEAD, "   ", NAMED)
    payload = case.attach_evidence(LEAD, " The payments migration. ", iter(NAMED))
    assert payload.record() == {"item": LEAD, "note": "The payments migration."}


# -- the fold ------------------------------------------------------------------------------------

# A case through every kind of entry: deferred, denied, appealed and overturned.
SCRIPT: list[tuple[EntryKind, str, Command]] = [
    ("endorsement", MANAGER, lambda case: case.endorse(MANAGER, MANAGER, "Ready.")),
    ("evidence", EMPLOYEE, lambda case: case.attach_evidence(LEAD, "Checkout.", NAMED)),
    ("calibration_confirmation", HR, lambda case: case.confirm("cal-2025-q2", True, "")),
    ("readiness_evaluated", HR, lambda case: case.evaluated(not_ready(), CAMPAIGN)),
    ("decision", DECIDER, decide("defer", not_ready())),
    ("readiness_evaluated", HR, lambda case: case.evaluated(ready(), CAMPAIGN)),
    ("decision", DECIDER, decide("deny", ready())),
    ("appeal", EMPLOYEE, lambda case: case.lodge_appeal(EMPLOYEE, "Scores misread.")),
    (
        "appeal_outcome",
        SECOND_DECIDER,
        lambda case: case.decide_appeal(
            SECOND_DECIDER, "overturned", "approve", "Misread.", ready(), CAMPAIGN
        ),
    ),
]


def scripted() -> Log:
    log = Log()
    for kind, actor, command in SCRIPT:
        log.step(kind, actor, command)
    return log


def test_published_counts_exactly_the_entries_that_go_out_as_events() -> None:
    """cases.py: the entries "that also go out as integration events, and so count on the
    case's event stream" are nomination, readiness_evaluated, decision and appeal_outcome;
    endorsement, evidence, calibration confirmation and appeal stay in the log."""
    assert {"nomination", "readiness_evaluated", "decision", "appeal_outcome"} == PUBLISHED_KINDS
    log = Log()
    counts = [(log.case.published, log.case.entries)]
    for kind, actor, command in SCRIPT:
        case = log.step(kind, actor, command)
        counts.append((case.published, case.entries))
    assert counts == [
        (1, 1),  # nomination
        (1, 2),  # endorsement
        (1, 3),  # evidence
        (1, 4),  # calibration confirmation
        (2, 5),  # readiness evaluated
        (3, 6),  # decision: defer
        (4, 7),  # readiness evaluated
        (5, 8),  # decision: deny
        (5, 9),  # appeal
        (6, 10),  # appeal outcome
    ]


def test_replaying_the_entries_after_each_step_gives_the_state_applied_one_by_one() -> None:
    """cases.py: "A case has no table of its own: it is its entries in the decision log,
    folded in order by `Case.replay`", so what the case looked like when anyone acted is
    exactly what the log says: folding every prefix from scratch, applying the entries one by
    one, and folding the bodies as storage gives them back all agree."""
    entries = scripted().entries
    folded = Case.replay(entries[:1])
    for count, entry in enumerate(entries, 1):
        if count > 1:
            folded.apply(entry)
        prefix = entries[:count]
        assert Case.replay(prefix) == folded, f"after entry {count} ({entry.kind})"
        stored = [LogEntry.from_body(e.body or b"", e.hash) for e in prefix]
        assert Case.replay(stored) == folded, f"read back, after entry {count} ({entry.kind})"
    assert (folded.status, folded.final_outcome) == ("closed", "approve")


def test_the_fold_keeps_what_each_step_recorded() -> None:
    """docs/domain.md §6: an auditor can reconstruct any decision with the exact inputs it used:
    the case replayed from its entries holds who acted, when, and on what."""
    log = scripted()
    case, entries = log.case, log.entries
    assert (case.case_id, case.employee_id, case.cycle_id) == (CASE_ID, EMPLOYEE, "2025-h1")
    assert (case.framework_id, case.move["to_level"]) == ("fw-eng", "L4")
    assert (case.nominated_by, case.nominated_at) == (MANAGER, START)
    assert case.operating_since == date(2025, 3, 30)
    assert case.endorsed_by == MANAGER
    assert case.evidence[LEAD].provided_by == EMPLOYEE
    assert case.evidence[LEAD].at == entries[2].recorded_at
    assert case.evidence[LEAD].note == "Checkout."
    assert (case.confirmation, case.confirmed_in_session) == (("cal-2025-q2", True), "cal-2025-q2")
    assert case.decision is not None
    assert (case.decision.outcome, case.decision.decided_by) == ("deny", DECIDER)
    assert (case.decision.at, case.decision.sequence) == (entries[7].recorded_at, 8)
    assert case.decision.rationale == "Written reasons to deny."
    assert case.appeal == (EMPLOYEE, "Scores misread.")
    assert case.appeal_outcome is not None
    assert (case.appeal_outcome.outcome, case.appeal_outcome.sequence) == ("approve", 10)
    assert case.readiness == entries[-1].payload["readiness"]


def test_a_rejecting_calibration_session_is_no_confirmation() -> None:
    """docs/domain.md §6: "confirmation in a calibration session"; a session that rejects the
    nomination leaves the case unconfirmed, and a later confirming one counts."""
    log = Log()
    case = log.step("calibration_confirmation", HR, lambda c: c.confirm("cal-1", False, " No. "))
    assert (case.confirmation, case.confirmed_in_session) == (("cal-1", False), None)
    assert log.entries[-1].payload == {"session_id": "cal-1", "confirmed": False, "note": "No."}
    case = log.step("calibration_confirmation", HR, lambda c: c.confirm("cal-2", True, ""))
    assert case.confirmed_in_session == "cal-2"


def test_a_case_is_replayed_from_its_nomination() -> None:
    """`Case.replay`: "the first must be its nomination"."""
    entries = endorsed().entries
    with pytest.raises(ValueError, match="starts with its nomination"):
        Case.replay([])
    with pytest.raises(ValueError, match="starts with its nomination"):
        Case.replay(entries[1:])
