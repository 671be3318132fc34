"""The promotion service's use cases (docs/domain.md §6).

Every step of a case is one transaction: take the decision log's append lock, fold the case
from its entries, check the step against it (`services.promotion.domain.cases`), append the
step's entry and, for nominations, evaluations and decisions, the integration event on the
case's stream. So the log and the events never disagree, and two steps on one case never
interleave.

Readiness is always computed from this service's own read models: the calibrated scores
`CalibrationCompleted` brought, the framework version those scores were calibrated under
(its target role profile), and the latest criteria version. A decision records that
readiness, so the decision entry alone shows what it was judged on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, cast, get_args
from uuid import uuid4

from psycopg import AsyncConnection
from pydantic import BaseModel, ConfigDict, ValidationError

from libs.events.envelope import Envelope, EventMetadata
from libs.events.registry import IntegrationEvent
from libs.events.schemas.assessment import CalibrationCompleted
from libs.events.schemas.framework import EffectiveRoleProfile, Framework, TrackKind
from libs.events.schemas.hris import ProtectedAttributeRecorded
from libs.events.schemas.promotion import (
    Move,
    PromotionDecided,
    PromotionEvaluated,
    PromotionNominated,
)
from libs.events.store import EventStore
from libs.platform.auth import Actor
from libs.replicas.framework_versions import FrameworkVersions
from libs.replicas.org_chart import OrgChart
from services.promotion.adapters.postgres.decision_log import DecisionLog
from services.promotion.adapters.postgres.records import Calibrated, PromotionRecords
from services.promotion.domain import audit_report
from services.promotion.domain.cases import (
    AppealResult,
    Case,
    CaseRefused,
    NotEntitled,
    Outcome,
    WrongState,
    nominate,
)
from services.promotion.domain.criteria import (
    CriteriaSet,
    Transition,
    TransitionError,
    next_level,
    transitions_from,
)
from services.promotion.domain.decision_log import EntryKind, LogEntry
from services.promotion.domain.fairness import CycleFairness, Decision, adverse_impact
from services.promotion.domain.readiness import Readiness, evaluate, target_competencies

ACTOR = "service:promotion"
_TRY_LOCK = "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))"


class NotFound(CaseRefused):
    pass


def case_stream(case_id: str) -> str:
    return f"promotion-case-{case_id}"


def _now() -> datetime:
    return datetime.now(UTC)


class EntryView(BaseModel):
    """One decision-log entry as the API shows it."""

    model_config = ConfigDict(frozen=True)

    sequence: int
    kind: EntryKind
    case_id: str
    employee_id: str
    actor: str
    recorded_at: datetime
    payload: dict[str, Any]
    hash: str
    previous_hash: str

    @classmethod
    def of(cls, entry: LogEntry) -> EntryView:
        return cls(
            sequence=entry.sequence,
            kind=entry.kind,
            case_id=entry.case_id,
            employee_id=entry.employee_id,
            actor=entry.actor,
            recorded_at=entry.recorded_at,
            payload=dict(entry.payload),
            hash=entry.hash,
            previous_hash=entry.previous_hash,
        )


class CaseView(BaseModel):
    """Where a case stands, and every entry it consists of."""

    case_id: str
    employee_id: str
    cycle_id: str
    move: Move
    status: str
    outcome: Outcome | None
    nominated_by: str
    endorsed_by: str | None
    evidence: list[str]
    confirmed_in_session: str | None
    ready: bool | None
    entries: list[EntryView]


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


@dataclass(frozen=True)
class CycleEvaluation:
    """Where a cycle's open cases stand after `evaluate_cycle`."""

    cases: int
    evaluated: int
    ready: int


class EvaluationInProgress(RuntimeError):
    """Another run is evaluating the same cycle right now: try again once it has finished."""


