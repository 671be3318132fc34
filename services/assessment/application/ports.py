"""What the assessment use cases need from the world, as ports (docs/architecture.md §1,
Inside a service): its event log, the campaign records and the org chart and framework
replicas, held in one transaction by a unit of work (`libs.events.ports.UnitOfWork[Work]`).
The PostgreSQL adapters implement them; the application tests run on in-memory ones.

A use case reads and appends a stream through the `EventLog` on its own, each call a
transaction of its own; it reads the records and replicas in a unit of work from `reading()`,
and writes what must land together (events with the campaign records they feed, or behind
the campaign's lock) in one from `transaction()`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from libs.events.ports import EventLog
from libs.events.schemas.framework import EffectiveRoleProfile, Framework
from libs.replicas.people import Person, RoleFact
from services.assessment.domain.aggregation import CompetencyResult
from services.assessment.domain.calibration_inputs import SignalKind, Signals
from services.assessment.domain.campaigns import SubmissionRecorded
from services.assessment.domain.raters import Nomination
from services.assessment.domain.ratings import RaterGroup, Rating
from services.assessment.domain.submissions import StoredAnswer


@dataclass(frozen=True)
class RecordedSubmission:
    """A rater's latest submission for a subject, as the campaign records keep it."""

    campaign_id: str
    subject: str
    rater: str
    group: RaterGroup
    final: bool
    answers: list[StoredAnswer]


class CampaignRecords(Protocol):
    """Campaign-wide records kept alongside the events they follow: each question that spans
    a whole campaign answered at once, where the log would need one stream per subject."""

    async def record_submission(self, recorded: SubmissionRecorded, stream_version: int) -> None:
        """The rater's latest submission for the subject replaces their earlier one."""
        ...

    async def record_nomination(self, campaign_id: str, nomination: Nomination) -> None:
        """The nomination's state as it now stands."""
        ...

    async def ratings(
        self, campaign_id: str, subjects: Iterable[str] | None = None
    ) -> list[Rating]:
        """Every rating of the campaign's latest submissions, or only of these subjects'."""
        ...

    async def freeze_assignments(
        self, campaign_id: str, assignments: Iterable[tuple[str, str]]
    ) -> None:
        """Record, at close, who counts for each subject (subject, rater) from then on; a
        campaign frozen before keeps what it has."""
        ...

    async def frozen_assignments(
        self, campaign_id: str, subjects: Iterable[str] | None = None
    ) -> set[tuple[str, str]] | None:
        """The (subject, rater) pairs frozen at close, of some subjects or all; None when the
        campaign was closed before assignments were frozen."""
        ...

    async def submission_count(self, campaign_id: str) -> int: ...

    async def finalised(self, campaign_id: str) -> set[tuple[str, str]]:
        """(subject, rater) of every final submission."""
        ...

    async def approved_peers(self, campaign_id: str) -> list[Nomination]: ...

    async def rated_as_peer(self, campaign_id: str, peer: str) -> list[str]:
        """Subjects whose manager approved `peer` to rate them, in order."""
        ...

    async def submitted_by(self, campaign_id: str, rater: str) -> dict[str, bool]:
        """The subjects the rater has submitted about, each with whether it is final."""
        ...

    async def claim_for_calibration(
        self, campaign_id: str, session_id: str, subjects: list[str]
    ) -> dict[str, str]:
        """Give the subjects to this session; those another session already has, and which."""
        ...

    # -- about one person, for requests about their data (docs/privacy.md, Requests) ------

    async def campaigns_assessing(self, person: str) -> list[str]:
        """Every campaign whose population includes the person, in the order opened."""
        ...

    async def submissions_involving(
        self, person: str, *, for_erasure: bool = False
    ) -> list[RecordedSubmission]:
        """Every submission the person made or that rates them, by campaign, subject and
        rater; `for_erasure`: locked until the transaction ends."""
        ...

    async def rewrite_answers(self, submission: RecordedSubmission) -> None:
        """Store the submission's answers as given (the rest of it stays)."""
        ...

    async def nominations_involving(self, person: str) -> list[tuple[str, str]]:
        """(campaign, subject) of every subject whose peer nominations name the person as
        subject, peer, nominator or decider."""
        ...

    async def calibrations_of(self, person: str) -> list[str]:
        """The calibration sessions that calibrate the person, by campaign."""
        ...

    # -- a calibration session's inputs, computed once (domain.calibration_inputs) --------

    async def record_calibration_items(
        self, session_id: str, first: int, items: list[CompetencyResult]
    ) -> None:
        """Store the session's items, numbered in order from `first`; numbers already
        stored are left as they are."""
        ...

    async def calibration_items(
        self,
        session_id: str,
        subjects: Sequence[str] | None = None,
        first: int = 0,
        limit: int = 0,
    ) -> list[CompetencyResult]:
        """The session's items in order, without their groups: these subjects', or from
        number `first` on, at most `limit` (0: all)."""
        ...

    async def record_calibration_signals(self, session_id: str, signals: Signals) -> None:
        """Store the session's signals, once every item is stored; a second time, nothing."""
        ...

    async def calibration_prepared(self, session_id: str) -> bool:
        """Whether the session's signals are stored, and so its items: without reading them."""
        ...

    async def calibration_signals(
        self, session_id: str, kinds: Collection[SignalKind]
    ) -> Signals | None:
        """The session's signals of these kinds, the other lists left empty; None until its
        items are all stored."""
        ...


class OrgChart(Protocol):
    """The service's copy of the org chart (libs.replicas.org_chart)."""

    async def person(self, employee_id: str) -> Person | None: ...

    async def position_history(self, employee_id: str) -> list[RoleFact]:
        """The person's hirings and role changes, oldest first."""
        ...

    async def everyone(self) -> list[Person]: ...

    async def around(self, subject: str, also: Iterable[str] = ()) -> list[Person]:
        """The subject, their manager, their current reports and `also`."""
        ...

    async def erase(self, employee_id: str) -> int:
        """Forget the person's name, keeping their place in the chart; how many were."""
        ...


class FrameworkVersions(Protocol):
    """The framework versions this service has received (libs.replicas.framework_versions)."""

    async def framework(self, framework_id: str, version: int) -> Framework | None: ...

    async def role_profile(
        self, framework_id: str, version: int, position: tuple[str, str, str]
    ) -> EffectiveRoleProfile | None:
        """The effective role profile at a (family, track, level) as of that version."""
        ...


class Work(Protocol):
    """Everything one use case reads and writes, through one transaction: in a transaction,
    all that was written through it commits together, or none of it."""

    @property
    def events(self) -> EventLog: ...

    @property
    def records(self) -> CampaignRecords: ...

    @property
    def org_chart(self) -> OrgChart: ...

    @property
    def frameworks(self) -> FrameworkVersions: ...

    async def hold_campaign(self, campaign_id: str, *, exclusive: bool) -> None:
        """Until the transaction ends: shared, a command about one of the campaign's subjects
        (those never wait for each other); exclusive, closing it, which waits for the
        commands in flight and makes later ones wait for it."""
        ...
