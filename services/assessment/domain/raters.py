"""Who rates whom in a 360 campaign (docs/domain.md §3, Rater groups).

Self, manager and direct reports come from the org chart. Peers are nominated by the
employee or their manager and approved or rejected by the manager; a campaign sets how many
peers each person needs and may have. Every refusal says what to do instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.replicas.people import Person
from services.assessment.domain.ratings import RaterGroup

NominationState = Literal["pending", "approved", "rejected"]


class NominationRefused(ValueError):
    """A peer nomination or decision the rules do not allow; the message says why."""


class NotEntitled(NominationRefused):
    """The person is not the one who may nominate or decide this subject's peers."""


class PeerPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    minimum: int = Field(3, ge=0, le=20, description="approved peers each person needs")
    maximum: int = Field(8, ge=1, le=20, description="peers one may nominate or approve")

    @model_validator(mode="after")
    def _ordered(self) -> PeerPolicy:
        if self.minimum > self.maximum:
            raise ValueError(f"minimum peers {self.minimum} is above maximum {self.maximum}")
        return self


class Assignment(BaseModel):
    """One rater asked to rate one subject, in one group."""

    model_config = ConfigDict(frozen=True)

    subject: str
    rater: str
    group: RaterGroup


@dataclass
class Nomination:
    subject: str
    peer: str
    nominated_by: str
    state: NominationState = "pending"
    decided_by: str | None = None


@dataclass
class OrgChartView:
    """The part of the org chart a campaign needs, by employee id."""

    people: dict[str, Person]
    reports: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, people: Iterable[Person]) -> OrgChartView:
        by_id = {p.employee_id: p for p in people if p.active}
        reports: dict[str, list[str]] = {}
        for person in by_id.values():
            if person.manager_id in by_id:
                reports.setdefault(person.manager_id, []).append(person.employee_id)
        return cls(by_id, {m: sorted(r) for m, r in reports.items()})

    def manager_of(self, employee_id: str) -> str | None:
        person = self.people.get(employee_id)
        manager = person.manager_id if person else None
        return manager if manager in self.people else None


def assignments(
    subject: str, org: OrgChartView, nominations: Iterable[Nomination]
) -> list[Assignment]:
    """Self, the manager, every current direct report and every approved peer."""
    found = [Assignment(subject=subject, rater=subject, group="self")]
    if (manager := org.manager_of(subject)) is not None:
        found.append(Assignment(subject=subject, rater=manager, group="manager"))
    found += [
        Assignment(subject=subject, rater=report, group="direct_report")
        for report in org.reports.get(subject, [])
    ]
    found += [
        Assignment(subject=subject, rater=n.peer, group="peer")
        for n in nominations
        if n.subject == subject and n.state == "approved" and n.peer in org.people
    ]
    return found


def nominate(
    subject: str,
    peer: str,
    by: str,
    org: OrgChartView,
    nominations: list[Nomination],
    policy: PeerPolicy,
) -> Nomination:
    """A peer nomination by the subject or their manager, pending the manager's approval."""
    manager = org.manager_of(subject)
    if subject not in org.people:
        raise NominationRefused(f"{subject!r} is not in the org chart (or has left)")
    if by not in (subject, manager):
        raise NotEntitled(
            f"only {subject!r} or their manager may nominate their peers; {by!r} is neither"
        )
    if peer not in org.people:
        raise NominationRefused(f"{peer!r} is not in the org chart (or has left)")
    if peer == subject:
        raise NominationRefused("a person rates themself in the self group, not as a peer")
    if peer == manager or peer in org.reports.get(subject, []):
        raise NominationRefused(
            f"{peer!r} already rates {subject!r} as their manager or a direct report"
        )
    open_ones = [n for n in nominations if n.subject == subject and n.state != "rejected"]
    if any(n.peer == peer for n in open_ones):
        raise NominationRefused(f"{peer!r} is already nominated for {subject!r}")
    if len(open_ones) >= policy.maximum:
        raise NominationRefused(
            f"the campaign allows at most {policy.maximum} peers nominated for {subject!r}: "
            "reject one first"
        )
    return Nomination(subject=subject, peer=peer, nominated_by=by)


def decide(nomination: Nomination, approve: bool, by: str, org: OrgChartView) -> Nomination:
    """The subject's manager approves or rejects a pending nomination."""
    manager = org.manager_of(nomination.subject)
    if by != manager:
        raise NotEntitled(
            f"only the manager of {nomination.subject!r} ({manager!r}) decides their peers"
        )
    if nomination.state != "pending":
        raise NominationRefused(f"this nomination is already {nomination.state}")
    return Nomination(
        subject=nomination.subject,
        peer=nomination.peer,
        nominated_by=nomination.nominated_by,
        state="approved" if approve else "rejected",
        decided_by=by,
    )
