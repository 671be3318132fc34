"""What the promotion use cases need from the world, as ports (docs/architecture.md §1,
Inside a service): the decision log, the service's own read models, the replicas it reads
and its event log, held in one transaction by a unit of work
(`libs.events.ports.UnitOfWork[Work]`): everything read and written through it commits
together or not at all, so a step's log entry and its integration event never disagree.
The PostgreSQL adapters implement them; the application tests run on in-memory ones.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from libs.events.envelope import Envelope
from libs.events.ports import EventLog
from libs.events.schemas.assessment import CalibrationCompleted
from libs.events.schemas.framework import EffectiveRoleProfile, Framework
from libs.events.schemas.hris import ProtectedAttributeRecorded
from libs.replicas.people import Person, RoleFact
from services.promotion.domain.criteria import CriteriaSet
from services.promotion.domain.decision_log import Checkpoint, EntryKind, LogEntry, PersonalText
from services.promotion.domain.readiness import CalibratedScores


class Acting(Protocol):
    """Who issues a command: a subject and the roles it holds (the platform's `Actor`)."""

    @property
    def subject(self) -> str: ...

    def has(self, role: str) -> bool: ...


@dataclass(frozen=True)
class Calibrated:
    """One person's scores from one calibration session, with where they come from."""

    campaign_id: str
    completed_at: datetime
    position: tuple[str, str, str] | None
    scores: CalibratedScores


@dataclass(frozen=True)
class Placed:
    """One person's calibrated scores, and where the org chart has them today."""

    calibrated: Calibrated
    department: str
    position: tuple[str, str, str] | None  # None: the org chart holds no whole position
    level_since: date | None  # the start of that position's level; None: unknown


@dataclass(frozen=True)
class RecordedAttribute:
    """A person's value of one protected attribute, as the HRIS last recorded it."""

    attribute: str
    value: str | None
    effective_on: date


@dataclass(frozen=True)
class PublishedCriteria:
    criteria: CriteriaSet
    published_by: str
    published_at: datetime


class DecisionLogEntries(Protocol):
    """The decision log, within a transaction. Every entry read is hash-checked against its
    stored body (`TamperedEntry` otherwise): what drives or shows a decision is what was
    recorded. Entries read come with the personal text held beside the log (`personal`)."""

    async def lock(self) -> None:
        """Hold the log's append lock until the transaction ends."""

    async def of_case(self, case_id: str) -> list[LogEntry]: ...

    async def of_employee(self, employee_id: str) -> list[LogEntry]: ...

    async def of_cycle(self, cycle_id: str) -> list[LogEntry]:
        """Every entry of the cases nominated for the cycle, in log order."""

    async def decisions(self) -> list[LogEntry]:
        """Every decision and appeal outcome, in log order."""

    async def of_hold(self, hold_id: str) -> list[LogEntry]:
        """The placement and the lifting of a legal hold, in log order."""

    async def by_actor(self, subject: str) -> list[LogEntry]:
        """Every entry `subject` recorded, on anyone's case, in log order."""

    async def append(
        self,
        *,
        kind: EntryKind,
        case_id: str,
        employee_id: str,
        actor: str,
        recorded_at: datetime,
        payload: Mapping[str, Any],
        personal: Mapping[str, PersonalText] | None = None,
    ) -> LogEntry:
        """Append one entry after the current head, and hold `personal` (the text its
        payload commits to, by field) beside it."""

    async def erase(self, erasure: LogEntry) -> int:
        """Remove the personal text and salts the erasure entry (appended in this
        transaction) names; how many fields were removed."""

    def batches(self) -> AsyncGenerator[list[LogEntry], None]:
        """Every entry in sequence order, a batch at a time, as stored (not hash-checked:
        verification does that)."""


class PromotionRecords(Protocol):
    """The service's read models: calibrations, criteria versions, protected attributes."""

    async def record_calibration(self, event: CalibrationCompleted, at: datetime) -> bool:
        """Keep a session's scores as they were; False when it was recorded before."""

    async def latest_calibration(
        self, employee_id: str, framework_id: str | None = None
    ) -> Calibrated | None:
        """The newest session that scored the employee (on that framework, when given)."""

    async def calibration_of(self, session_id: str, employee_id: str) -> Calibrated | None: ...

    async def population(self, session_id: str | None = None) -> list[Calibrated]:
        """Everyone the session scored (by employee id), else everyone the newest session
        scored; empty when there is no such session."""

    async def latest_session(self, department: str | None = None) -> str | None:
        """The newest session that scored someone the org chart has active in a department
        (in `department` when named); None when there is none."""

    def in_departments(
        self, session_id: str, department: str | None = None
    ) -> AsyncIterator[list[Placed]]:
        """The session's scores of everyone the org chart has active in a department (only
        `department`'s when named), each placed where the org chart has them, by employee
        id, a batch at a time: the caller holds one batch, not the population."""
        ...

    async def criteria(self, version: int | None = None) -> PublishedCriteria | None:
        """The given version, else the latest."""

    async def publish_criteria(self, draft: dict[str, Any], by: str, at: datetime) -> CriteriaSet:
        """Number `draft` (a `CriteriaSet` without its version) as the next version."""

    async def record_attribute(self, envelope: Envelope, event: ProtectedAttributeRecorded) -> None:
        """Keep the newest value per person and attribute."""

    async def attribute(self, attribute: str) -> dict[str, str | None]:
        """Each person's value of the protected attribute."""

    async def attributes_of(self, employee_id: str) -> list[RecordedAttribute]:
        """The person's own values of every protected attribute recorded for them."""

    async def calibrations_of(self, employee_id: str) -> list[Calibrated]:
        """Every session that scored the person, oldest first."""

    async def erase_attributes(self, employee_id: str) -> int:
        """Replace the person's protected attribute values by `[erased]`; how many were
        still held."""


class OrgChart(Protocol):
    """The replica of the HRIS org chart."""

    async def person(self, employee_id: str) -> Person | None: ...

    async def position_history(self, employee_id: str) -> list[RoleFact]:
        """The person's hirings and role changes, oldest first."""
        ...

    async def everyone(self) -> list[Person]:
        """Everyone the org chart holds, gone or not, by employee id."""

    async def managers_of(self, employee_id: str) -> list[str]:
        """Everyone above the person, nearest first."""

    async def erase(self, employee_id: str) -> int:
        """Forget the person's name, keeping their place in the chart; 0 on a repeat."""

    async def seen(self, envelope: Envelope, employee_id: str) -> None:
        """Mark an HRIS event of the person the org chart does not receive as applied, so
        that it does not leave their level start unknown."""


class KnownVersion(Protocol):
    @property
    def framework_id(self) -> str: ...

    @property
    def version(self) -> int: ...


class FrameworkVersions(Protocol):
    """The replica of the published framework versions and their role profiles."""

    async def framework(self, framework_id: str, version: int) -> Framework | None: ...

    async def role_profile(
        self, framework_id: str, version: int, position: tuple[str, str, str]
    ) -> EffectiveRoleProfile | None: ...

    async def all(self) -> Sequence[KnownVersion]: ...


class ErasureRequests(Protocol):
    """The replica of the erasure requests privacy officers made (docs/privacy.md,
    Requests), as far as it knows how each ended."""

    async def ended(self, request_ref: str) -> bool:
        """Whether the request has ended (`PersonErased` received)."""


class Work(Protocol):
    """Everything one use case reads and writes, through one transaction."""

    @property
    def log(self) -> DecisionLogEntries: ...

    @property
    def records(self) -> PromotionRecords: ...

    @property
    def org_chart(self) -> OrgChart: ...

    @property
    def frameworks(self) -> FrameworkVersions: ...

    @property
    def erasures(self) -> ErasureRequests: ...

    @property
    def events(self) -> EventLog:
        """The cases' integration events, appended in the step's transaction."""
        ...

    async def lock(self, name: str) -> None:
        """Wait for the service-wide lock `name`, held until the transaction ends."""

    async def try_lock(self, name: str) -> bool:
        """Take the lock `name` until the transaction ends; False when another holds it."""


class CheckpointSink(Protocol):
    """Where signed checkpoints are kept, outside the database."""

    @property
    def path(self) -> Path: ...

    def latest(self) -> Checkpoint | None: ...

    def append(self, checkpoint: Checkpoint) -> object: ...


class SigningKey(Protocol):
    """The checkpoint signing key, held outside the database."""

    def load(self) -> Ed25519PrivateKey: ...