class Promotion:
    def __init__(
        self,
        store: EventStore,
        log: DecisionLog,
        records: PromotionRecords,
        org_chart: OrgChart,
        replica: FrameworkVersions,
        decider_role: str,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.log = log
        self.records = records
        self.org_chart = org_chart
        self.replica = replica
        self.decider_role = decider_role
        self.clock = clock

    # -- reacting to events ------------------------------------------------------------

    async def on_calibration(
        self, conn: AsyncConnection[Any], envelope: Envelope, event: CalibrationCompleted
    ) -> None:
        await self.records.record_calibration(conn, event, envelope.occurred_at)

    async def on_protected_attribute(
        self, conn: AsyncConnection[Any], envelope: Envelope, event: ProtectedAttributeRecorded
    ) -> None:
        await self.records.record_attribute(conn, envelope, event)

    # -- who may do what ---------------------------------------------------------------

    async def _in_line(self, conn: AsyncConnection[Any], actor: Actor, employee_id: str) -> bool:
        return actor.subject in await self.org_chart.managers_of(conn, employee_id)

    async def _may_read(self, conn: AsyncConnection[Any], actor: Actor, employee_id: str) -> None:
        """The person, anyone above them, HR, auditors and deciders."""
        if actor.subject == employee_id or any(
            actor.has(r) for r in ("hr_admin", "auditor", self.decider_role)
        ):
            return
        if not await self._in_line(conn, actor, employee_id):
            raise NotEntitled(f"{actor.subject!r} may not see {employee_id!r}'s promotion record")

    def _require(self, actor: Actor, role: str, what: str) -> None:
        if not actor.has(role):
            raise NotEntitled(f"{what} needs the {role!r} role; {actor.subject!r} does not hold it")

    # -- criteria ----------------------------------------------------------------------

    async def _criteria(self, conn: AsyncConnection[Any]) -> CriteriaSet:
        """The latest version; the defaults of docs/domain.md §6 are recorded as version 1 the
        first time anything needs criteria, so that version 1 means the same thing forever."""
        published = await self.records.criteria(conn)
        if published is not None:
            return published.criteria
        default = CriteriaSet(version=1).model_dump(mode="json", exclude={"version"})
        return await self.records.publish_criteria(conn, default, ACTOR, self.clock())

    async def criteria(self, version: int | None = None) -> CriteriaSet:
        async with self.store.transaction() as conn:
            if version is None:
                return await self._criteria(conn)
            published = await self.records.criteria(conn, version)
        if published is None:
            raise NotFound(f"no promotion criteria version {version}")
        return published.criteria

    async def publish_criteria(self, draft: dict[str, Any], actor: Actor) -> CriteriaSet:
        """HR publishes a new criteria version; earlier versions stay as they were."""
        self._require(actor, "hr_admin", "publishing promotion criteria")
        try:  # the numbering comes later; refuse a set that no number would make valid
            CriteriaSet.model_validate({**draft, "version": 1})
        except ValidationError as error:
            raise CaseRefused(f"criteria refused: {error}") from None
        async with self.store.transaction() as conn:
            await self._criteria(conn)
            return await self.records.publish_criteria(conn, draft, actor.subject, self.clock())

    # -- readiness ---------------------------------------------------------------------

    async def _framework(
        self, conn: AsyncConnection[Any], framework_id: str, version: int
    ) -> Framework:
        framework = await self.replica.framework(conn, framework_id, version)
        if framework is None:
            raise WrongState(
                f"framework {framework_id!r} version {version} has not reached the promotion "
                "service yet; try again once it is published"
            )
        return framework

    async def _judge(
        self,
        conn: AsyncConnection[Any],
        employee_id: str,
        move: Move,
        framework_id: str | None,
        case: Case | None,
    ) -> tuple[Readiness, Calibrated]:
        calibrated = await self.records.latest_calibration(conn, employee_id, framework_id)
        if calibrated is None:
            raise WrongState(
                f"no calibration has scored {employee_id!r} yet: readiness needs calibrated "
                "scores (docs/domain.md §6)"
            )
        scores = calibrated.scores
        framework = await self._framework(conn, scores.framework_id, scores.framework_version)
        transition = _transition_at(
            framework, _label(scores.framework_id, scores.framework_version), move
        )
        profile = await self.replica.role_profile(
            conn,
            scores.framework_id,
            scores.framework_version,
            (move.family, move.to_track, move.to_level),
        )
        if profile is None:
            raise WrongState(
                f"framework {scores.framework_id!r} version {scores.framework_version} has no "
                f"role profile at {move.family} {move.to_track} {move.to_level}"
            )
        readiness = evaluate(
            await self._criteria(conn),
            transition,
            scores,
            required_competencies=target_competencies(profile, transition),
            as_of=self.clock().date(),
            operating_since=case.operating_since if case else None,
            evidence=case.evidence if case else None,
            endorsed_by=case.endorsed_by if case else None,
            confirmed_in_session=case.confirmed_in_session if case else None,
        )
        return readiness, calibrated

    async def readiness_of(
        self,
        employee_id: str,
        actor: Actor,
        to_track: TrackKind | None = None,
        to_level: str | None = None,
    ) -> Readiness:
        """Where the person stands against a target (default: the next level in their
        track) on their latest calibration, before any case: endorsement, confirmation and
        evidence show as not yet there."""
        async with self.store.transaction() as conn:
            await self._may_read(conn, actor, employee_id)
            calibrated = await self.records.latest_calibration(conn, employee_id)
            if calibrated is None or calibrated.position is None:
                raise WrongState(f"no calibration has scored {employee_id!r} in a position yet")
            scores = calibrated.scores
            framework = await self._framework(conn, scores.framework_id, scores.framework_version)
            family, track, level = calibrated.position
            label = _label(scores.framework_id, scores.framework_version)
            move = _move(framework, label, family, track, level, to_track, to_level)
            readiness, _ = await self._judge(conn, employee_id, move, scores.framework_id, None)
            return readiness

    # -- case steps --------------------------------------------------------------------

    async def nominate(
        self,
        employee_id: str,
        cycle_id: str,
        actor: Actor,
        *,
        to_track: TrackKind | None = None,
        to_level: str | None = None,
        framework_id: str | None = None,
        operating_since: date | None = None,
        note: str = "",
        case_id: str | None = None,
    ) -> CaseView:
        """A manager above the person (or HR) nominates them for a move from their current
        position, on the latest version of the framework that has their job family."""
        async with self.store.transaction() as conn:
            await self.log.lock(conn)
            if not actor.has("hr_admin") and not await self._in_line(conn, actor, employee_id):
                raise NotEntitled(
                    f"only a manager above {employee_id!r} or HR nominates them; "
                    f"{actor.subject!r} is neither"
                )
            person = await self.org_chart.person(conn, employee_id)
            if person is None or not person.active:
                raise NotFound(f"{employee_id!r} is not a current employee in the org chart")
            if person.job_family is None or person.track is None or person.level is None:
                raise WrongState(f"the HRIS has not given {employee_id!r} a position yet")
            fid, version, framework = await self._framework_with(
                conn, person.job_family, framework_id
            )
            label = _label(fid, version)
            move = _move(
                framework,
                label,
                person.job_family,
                person.track,
                person.level,
                to_track,
                to_level,
            )
            case_id = case_id or f"case-{uuid4().hex[:16]}"
            if await self.log.of_case(conn, case_id):
                raise WrongState(f"case {case_id} exists already")
            history = await self.log.of_employee(conn, employee_id)
            payload = nominate(
                cycle_id=cycle_id,
                framework_id=fid,
                framework_version=version,
                transition=_transition_at(framework, label, move),
                operating_since=operating_since,
                note=note,
                open_cases=[c.case_id for c in _cases(history) if c.open],
            )
            entry = await self._append(conn, "nomination", case_id, employee_id, actor, payload)
            case = Case.replay([entry])
            event = PromotionNominated(
                **_case_fields(case), nominated_by=actor.subject, framework_id=case.framework_id
            )
            await self._publish(conn, case_id, 0, event, actor)
        return _view(case, [entry])

    async def _framework_with(
        self, conn: AsyncConnection[Any], family: str, framework_id: str | None
    ) -> tuple[str, int, Framework]:
        known = await self.replica.all(conn)
        latest: dict[str, int] = {}
        for k in known:
            if framework_id in (None, k.framework_id):
                latest[k.framework_id] = max(latest.get(k.framework_id, 0), k.version)
        having = []
        for fid, version in sorted(latest.items()):
            framework = await self._framework(conn, fid, version)
            if framework.family(family) is not None:
                having.append((fid, version, framework))
        if not having:
            raise WrongState(f"no published framework has the job family {family!r}")
        if len(having) > 1:
            names = [fid for fid, _, _ in having]
            raise CaseRefused(f"several frameworks have job family {family!r}: name one of {names}")
        return having[0]

    async def _append(
        self,
        conn: AsyncConnection[Any],
        kind: EntryKind,
        case_id: str,
        employee_id: str,
        actor: Actor,
        payload: dict[str, Any],
    ) -> LogEntry:
        return await self.log.append(
            conn,
            kind=kind,
            case_id=case_id,
            employee_id=employee_id,
            actor=actor.subject,
            recorded_at=self.clock(),
            payload=payload,
        )

    async def _publish(
        self,
        conn: AsyncConnection[Any],
        case_id: str,
        expected: int,
        event: IntegrationEvent,
        actor: Actor,
    ) -> None:
        await self.store.append(
            case_stream(case_id), expected, [event], EventMetadata(actor=actor.subject), conn=conn
        )

    async def _step(
        self,
        case_id: str,
        actor: Actor,
        kind: EntryKind,
        decide: Callable[
            [AsyncConnection[Any], Case],
            Awaitable[tuple[dict[str, Any], IntegrationEvent | None]],
        ],
    ) -> CaseView:
        """One step on an existing case, in one transaction under the log's lock."""
        async with self.store.transaction() as conn:
            await self.log.lock(conn)
            entries = await self.log.of_case(conn, case_id)
            if not entries:
                raise NotFound(f"no promotion case {case_id}")
            case = Case.replay(entries)
            published = case.published
            payload, event = await decide(conn, case)
            entry = await self._append(conn, kind, case_id, case.employee_id, actor, payload)
            case.apply(entry)
            if event is not None:
                await self._publish(conn, case_id, published, event, actor)
        return _view(case, [*entries, entry])

    async def endorse(self, case_id: str, actor: Actor, note: str = "") -> CaseView:
        async def decide(conn: AsyncConnection[Any], case: Case) -> tuple[dict[str, Any], None]:
            person = await self.org_chart.person(conn, case.employee_id)
            return case.endorse(actor.subject, person.manager_id if person else None, note), None

        return await self._step(case_id, actor, "endorsement", decide)

    async def attach_evidence(self, case_id: str, item: str, note: str, actor: Actor) -> CaseView:
        async def decide(conn: AsyncConnection[Any], case: Case) -> tuple[dict[str, Any], None]:
            if not (
                actor.subject == case.employee_id
                or actor.has("hr_admin")
                or await self._in_line(conn, actor, case.employee_id)
            ):
                raise NotEntitled(
                    f"evidence comes from {case.employee_id!r}, a manager above them, or HR"
                )
            criteria = await self._criteria(conn)
            named = criteria.criteria_for(Transition(**case.move)).evidence
            return case.attach_evidence(item, note, named), None

        return await self._step(case_id, actor, "evidence", decide)

    async def confirm(
        self, case_id: str, session_id: str, confirmed: bool, note: str, actor: Actor
    ) -> CaseView:
        """HR records that a calibration session confirmed (or rejected) the nomination."""
        self._require(actor, "hr_admin", "recording a calibration confirmation")

        async def decide(conn: AsyncConnection[Any], case: Case) -> tuple[dict[str, Any], None]:
            if await self.records.calibration_of(conn, session_id, case.employee_id) is None:
                raise CaseRefused(
                    f"calibration session {session_id!r} did not score {case.employee_id!r} "
                    "(or has not reached the promotion service)"
                )
            return case.confirm(session_id, confirmed, note), None

        return await self._step(case_id, actor, "calibration_confirmation", decide)

    async def evaluate(self, case_id: str, actor: Actor) -> CaseView:
        """Record readiness now: HR, a decider, a manager above the person, or the cycle."""

        async def decide(
            conn: AsyncConnection[Any], case: Case
        ) -> tuple[dict[str, Any], IntegrationEvent]:
            if not (
                actor.has("hr_admin")
                or actor.has(self.decider_role)
                or await self._in_line(conn, actor, case.employee_id)
            ):
                raise NotEntitled(f"{actor.subject!r} may not evaluate this case")
            readiness, calibrated = await self._judge(
                conn, case.employee_id, Move(**case.move), case.framework_id, case
            )
            event = PromotionEvaluated(
                **_case_fields(case),
                ready=readiness.ready,
                unmet=[r.name for r in readiness.unmet],
                **_basis(readiness),
            )
            return case.evaluated(readiness, calibrated.campaign_id), event

        return await self._step(case_id, actor, "readiness_evaluated", decide)

    async def evaluate_cycle(
        self, cycle_id: str, actor: Actor, progress: Callable[[int], None] | None = None
    ) -> CycleEvaluation:
        """Record the readiness (docs/domain.md §6) of every open case nominated for the cycle,
        on each person's latest calibration; `progress(n)` after each of the n cases.

        Idempotent, for the cycle workflow's retries: a case whose last entry already is an
        evaluation on that latest calibration is not evaluated again, and runs on one cycle
        never overlap (an overlapping one raises EvaluationInProgress, having done nothing),
        so no case gets two evaluations. A case the evaluation refuses (not calibrated yet,
        no role profile at the target) is left as it is and counted as not evaluated.
        """
        self._require(actor, "hr_admin", "evaluating a cycle's promotion cases")
        evaluated = ready = 0
        # The transaction holds the lock until it ends, however the run ends; the cases are
        # read once it is held, so they include what an earlier run recorded.
        async with self.store.pool.connection() as conn, conn.transaction():
            key = f"{self.records.schema}.evaluate-cycle.{cycle_id}"
            cur = await conn.execute(_TRY_LOCK, (key,))
            row = await cur.fetchone()
            if not (row and row[0]):
                raise EvaluationInProgress(f"cycle {cycle_id!r} is being evaluated already")
            entries = await self.log.of_cycle(conn, cycle_id)
            last_kind = {e.case_id: e.kind for e in entries}  # in log order: the last stays
            cases = [c for c in _cases(entries) if c.open]
            for done, case in enumerate(cases, 1):
                latest = await self.records.latest_calibration(
                    conn, case.employee_id, case.framework_id
                )
                if (
                    last_kind[case.case_id] == "readiness_evaluated"
                    and case.readiness is not None
                    and latest is not None
                    and case.readiness["calibration"]["session_id"] == latest.scores.session_id
                ):
                    ready += bool(case.readiness["ready"])
                else:
                    view: CaseView | None
                    try:
                        view = await self.evaluate(case.case_id, actor)
                    except (CaseRefused, TransitionError):
                        view = None  # not judged: the case waits for what it lacks
                    if view is not None:
                        evaluated += 1
                        ready += bool(view.ready)
                if progress is not None:
                    progress(done)
        return CycleEvaluation(cases=len(cases), evaluated=evaluated, ready=ready)

    async def decide(
        self, case_id: str, outcome: Outcome, rationale: str, actor: Actor
    ) -> CaseView:
        """Approve, deny or defer, by the decider role, with a written rationale."""
        self._require(actor, self.decider_role, "deciding a promotion")

        async def decide(
            conn: AsyncConnection[Any], case: Case
        ) -> tuple[dict[str, Any], IntegrationEvent]:
            readiness, calibrated = await self._judge(
                conn, case.employee_id, Move(**case.move), case.framework_id, case
            )
            payload = case.decide(
                actor.subject,
                outcome,
                rationale,
                readiness,
                calibrated.campaign_id,
                readiness.criteria.endorsement_required,
            )
            event = PromotionDecided(
                **_case_fields(case),
                outcome=outcome,
                decided_by=actor.subject,
                **_basis(readiness),
            )
            return payload, event

        return await self._step(case_id, actor, "decision", decide)

    async def appeal(self, case_id: str, grounds: str, actor: Actor) -> CaseView:
        """The employee, or a manager above them, appeals an approval or denial."""

        async def decide(conn: AsyncConnection[Any], case: Case) -> tuple[dict[str, Any], None]:
            if actor.subject != case.employee_id and not await self._in_line(
                conn, actor, case.employee_id
            ):
                raise NotEntitled(f"only {case.employee_id!r} or a manager above them appeals")
            return case.lodge_appeal(actor.subject, grounds), None

        return await self._step(case_id, actor, "appeal", decide)

    async def decide_appeal(
        self,
        case_id: str,
        result: AppealResult,
        outcome: Outcome | None,
        rationale: str,
        actor: Actor,
    ) -> CaseView:
        self._require(actor, self.decider_role, "deciding an appeal")

        async def decide(
            conn: AsyncConnection[Any], case: Case
        ) -> tuple[dict[str, Any], IntegrationEvent]:
            readiness, calibrated = await self._judge(
                conn, case.employee_id, Move(**case.move), case.framework_id, case
            )
            payload = case.decide_appeal(
                actor.subject, result, outcome, rationale, readiness, calibrated.campaign_id
            )
            event = PromotionDecided(
                **_case_fields(case),
                outcome=payload["outcome"],
                decided_by=actor.subject,
                on_appeal=True,
                **_basis(readiness),
            )
            return payload, event

        return await self._step(case_id, actor, "appeal_outcome", decide)

    # -- audit queries and exports -----------------------------------------------------

    async def case(self, case_id: str, actor: Actor) -> CaseView:
        async with self.store.pool.connection() as conn:
            entries = await self.log.of_case(conn, case_id)
            if not entries:
                raise NotFound(f"no promotion case {case_id}")
            await self._may_read(conn, actor, entries[0].employee_id)
        return _view(Case.replay(entries), entries)

    async def entries(
        self, scope: Literal["case", "employee", "cycle"], key: str, actor: Actor
    ) -> list[LogEntry]:
        """A case's, a person's or a cycle's entries, in log order."""
        async with self.store.pool.connection() as conn:
            if scope == "cycle":
                if not (actor.has("hr_admin") or actor.has("auditor")):
                    raise NotEntitled("a cycle's promotion record is for HR and auditors")
                return await self.log.of_cycle(conn, key)
            if scope == "case":
                found = await self.log.of_case(conn, key)
                if not found:
                    raise NotFound(f"no promotion case {key}")
                await self._may_read(conn, actor, found[0].employee_id)
                return found
            await self._may_read(conn, actor, key)
            return await self.log.of_employee(conn, key)

    async def report(
        self, scope: Literal["case", "employee", "cycle"], key: str, actor: Actor
    ) -> str:
        entries = await self.entries(scope, key, actor)
        return audit_report.report(f"{scope} {key}", entries, self.clock())

    async def as_decided(
        self, case_id: str, actor: Actor, sequence: int | None = None
    ) -> AsDecided:
        """The latest decision of the case (or the one at `sequence`) as it was made."""
        entries = await self.entries("case", case_id, actor)
        decisions = [e for e in entries if e.kind in ("decision", "appeal_outcome")]
        if sequence is not None:
            decisions = [e for e in decisions if e.sequence == sequence]
        if not decisions:
            raise NotFound(
                f"case {case_id} has no decision" + (f" at {sequence}" if sequence else "")
            )
        entry = decisions[-1]
        readiness = Readiness.model_validate(entry.payload["readiness"])
        scores = readiness.calibration
        t = readiness.transition
        async with self.store.pool.connection() as conn:
            profile = await self.replica.role_profile(
                conn,
                scores.framework_id,
                scores.framework_version,
                (t.family, t.to_track, t.to_level),
            )
            versions = [
                k.version
                for k in await self.replica.all(conn)
                if k.framework_id == scores.framework_id
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
        self, attribute: str, actor: Actor, min_group_size: int | None = None
    ) -> list[CycleFairness]:
        """Promotion rates and adverse-impact ratios per cycle (hr_admin and auditor only)."""
        if not (actor.has("hr_admin") or actor.has("auditor")):
            raise NotEntitled("fairness monitoring is for HR and auditors only")
        async with self.store.pool.connection() as conn:
            decided = await self.log.decisions(conn)
            groups = await self.records.attribute(conn, attribute)
        decisions = [
            Decision(
                person=e.employee_id, cycle=e.payload["cycle_id"], outcome=e.payload["outcome"]
            )
            for e in decided
        ]
        options = {} if min_group_size is None else {"min_group_size": min_group_size}
        return adverse_impact(decisions, groups, **options)


def _cases(entries: list[LogEntry]) -> list[Case]:
    by_case: dict[str, list[LogEntry]] = {}
    for entry in entries:
        by_case.setdefault(entry.case_id, []).append(entry)
    return [Case.replay(steps) for steps in by_case.values()]


def _label(framework_id: str, version: int) -> str:
    return f"framework {framework_id!r} version {version}"


def _move(
    framework: Framework,
    label: str,
    family: str,
    position_track: str,
    level: str,
    to_track: TrackKind | None,
    to_level: str | None,
) -> Move:
    """The move from a position: the next level in the track unless a target is named."""
    if position_track not in get_args(TrackKind):
        raise WrongState(f"{position_track!r} is not a track of the framework: no move from it")
    track = cast(TrackKind, position_track)
    if to_track is None and to_level is None:
        t = next_level(framework, family, track, level)
    else:
        wanted = (to_track or track, to_level)
        offered = transitions_from(framework, family, track, level)
        found = [m for m in offered if (m.to_track, m.to_level if to_level else None) == wanted]
        if not found:
            moves = [f"{m.to_track} {m.to_level}" for m in offered] or ["none"]
            raise TransitionError(
                f"{label} offers no move "
                f"from {family} {track} {level} to {wanted[0]} {to_level or ''}".rstrip()
                + f"; it offers: {', '.join(moves)}"
            )
        t = found[0]
    return Move(**t.model_dump(exclude={"leadership_competencies"}))


def _transition_at(framework: Framework, label: str, move: Move) -> Transition:
    """The case's move as that framework version defines it (with its crossover's
    leadership competencies): a version that dropped the move cannot judge it."""
    for t in transitions_from(framework, move.family, move.from_track, move.from_level):
        if (t.to_track, t.to_level) == (move.to_track, move.to_level):
            return t
    raise TransitionError(
        f"{label} has no move "
        f"{move.family}: {move.from_track} {move.from_level} to {move.to_track} {move.to_level}"
    )


def _case_fields(case: Case) -> dict[str, Any]:
    return {
        "case_id": case.case_id,
        "employee_id": case.employee_id,
        "cycle_id": case.cycle_id,
        "move": Move(**case.move),
    }


def _basis(readiness: Readiness) -> dict[str, Any]:
    return {
        "criteria_version": readiness.criteria_version,
        "session_id": readiness.calibration.session_id,
        "framework_id": readiness.calibration.framework_id,
        "framework_version": readiness.calibration.framework_version,
    }


def _view(case: Case, entries: list[LogEntry]) -> CaseView:
    ready = case.readiness["ready"] if case.readiness else None
    return CaseView(
        case_id=case.case_id,
        employee_id=case.employee_id,
        cycle_id=case.cycle_id,
        move=Move(**case.move),
        status=case.status,
        outcome=case.final_outcome,
        nominated_by=case.nominated_by,
        endorsed_by=case.endorsed_by,
        evidence=sorted(case.evidence),
        confirmed_in_session=case.confirmed_in_session,
        ready=ready,
        entries=[EntryView.of(e) for e in entries],
    )
