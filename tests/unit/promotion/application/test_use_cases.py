"""The promotion use cases (docs/domain.md §6) on in-memory ports: who may take each step,
what each step records in the decision log and publishes, and that a refused step leaves
nothing behind. The PostgreSQL adapters are tested in tests/integration."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from libs.events.schemas.assessment import CalibrationCompleted
from libs.events.schemas.hris import ProtectedAttributeRecorded
from libs.events.schemas.promotion import ErasureCleared
from services.promotion.application import (
    audit,
    cases,
    criteria,
    cycle,
    erasure,
    holds,
    reactions,
    readiness,
)
from services.promotion.application.checkpoints import CheckpointRefused, Checkpoints
from services.promotion.application.promotion import NotFound, Promotion, case_stream
from services.promotion.domain.cases import CaseRefused, NotEntitled, WrongState
from services.promotion.domain.criteria import TransitionError
from services.promotion.domain.decision_log import ERASED, Checkpoint, LogEntry, verify
from services.promotion.domain.payloads import payload_of
from services.promotion.domain.readiness import HrisPosition
from tests.support.calibrations import calibration
from tests.support.envelopes import envelope
from tests.support.memory import person
from tests.support.promotion_memory import Actor, MemoryPromotion, MemoryWork
from tests.support.sample_frameworks import valid_framework

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
LEAD, OTHER_LEAD = "emp-lead", "emp-other-lead"
ANN, BEN, CAT = "emp-ann", "emp-ben", "emp-cat"
COMMITTEE, SECOND_COMMITTEE = "cara-committee", "dan-committee"
# Everyone at L3 is judged for L4 on coding 4, testing 3 and the three core competencies.
STRONG = {"coding": 4, "testing": 4, "collaboration": 3.5, "ownership": 3, "communication": 3}
WEAK = {"coding": 2.5, "testing": 3, "collaboration": 3, "ownership": 3, "communication": 3}

lead = Actor(LEAD, frozenset({"manager"}))
other_lead = Actor(OTHER_LEAD, frozenset({"manager"}))
hr = Actor("emp-hr", frozenset({"hr_admin"}))
auditor = Actor("emp-auditor", frozenset({"auditor"}))
officer = Actor("emp-privacy", frozenset({"privacy_officer"}))
legal = Actor("emp-legal", frozenset({"legal"}))
committee = Actor(COMMITTEE, frozenset({"promotion_committee"}))
second_committee = Actor(SECOND_COMMITTEE, frozenset({"promotion_committee"}))
ann = Actor(ANN, frozenset({"employee"}))
ben = Actor(BEN, frozenset({"employee"}))


class World:
    """One promotion service in memory: the sample framework published as eng version 1,
    a lead with Ann and Ben below them, and another lead elsewhere."""

    def __init__(self) -> None:
        self.work = MemoryWork()
        self.uow = MemoryPromotion(self.work)
        self.promotion = Promotion(self.uow, "promotion_committee", clock=lambda: NOW)
        for p in (
            person(LEAD, None, track="manager", level="M2"),
            person(ANN, LEAD, track="ic", level="L3"),
            person(BEN, LEAD, track="ic", level="L3"),
            person(CAT, LEAD, track="ic", level="L3"),  # never calibrated
            person(OTHER_LEAD, None, track="manager", level="M2"),
        ):
            self.work.org_chart.hire(p)
        self.publish(1)

    def publish(self, version: int) -> None:
        self.work.frameworks.publish("eng", version, valid_framework())

    async def calibrate(self, event: CalibrationCompleted) -> None:
        async with self.uow.transaction() as tx:
            await reactions.on_calibration(tx, envelope(event, "calibration"), event)

    async def nominate(self, employee: str, cycle_id: str = "2026-h1") -> str:
        view = await cases.nominate(
            self.promotion, employee, cycle_id, lead, operating_since=date(2025, 6, 1)
        )
        return view.case_id

    async def ready_case(self, employee: str, session: str = "s1") -> str:
        """Nominated, endorsed and confirmed: every default criterion can be met."""
        case_id = await self.nominate(employee)
        await cases.endorse(self.promotion, case_id, lead, "ready")
        await cases.confirm(self.promotion, case_id, session, True, "", hr)
        return case_id

    @property
    def log(self) -> list[LogEntry]:
        return self.work.log.entries

    def events(self, case_id: str) -> list[str]:
        return [e.event_type for e in self.work.events.stream(case_stream(case_id))]


@pytest.fixture
async def world() -> World:
    w = World()
    await w.calibrate(calibration("s1", {ANN: STRONG, BEN: WEAK}))
    return w


# -- a case from nomination to decision --------------------------------------------------------


async def test_a_case_from_nomination_to_decision_is_logged_and_published(world: World) -> None:
    """docs/domain.md §6: each step an entry; the decision records the criteria version, the
    calibration and the scores as they were; nomination, evaluation and decision go out."""
    case_id = await world.ready_case(ANN)
    evaluated = await cases.evaluate(world.promotion, case_id, lead)
    assert evaluated.ready is True
    decided = await cases.decide(
        world.promotion, case_id, "approve", "Meets every criterion.", committee
    )
    assert (decided.status, decided.outcome) == ("approved", "approve")
    assert [e.kind for e in decided.entries] == [
        "nomination",
        "endorsement",
        "calibration_confirmation",
        "readiness_evaluated",
        "decision",
    ]
    decision = decided.entries[-1]
    assert decision.actor == COMMITTEE
    recorded = decision.payload["readiness"]
    assert (recorded["criteria_version"], recorded["calibration"]["session_id"]) == (1, "s1")
    assert recorded["calibration"]["scores"]["coding"] == 4
    assert world.events(case_id) == ["PromotionNominated", "PromotionEvaluated", "PromotionDecided"]
    assert verify(world.log).ok


async def test_the_default_criteria_are_recorded_once_as_version_1(world: World) -> None:
    first = await criteria.criteria(world.promotion)
    again = await criteria.criteria(world.promotion, 1)
    assert (first.version, again) == (1, first)
    assert len(world.work.records.criteria_versions) == 1
    with pytest.raises(NotFound, match="version 2"):
        await criteria.criteria(world.promotion, 2)


async def test_only_hr_publishes_criteria_and_an_invalid_set_is_refused(world: World) -> None:
    draft = {"scale": "0..5", "default": {"minimum_average": 3.0}, "overrides": []}
    with pytest.raises(NotEntitled, match="hr_admin"):
        await criteria.publish_criteria(world.promotion, draft, committee)
    with pytest.raises(CaseRefused, match="criteria refused"):
        await criteria.publish_criteria(world.promotion, {"scale": "1..9"}, hr)
    published = await criteria.publish_criteria(world.promotion, draft, hr)
    assert published.version == 2, "the defaults became version 1 first"
    assert published.default.minimum_average == 3.0


# -- refusals leave nothing behind --------------------------------------------------------------


async def test_a_refused_decision_writes_no_entry_and_publishes_nothing(world: World) -> None:
    case_id = await world.nominate(ANN)
    before = (len(world.log), len(world.work.events.envelopes))
    with pytest.raises(NotEntitled, match="promotion_committee"):
        await cases.decide(world.promotion, case_id, "deny", "No.", lead)
    with pytest.raises(NotEntitled, match="promotion_committee"):
        await cases.decide(world.promotion, case_id, "deny", "No.", hr)
    with pytest.raises(WrongState, match="no manager endorsement"):
        await cases.decide(world.promotion, case_id, "deny", "No.", committee)
    await cases.endorse(world.promotion, case_id, lead)
    with pytest.raises(CaseRefused, match="rationale"):
        await cases.decide(world.promotion, case_id, "deny", "  ", committee)
    assert len(world.log) == before[0] + 1, "the endorsement only"
    assert len(world.work.events.envelopes) == before[1]


async def test_an_approval_needs_every_criterion_met_and_a_denial_does_not(world: World) -> None:
    case_id = await world.ready_case(BEN)
    with pytest.raises(WrongState, match=r"criteria not met: .*coding"):
        await cases.decide(world.promotion, case_id, "approve", "Feels ready.", committee)
    denied = await cases.decide(world.promotion, case_id, "deny", "Coding below 3.", committee)
    assert (denied.status, denied.ready) == ("denied", False)


async def test_nobody_decides_their_own_promotion(world: World) -> None:
    case_id = await world.ready_case(ANN)
    herself = Actor(ANN, frozenset({"promotion_committee"}))
    with pytest.raises(NotEntitled, match="their own promotion"):
        await cases.decide(world.promotion, case_id, "approve", "I am ready.", herself)


async def test_a_second_open_case_and_a_nomination_from_outside_the_line_are_refused(
    world: World,
) -> None:
    first = await world.nominate(ANN)
    with pytest.raises(WrongState, match=f"open promotion case .*{first}"):
        await world.nominate(ANN)
    with pytest.raises(NotEntitled, match="only a manager above"):
        await cases.nominate(world.promotion, BEN, "2026-h1", other_lead)
    with pytest.raises(NotFound, match="not a current employee"):
        await cases.nominate(world.promotion, "emp-nobody", "2026-h1", hr)
    with pytest.raises(NotFound, match="no promotion case"):
        await cases.endorse(world.promotion, "case-unknown", lead)
    assert [e.kind for e in world.log] == ["nomination"]


async def test_evidence_comes_from_the_person_their_line_or_hr_for_a_named_item(
    world: World,
) -> None:
    item = "has led a project with 3 or more cross-team stakeholders"
    draft = {"default": {"evidence": [item]}}
    await criteria.publish_criteria(world.promotion, draft, hr)
    case_id = await world.nominate(ANN)
    with pytest.raises(NotEntitled, match="evidence comes from"):
        await cases.attach_evidence(world.promotion, case_id, item, "Mine.", ben)
    with pytest.raises(CaseRefused, match="not an evidence item"):
        await cases.attach_evidence(world.promotion, case_id, "baking", "Cakes.", ann)
    view = await cases.attach_evidence(world.promotion, case_id, item, "Payments.", ann)
    assert view.evidence == [item]


async def test_a_confirmation_names_a_session_that_scored_the_person(world: World) -> None:
    case_id = await world.nominate(ANN)
    with pytest.raises(NotEntitled, match="hr_admin"):
        await cases.confirm(world.promotion, case_id, "s1", True, "", lead)
    with pytest.raises(CaseRefused, match="did not score"):
        await cases.confirm(world.promotion, case_id, "s-other", True, "", hr)
    view = await cases.confirm(world.promotion, case_id, "s1", True, "", hr)
    assert view.confirmed_in_session == "s1"


# -- appeals: the same decision path ------------------------------------------------------------


async def test_an_overturned_denial_is_decided_on_appeal_by_someone_else(world: World) -> None:
    case_id = await world.ready_case(ANN)
    await cases.decide(world.promotion, case_id, "deny", "Not yet.", committee)
    with pytest.raises(NotEntitled, match="only 'emp-ann' or a manager above them"):
        await cases.appeal(world.promotion, case_id, "Misread.", ben)
    await cases.appeal(world.promotion, case_id, "My scores were misread.", ann)
    with pytest.raises(NotEntitled, match="may not hear this appeal"):
        await cases.decide_appeal(
            world.promotion, case_id, "overturned", "approve", "Re-heard.", committee
        )
    with pytest.raises(NotEntitled, match="promotion_committee"):
        await cases.decide_appeal(world.promotion, case_id, "upheld", None, "Stands.", lead)
    closed = await cases.decide_appeal(
        world.promotion, case_id, "overturned", "approve", "Scores were misread.", second_committee
    )
    assert (closed.status, closed.outcome) == ("closed", "approve")
    outcome = closed.entries[-1]
    assert (outcome.kind, outcome.payload["result"]) == ("appeal_outcome", "overturned")
    assert outcome.payload["readiness"]["ready"] is True
    log = world.work.events
    decided = [await log.decode(e) for e in log.envelopes if e.event_type == "PromotionDecided"]
    assert [(e.outcome, e.on_appeal) for e in decided] == [("deny", False), ("approve", True)]  # type: ignore[attr-defined]


async def test_an_upheld_decision_keeps_its_outcome(world: World) -> None:
    case_id = await world.ready_case(BEN)
    await cases.decide(world.promotion, case_id, "deny", "Coding below 3.", committee)
    await cases.appeal(world.promotion, case_id, "Unfair.", lead)
    upheld = await cases.decide_appeal(
        world.promotion, case_id, "upheld", None, "Scores stand.", second_committee
    )
    assert (upheld.status, upheld.outcome) == ("closed", "deny")
    with pytest.raises(WrongState, match="no appeal to decide"):
        await cases.decide_appeal(
            world.promotion, case_id, "upheld", None, "Again.", second_committee
        )


# -- readiness ------------------------------------------------------------------------------


async def test_readiness_before_a_case_shows_what_is_not_there_yet(world: World) -> None:
    judged = await readiness.readiness_of(world.promotion, ANN, lead)
    assert (judged.transition.to_level, judged.ready) == ("L4", False)
    unmet = {r.name for r in judged.unmet}
    assert unmet, "endorsement, confirmation and evidence are not there before a case"
    assert all(r.met for r in judged.results if r.name not in unmet)
    with pytest.raises(NotEntitled, match="may not see"):
        await readiness.readiness_of(world.promotion, ANN, ben)
    with pytest.raises(NotEntitled, match="may not see"):
        await readiness.readiness_of(world.promotion, ANN, other_lead)
    assert (await readiness.readiness_of(world.promotion, ANN, ann)) == judged


async def test_readiness_needs_a_calibration(world: World) -> None:
    case_id = await world.nominate(ANN)
    await world.nominate(BEN)
    world.work.records.calibrations.clear()
    with pytest.raises(WrongState, match="no calibration has scored"):
        await cases.evaluate(world.promotion, case_id, lead)
    with pytest.raises(WrongState, match="no calibration has scored"):
        await readiness.readiness_of(world.promotion, ANN, hr)


async def test_time_at_level_is_judged_on_the_hris_level_start_not_the_nomination(
    world: World,
) -> None:
    """docs/domain.md §6, Readiness. Now is 2026-03-02. The HRIS dates Ann's current level
    from 2025-12-15: 0 whole quarters (15 March is still to come); the nomination says
    2025-06-01: 3 whole quarters (1 September, 1 December, 1 March). The HRIS is judged."""
    world.work.org_chart.hire(person(ANN, LEAD, level_since=date(2025, 12, 15)))
    case_id = await world.ready_case(ANN)
    evaluated = await cases.evaluate(world.promotion, case_id, lead)
    assert evaluated.ready is False
    recorded = payload_of(world.log[-1]).readiness  # type: ignore[attr-defined]
    assert [r.name for r in recorded.unmet] == ["time_at_level"]
    assert (recorded.operating_since, recorded.nominated_since) == (
        date(2025, 12, 15),
        date(2025, 6, 1),
    )
    result = recorded.result("time_at_level")
    assert (result.met, result.actual) == (False, 0)
    assert result.disagreement == (
        "the nomination dates the current level from 2025-06-01 (3 whole quarter(s) by "
        "2026-03-02), but the HRIS dates the current level from 2025-12-15; only the HRIS is "
        "judged"
    )
    assert recorded.hris_position == HrisPosition(family="eng", track="ic", level="L3")


async def test_a_person_the_org_chart_does_not_know_has_no_time_at_level(world: World) -> None:
    """No level start from the HRIS: not met, with nothing found, as a missing date was."""
    del world.work.org_chart.people[ANN]
    judged = await readiness.readiness_of(world.promotion, ANN, hr)
    result = judged.result("time_at_level")
    assert (result.met, result.actual, result.disagreement) == (False, None, None)
    assert result.evidence == (
        "the org chart holds no HRIS record of the person: no level start to count time at "
        "level from"
    )
    assert judged.hris_position is None


async def test_an_unknown_level_start_is_not_met_and_says_so(world: World) -> None:
    """The org chart has Ann at L3, but cannot date when L3 began (docs/domain.md §6)."""
    world.work.org_chart.hire(person(ANN, LEAD, level_since=None))
    result = (await readiness.readiness_of(world.promotion, ANN, hr)).result("time_at_level")
    assert (result.met, result.actual) == (False, None)
    assert result.evidence.startswith("the start of their current level (eng ic L3) is unknown")


async def test_time_at_level_counts_only_at_the_position_the_move_is_from(world: World) -> None:
    """Ann was calibrated at L3, so the move judged is L3 to L4; the HRIS has since promoted
    her to L4 on 2024-01-02 (long ago: 8 whole quarters and more). Time at L4 says nothing
    of the move from L3: not met, saying where the HRIS has her."""
    world.work.org_chart.hire(person(ANN, LEAD, level="L4", level_since=date(2024, 1, 2)))
    judged = await readiness.readiness_of(world.promotion, ANN, hr)
    assert (judged.transition.from_level, judged.transition.to_level) == ("L3", "L4")
    result = judged.result("time_at_level")
    assert (result.met, result.actual) == (False, None)
    assert result.evidence == (
        "the HRIS has them at eng ic L4, the move is from eng ic L3: time at level counts only "
        "the level moved from"
    )
    assert judged.hris_position == HrisPosition(family="eng", track="ic", level="L4")


async def test_a_move_the_framework_does_not_offer_is_refused(world: World) -> None:
    with pytest.raises(TransitionError, match=r"offers no move .* it offers: ic L4, manager M1"):
        await readiness.readiness_of(world.promotion, ANN, hr, to_level="L9")


# -- the cycle's evaluation ---------------------------------------------------------------------


async def test_a_cycle_is_evaluated_once_per_calibration(world: World) -> None:
    ann_case = await world.ready_case(ANN)
    ben_case = await world.nominate(BEN)
    await cases.nominate(world.promotion, CAT, "2026-h2", hr)
    seen: list[int] = []
    first = await cycle.evaluate_cycle(world.promotion, "2026-h1", hr, seen.append)
    assert (first.cases, first.evaluated, first.ready, seen) == (2, 2, 1, [1, 2])
    again = await cycle.evaluate_cycle(world.promotion, "2026-h1", hr)
    assert (again.cases, again.evaluated, again.ready) == (2, 0, 1), "found done"
    assert world.events(ann_case).count("PromotionEvaluated") == 1
    # A newer calibration of Ben's: his case is evaluated again, Ann's is not.
    world.work.records.calibrations[:] = []
    await world.calibrate(calibration("s1", {ANN: STRONG}))
    later = calibration("s2", {BEN: STRONG})
    async with world.uow.transaction() as tx:
        await tx.records.record_calibration(later, NOW + timedelta(days=1))
    third = await cycle.evaluate_cycle(world.promotion, "2026-h1", hr)
    assert (third.evaluated, world.events(ben_case).count("PromotionEvaluated")) == (1, 2)


async def test_a_cycle_evaluation_is_for_hr_and_never_overlaps(world: World) -> None:
    await world.nominate(ANN)
    with pytest.raises(NotEntitled, match="hr_admin"):
        await cycle.evaluate_cycle(world.promotion, "2026-h1", lead)
    async with world.uow.transaction() as running:
        assert await running.try_lock("evaluate-cycle.2026-h1")
        with pytest.raises(cycle.EvaluationInProgress, match="being evaluated already"):
            await cycle.evaluate_cycle(world.promotion, "2026-h1", hr)
    assert (await cycle.evaluate_cycle(world.promotion, "2026-h1", hr)).evaluated == 1


async def test_a_case_that_cannot_be_judged_yet_is_counted_not_evaluated(world: World) -> None:
    await world.nominate(ANN)
    await cases.nominate(world.promotion, CAT, "2026-h1", hr)
    result = await cycle.evaluate_cycle(world.promotion, "2026-h1", hr)
    assert (result.cases, result.evaluated) == (2, 1)


# -- audit queries and exports ----------------------------------------------------------------


async def test_a_record_is_for_the_person_their_line_hr_auditors_and_deciders(
    world: World,
) -> None:
    case_id = await world.nominate(ANN)
    for reader in (ann, lead, hr, auditor, committee):
        assert [e.kind for e in await audit.record(world.promotion, "case", case_id, reader)] == [
            "nomination"
        ]
    for outsider in (ben, other_lead):
        with pytest.raises(NotEntitled):
            await audit.record(world.promotion, "employee", ANN, outsider)
        with pytest.raises(NotEntitled):
            await audit.case(world.promotion, case_id, outsider)
    with pytest.raises(NotEntitled, match="HR and auditors"):
        await audit.record(world.promotion, "cycle", "2026-h1", committee)
    assert len(await audit.record(world.promotion, "cycle", "2026-h1", auditor)) == 1
    with pytest.raises(NotFound):
        await audit.case(world.promotion, "case-missing", hr)


async def test_the_report_quotes_the_decision_and_names_the_case(world: World) -> None:
    case_id = await world.ready_case(ANN)
    rationale = "Led the payments migration."
    await cases.decide(world.promotion, case_id, "approve", rationale, committee)
    text = await audit.report(world.promotion, "case", case_id, auditor)
    assert f"case {case_id}" in text
    assert rationale in text


async def test_a_decision_is_shown_as_it_was_made_whatever_was_published_since(
    world: World,
) -> None:
    case_id = await world.ready_case(ANN)
    with pytest.raises(NotFound, match="has no decision"):
        await audit.as_decided(world.promotion, case_id, hr)
    await cases.decide(world.promotion, case_id, "approve", "Ready.", committee)
    world.publish(2)
    shown = await audit.as_decided(world.promotion, case_id, ann)
    assert (shown.framework_version, shown.latest_framework_version) == (1, 2)
    assert shown.target_profile is not None
    assert shown.target_profile.level == "L4"
    assert (shown.criteria_version, shown.readiness.ready) == (1, True)
    assert shown.decision.kind == "decision"


async def test_fairness_is_for_hr_and_auditors_and_counts_each_decision(world: World) -> None:
    with pytest.raises(NotEntitled, match="HR and auditors"):
        await audit.fairness(world.promotion, "sex", committee)
    async with world.uow.transaction() as tx:
        for employee, value in ((ANN, "a"), (BEN, "b")):
            fact = ProtectedAttributeRecorded(
                employee_id=employee, effective_on=date(2026, 1, 1), attribute="sex", value=value
            )
            await reactions.on_protected_attribute(tx, envelope(fact, employee), fact)
    for employee, outcome in ((ANN, "approve"), (BEN, "deny")):
        case_id = await world.ready_case(employee)
        await cases.decide(world.promotion, case_id, outcome, "Reasons.", committee)  # type: ignore[arg-type]
    (fairness,) = await audit.fairness(world.promotion, "sex", hr, min_group_size=1)
    rates = {g.group: (g.considered, g.selected) for g in fairness.groups}
    assert (fairness.cycle, rates) == ("2026-h1", {"a": (1, 1), "b": (1, 0)})


# -- verification and checkpoints -------------------------------------------------------------


class MemorySink:
    def __init__(self) -> None:
        self.path = Path("memory")
        self.signed: list[Checkpoint] = []

    def latest(self) -> Checkpoint | None:
        return self.signed[-1] if self.signed else None

    def append(self, checkpoint: Checkpoint) -> None:
        self.signed.append(checkpoint)


class Key:
    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()

    def load(self):
        return self.key


def tamper(world: World, sequence: int, rationale: str) -> None:
    """An administrator's edit of one stored entry's payload, its body left alone."""
    log = world.work.log.entries
    entry = log[sequence - 1]
    log[sequence - 1] = dataclasses.replace(
        entry, payload={**entry.payload, "rationale": rationale}
    )


def tamper_body(world: World, sequence: int, old: bytes, new: bytes) -> None:
    """An administrator's edit of one stored entry's body, its hash left alone."""
    log = world.work.log.entries
    entry = log[sequence - 1]
    assert entry.body is not None
    log[sequence - 1] = dataclasses.replace(entry, body=entry.body.replace(old, new))


async def test_an_edited_entry_fails_verification_and_stops_the_signing(world: World) -> None:
    case_id = await world.ready_case(BEN)
    await cases.decide(world.promotion, case_id, "deny", "Coding below 3.", committee)
    assert audit.verify_log(world.log).chain.ok  # type: ignore[union-attr]
    tamper(world, 4, "Not liked.")
    result = audit.verify_log(world.log).chain
    assert result is not None
    assert result.failure is not None
    assert (result.failure.sequence, result.failure.reason) == (4, "altered")
    assert "payload" in result.failure.detail
    # Signing reads the bodies alone (`verify(..., check_columns=False)`): the column edit
    # is not its concern, an edited body is.
    signer = Checkpoints(world.uow, Key(), MemorySink(), clock=lambda: NOW)
    assert await signer.sign() is not None
    tamper_body(world, 4, b'"outcome":"deny"', b'"outcome":"defer"')
    with pytest.raises(CheckpointRefused, match=r"not signing: .*entry 4"):
        await signer.sign()


async def test_a_checkpoint_is_signed_once_per_head_and_shows_a_rewrite(world: World) -> None:
    key, sink = Key(), MemorySink()
    signer = Checkpoints(world.uow, key, sink, clock=lambda: NOW)
    assert await signer.sign() is None, "an empty log has no head to sign"
    case_id = await world.nominate(ANN)
    signed = await signer.sign()
    assert signed is not None
    assert signed.sequence == 1
    assert await signer.sign() is None, "the head is signed already"
    await cases.endorse(world.promotion, case_id, lead)
    pinned = signed.fingerprint
    audited = audit.verify_log(world.log, signed, pinned)
    assert audited.against is not None
    assert (audited.against.ok, audited.against.after) == (True, 1)
    wrong = audit.verify_log(world.log, signed, "0" * 64)
    assert wrong.against is not None
    assert wrong.against.problem == "wrong_key"
    # The whole chain recomputed from a rewritten nomination: it verifies on its own, not
    # against the checkpoint, and the service refuses to sign over it.
    from services.promotion.domain.decision_log import build_chain

    rewritten = build_chain(
        {
            "kind": e.kind,
            "case_id": e.case_id,
            "employee_id": e.employee_id,
            "actor": e.actor,
            "recorded_at": e.recorded_at,
            "payload": {**e.payload, "note": "rewritten"},
        }
        for e in world.log
    )
    world.work.log.entries[:] = rewritten
    assert audit.verify_log(world.log).chain.ok  # type: ignore[union-attr]
    caught = audit.verify_log(world.log, signed, pinned)
    assert caught.against is not None
    assert caught.against.problem == "rewritten"
    with pytest.raises(CheckpointRefused, match="rewritten"):
        await signer.sign()


# -- erasing a person's text (docs/privacy.md, The decision log) -------------------------------


async def erase_ann(world: World, request_ref: str) -> erasure.PersonErased:
    """Ann's text erased as the service's erasure does it, for the officer the request
    names (checked before, by the erasure activity)."""
    async with world.promotion.uow.transaction() as tx:
        return await erasure.erase_text(world.promotion, tx, ANN, request_ref, officer.subject)


async def test_erasing_a_person_removes_their_cases_text_and_records_it_once(world: World) -> None:
    """Every note, rationale and ground of the person's case goes, whoever wrote it; an erasure
    entry names what went and under which request; readers show `[erased]`; the log verifies
    with the text read beside it; the same request again does nothing."""
    case_id = await world.ready_case(ANN)
    await cases.decide(world.promotion, case_id, "deny", "Ann's delivery slipped twice.", committee)
    await cases.appeal(world.promotion, case_id, "My scores were misread.", ann)
    with pytest.raises(CaseRefused, match="request_ref"):
        await erase_ann(world, " ")
    done = await erase_ann(world, "req-1")
    # Nomination note (""), endorsement "ready", confirmation note (""), rationale, grounds.
    assert (done.removed, done.repeated, len(done.entries)) == (5, False, 1)
    [entry] = done.entries
    assert (entry.kind, entry.case_id, entry.employee_id, entry.actor) == (
        "erasure",
        case_id,
        ANN,
        "emp-privacy",
    )
    assert world.work.log.personal == {}, "nothing of the case is held any more"
    shown = await audit.case(world.promotion, case_id, ann)
    assert shown.entries[-1].kind == "erasure"
    payloads = [e.payload for e in shown.entries]
    assert payloads[1]["note"] == ERASED
    assert [p["rationale"] for p in payloads if "rationale" in p] == [ERASED]
    assert [p["grounds"] for p in payloads if "grounds" in p] == [ERASED]
    report = await audit.report(world.promotion, "case", case_id, auditor)
    assert "delivery slipped" not in report
    assert "misread" not in report
    assert "Personal text erased" in report
    assert "req-1" in report
    rows = await world.work.log.of_case(case_id)
    result = verify(rows)
    assert result.ok, result.failure
    assert [e.fields for e in result.erased] == [
        ("note",),
        ("note",),
        ("note",),
        ("rationale",),
        ("grounds",),
    ]
    assert {e.request_ref for e in result.erased} == {"req-1"}

    again = await erase_ann(world, "req-1")
    assert (again.removed, again.repeated, again.entries) == (0, True, done.entries)
    assert len(world.log) == len(rows), "no second erasure entry"
    nothing = await erase_ann(world, "req-2")
    assert (nothing.removed, nothing.entries) == (0, ()), "nothing left to erase: no entry"


async def test_erasing_one_person_leaves_everyone_else_s_text(world: World) -> None:
    ann_case = await world.ready_case(ANN)
    ben_case = await world.ready_case(BEN)
    await cases.decide(world.promotion, ben_case, "deny", "Coding below 3.", committee)
    await erase_ann(world, "req-1")
    kept = await audit.case(world.promotion, ben_case, ben)
    assert kept.entries[-1].payload["rationale"] == "Coding below 3."
    assert kept.entries[1].payload["note"] == "ready"
    erased = await audit.case(world.promotion, ann_case, ann)
    assert erased.entries[1].payload["note"] == ERASED
    # A step after the erasure records new text, held until the next erasure.
    later = await cases.decide(world.promotion, ann_case, "deny", "Still not ready.", committee)
    assert later.entries[-1].payload["rationale"] == "Still not ready."


# -- clearing an erasure request (docs/privacy.md, Legal holds) --------------------------------


async def test_a_clearance_is_an_entry_with_its_event_and_holds_wait_for_the_erasure_s_end(
    world: World,
) -> None:
    """A cleared request is recorded once, with `ErasureCleared` in the same transaction;
    until the replica knows the request ended, no hold is placed on the person or their
    case (their keys may be gone); once it ended, holds are placed again."""
    case_id = await world.nominate(ANN)
    first = await holds.clear_erasure(world.promotion, ANN, "req-1", "emp-privacy")
    assert first == holds.Clearance(True)
    assert await holds.clear_erasure(world.promotion, ANN, "req-1", "emp-privacy") == first
    cleared = [e for e in world.log if e.kind == "erasure_cleared"]
    assert [(e.payload["request_ref"], e.payload["requested_by"]) for e in cleared] == [
        ("req-1", "emp-privacy")
    ]
    assert world.work.events.events(holds.erasure_stream("req-1")) == [
        ErasureCleared(request_ref="req-1", employee_id=ANN)
    ]
    for target in ({"employee_id": ANN}, {"case_id": case_id}):
        with pytest.raises(WrongState, match=r"erasure cleared on .* under request req-1"):
            await holds.place_hold(world.promotion, legal, "Claim 7.", **target)
    await holds.place_hold(world.promotion, legal, "Claim 8.", employee_id=BEN)
    world.work.erasures.ended_refs.add("req-1")
    placed = await holds.place_hold(world.promotion, hr, "Claim 7.", case_id=case_id)
    assert (placed.placed_as, placed.lifted_by) == ("hr_admin", ("hr_admin", "legal"))
    refused = await holds.clear_erasure(world.promotion, ANN, "req-2", "emp-privacy")
    assert not refused.cleared
    assert placed.hold_id in refused.reason
    assert "Claim 7." not in refused.reason, "the reason stays in the log"
