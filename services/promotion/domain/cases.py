"""Promotion cases (docs/domain.md §6): nomination, endorsement, evidence, readiness evaluation,
calibration confirmation, decision, appeal and its outcome.

A case has no table of its own: it is its entries in the decision log, folded in order by
`Case.replay`. Each command checks the case as those entries leave it and returns the payload
of the one entry it adds, or raises a `CaseRefused` saying what to fix. So what the case
looked like when anyone acted is exactly what the log says, and nothing can drift from it.

Rules beyond docs/domain.md §6, chosen here:

- One open case per person: a second nomination while one is open is refused, naming it.
- A case is open after its nomination and after a deferral; an approval or a denial closes
  it, and only an appeal reopens the question, once per case.
- Approval needs every criterion met at the moment of the decision (the readiness recorded in
  the decision entry): objective, recorded criteria are what the log exists to prove. Deny
  and defer need no readiness verdict, only a rationale.
- Nobody decides their own case, and an appeal is heard by someone other than the person who
  made the decision appealed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from services.promotion.domain.criteria import Transition
from services.promotion.domain.decision_log import LogEntry
from services.promotion.domain.payloads import (
    Appeal,
    AppealOutcome,
    AppealResult,
    CalibrationConfirmation,
    Decision,
    Endorsement,
    Evidence,
    Nomination,
    Outcome,
    ReadinessEvaluated,
)
from services.promotion.domain.readiness import EvidenceRecord, Readiness

Status = Literal["open", "deferred", "approved", "denied", "appealed", "closed"]

# Entries that also go out as integration events, and so count on the case's event stream.
PUBLISHED_KINDS: frozenset[str] = frozenset(
    {"nomination", "readiness_evaluated", "decision", "appeal_outcome"}
)


class CaseRefused(ValueError):
    """A step the case cannot take as asked; the message says why and what to do."""


class NotEntitled(CaseRefused):
    """The actor may not take this step on this case."""


class WrongState(CaseRefused):
    """The case is not at a stage where this step is possible."""


def _text(value: str, what: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise CaseRefused(f"{what} is required and must not be blank")
    return stripped


@dataclass(frozen=True)
class Decided:
    outcome: Outcome
    decided_by: str
    rationale: str
    at: datetime
    sequence: int


@dataclass
class Case:
    """A promotion case as its decision-log entries leave it."""

    case_id: str
    employee_id: str
    cycle_id: str
    framework_id: str
    move: dict[str, str]
    nominated_by: str
    nominated_at: datetime
    operating_since: date | None
    endorsed_by: str | None = None
    evidence: dict[str, EvidenceRecord] = field(default_factory=dict)
    confirmation: tuple[str, bool] | None = None
    readiness: dict[str, Any] | None = None
    decision: Decided | None = None
    appeal: tuple[str, str] | None = None
    appeal_outcome: Decided | None = None
    published: int = 1
    entries: int = 1

    @classmethod
    def replay(cls, entries: Iterable[LogEntry]) -> Case:
        """Fold a case's entries, in log order; the first must be its nomination."""
        ordered = iter(entries)
        first = next(ordered, None)
        if first is None or first.kind != "nomination":
            raise ValueError("a case starts with its nomination entry")
        p = first.payload
        since = p.get("operating_since")
        case = cls(
            case_id=first.case_id,
            employee_id=first.employee_id,
            cycle_id=p["cycle_id"],
            framework_id=p["framework_id"],
            move=dict(p["move"]),
            nominated_by=first.actor,
            nominated_at=first.recorded_at,
            operating_since=date.fromisoformat(since) if isinstance(since, str) else since,
        )
        for entry in ordered:
            case.apply(entry)
        return case

    def apply(self, entry: LogEntry) -> None:
        # Personal text as readers see it: `ERASED` once erased (an erasure entry changes
        # nothing else in the case).
        p, kind = entry.disclosed(), entry.kind
        self.entries += 1
        if kind in PUBLISHED_KINDS:
            self.published += 1
        if kind == "endorsement":
            self.endorsed_by = entry.actor
        elif kind == "evidence":
            self.evidence[p["item"]] = EvidenceRecord(
                provided_by=entry.actor, at=entry.recorded_at, note=p.get("note", "")
            )
        elif kind == "calibration_confirmation":
            self.confirmation = (p["session_id"], bool(p["confirmed"]))
        elif kind == "readiness_evaluated":
            self.readiness = p["readiness"]
        elif kind == "decision":
            self.readiness = p["readiness"]
            self.decision = Decided(
                p["outcome"], entry.actor, p["rationale"], entry.recorded_at, entry.sequence
            )
        elif kind == "appeal":
            self.appeal = (entry.actor, p["grounds"])
        elif kind == "appeal_outcome":
            self.readiness = p["readiness"]
            self.appeal_outcome = Decided(
                p["outcome"], entry.actor, p["rationale"], entry.recorded_at, entry.sequence
            )

    # -- where the case stands -----------------------------------------------------------

    @property
    def status(self) -> Status:
        if self.appeal_outcome is not None:
            return "closed"
        if self.appeal is not None:
            return "appealed"
        if self.decision is None:
            return "open"
        return {"approve": "approved", "deny": "denied", "defer": "deferred"}[self.decision.outcome]  # type: ignore[return-value]

    @property
    def open(self) -> bool:
        """Steps towards a decision are possible: nominated, or deferred."""
        return self.status in ("open", "deferred")

    @property
    def final_outcome(self) -> Outcome | None:
        """The outcome that stands: the appeal's when there was one."""
        last = self.appeal_outcome or self.decision
        return last.outcome if last else None

    @property
    def confirmed_in_session(self) -> str | None:
        if self.confirmation is None or not self.confirmation[1]:
            return None
        return self.confirmation[0]

    def _require_open(self, step: str) -> None:
        if not self.open:
            raise WrongState(
                f"case {self.case_id} is {self.status}: no {step} after an approval or a "
                "denial (an appeal is the way to contest it)"
            )

    # -- commands: each returns the payload of the entry to append, its kind with it ----

    def endorse(self, actor: str, manager_id: str | None, note: str) -> Endorsement:
        """The employee's manager endorses (docs/domain.md §6: manager endorsement)."""
        # Who before when: the case's state is not told to someone who may not act on it.
        if actor != manager_id:
            raise NotEntitled(
                f"only {self.employee_id!r}'s manager ({manager_id!r}) endorses their "
                f"promotion; {actor!r} is not"
            )
        self._require_open("endorsement")
        if self.endorsed_by == actor:
            raise WrongState(f"case {self.case_id} is already endorsed by {actor!r}")
        return Endorsement(note=note.strip())

    def attach_evidence(self, item: str, note: str, named: Iterable[str]) -> Evidence:
        """Scope evidence for one of the items the criteria name."""
        self._require_open("evidence")
        names = list(named)
        if item not in names:
            raise CaseRefused(
                f"{item!r} is not an evidence item the criteria name for this move; "
                f"they name: {names or 'none'}"
            )
        return Evidence(item=item, note=_text(note, "a note saying what the evidence is"))

    def confirm(self, session_id: str, confirmed: bool, note: str) -> CalibrationConfirmation:
        """A calibration session confirms (or rejects) the nomination (docs/domain.md §4)."""
        self._require_open("calibration confirmation")
        return CalibrationConfirmation(
            session_id=session_id, confirmed=confirmed, note=note.strip()
        )

    def evaluated(self, readiness: Readiness, campaign_id: str) -> ReadinessEvaluated:
        self._require_open("evaluation")
        return ReadinessEvaluated(readiness=readiness, campaign_id=campaign_id)

    def _decision(
        self,
        outcome: Outcome,
        rationale: str,
        readiness: Readiness,
        campaign_id: str,
        judged: bool = True,
    ) -> Decision:
        text = _text(rationale, "a written rationale (docs/domain.md §6)")
        if judged and outcome == "approve" and not readiness.ready:
            unmet = ", ".join(r.name for r in readiness.unmet)
            raise WrongState(
                f"case {self.case_id} cannot be approved: criteria not met: {unmet}. "
                "Deny or defer it, or complete what is missing and decide again"
            )
        return Decision(
            outcome=outcome,
            rationale=text,
            cycle_id=self.cycle_id,
            campaign_id=campaign_id,
            readiness=readiness,
        )

    def decide(
        self,
        actor: str,
        outcome: Outcome,
        rationale: str,
        readiness: Readiness,
        campaign_id: str,
        endorsement_required: bool,
    ) -> Decision:
        """Approve, deny or defer, with a rationale, by someone entitled to decide (the
        caller checks the role); the readiness at this instant goes into the entry."""
        self._require_open("decision")
        _text(rationale, "a written rationale (docs/domain.md §6)")
        if actor == self.employee_id:
            raise NotEntitled(f"{actor!r} may not decide their own promotion")
        if endorsement_required and self.endorsed_by is None:
            raise WrongState(
                f"case {self.case_id} has no manager endorsement, which its criteria require: "
                f"{self.employee_id!r}'s manager must endorse it before anyone decides"
            )
        return self._decision(outcome, rationale, readiness, campaign_id)

    def lodge_appeal(self, actor: str, grounds: str) -> Appeal:
        """The employee (or their manager, the caller checks) appeals an approval or denial."""
        if self.decision is None or self.status not in ("approved", "denied"):
            raise WrongState(
                f"case {self.case_id} is {self.status}: only an approval or a denial can be "
                "appealed, once per case"
            )
        return Appeal(grounds=_text(grounds, "the grounds of the appeal"))

    def decide_appeal(
        self,
        actor: str,
        result: AppealResult,
        outcome: Outcome | None,
        rationale: str,
        readiness: Readiness,
        campaign_id: str,
    ) -> AppealOutcome:
        """Uphold the decision, or overturn it with another outcome."""
        if self.status != "appealed" or self.decision is None:
            raise WrongState(f"case {self.case_id} is {self.status}: no appeal to decide")
        if actor in (self.employee_id, self.decision.decided_by):
            raise NotEntitled(
                f"{actor!r} may not hear this appeal: it must be someone other than the "
                "employee and the person who made the decision appealed"
            )
        if result == "upheld":
            if outcome not in (None, self.decision.outcome):
                raise CaseRefused("an upheld decision keeps its outcome: leave outcome out")
            final: Outcome = self.decision.outcome
        else:
            if outcome is None or outcome == self.decision.outcome:
                raise CaseRefused(
                    f"overturning needs an outcome other than {self.decision.outcome!r}"
                )
            if outcome == "defer":
                # An appeal ends the case: a deferral would leave it with no decision to come.
                raise CaseRefused("an appeal is decided: overturn to approve or deny, not defer")
            final = outcome
        # Upholding confirms a decision already judged; overturning to approval is judged now.
        decision = self._decision(
            final, rationale, readiness, campaign_id, judged=result == "overturned"
        )
        return AppealOutcome(result=result, **dict(decision))


def nominate(
    *,
    cycle_id: str,
    framework_id: str,
    framework_version: int,
    transition: Transition,
    operating_since: date | None,
    note: str,
    open_cases: Iterable[str],
) -> Nomination:
    """The payload of a nomination entry; refused while the person has an open case."""
    already = sorted(open_cases)
    if already:
        raise WrongState(
            f"there is an open promotion case for this person already: {', '.join(already)}; "
            "decide it (or defer and then decide it) before nominating again"
        )
    return Nomination(
        cycle_id=_text(cycle_id, "the review cycle"),
        framework_id=framework_id,
        framework_version=framework_version,
        move=transition.move(),
        operating_since=operating_since,
        note=note.strip(),
    )
