"""The payload of each kind of decision-log entry (docs/domain.md §6), as a frozen model.

The log stores a payload as the JSON object its model dumps (`record`), and every hash is
computed over that object's canonical bytes; so a model must dump a stored payload back to
exactly what was stored, and its fields never change meaning. A change to what a kind of
entry holds is a new model with the next `version`, registered beside the old one: entries
already recorded keep their bytes and are read with the model of their version. Every entry
recorded so far is version 1, which their stored bytes do not name.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from libs.events.schemas.promotion import Move
from services.promotion.domain.decision_log import EntryKind, LogEntry
from services.promotion.domain.readiness import Readiness

Outcome = Literal["approve", "deny", "defer"]
AppealResult = Literal["upheld", "overturned"]


class EntryPayload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ClassVar[EntryKind]
    version: ClassVar[int] = 1

    def record(self) -> dict[str, Any]:
        """The JSON object the log stores and hashes."""
        return self.model_dump(mode="json")


class Nomination(EntryPayload):
    kind: ClassVar[EntryKind] = "nomination"

    cycle_id: str
    framework_id: str
    framework_version: int
    move: Move
    operating_since: date | None
    note: str


class Endorsement(EntryPayload):
    kind: ClassVar[EntryKind] = "endorsement"

    note: str


class Evidence(EntryPayload):
    kind: ClassVar[EntryKind] = "evidence"

    item: str
    note: str


class CalibrationConfirmation(EntryPayload):
    kind: ClassVar[EntryKind] = "calibration_confirmation"

    session_id: str
    confirmed: bool
    note: str


class ReadinessEvaluated(EntryPayload):
    kind: ClassVar[EntryKind] = "readiness_evaluated"

    readiness: Readiness
    campaign_id: str


class Decision(EntryPayload):
    """A decision: the outcome, its rationale and the readiness it was judged on."""

    kind: ClassVar[EntryKind] = "decision"

    outcome: Outcome
    rationale: str
    cycle_id: str
    campaign_id: str
    readiness: Readiness


class Appeal(EntryPayload):
    kind: ClassVar[EntryKind] = "appeal"

    grounds: str


class AppealOutcome(Decision):
    """The decision on an appeal: the decision appealed upheld, or overturned."""

    kind: ClassVar[EntryKind] = "appeal_outcome"

    result: AppealResult


PAYLOADS: dict[tuple[EntryKind, int], type[EntryPayload]] = {
    (model.kind, model.version): model
    for model in (
        Nomination,
        Endorsement,
        Evidence,
        CalibrationConfirmation,
        ReadinessEvaluated,
        Decision,
        Appeal,
        AppealOutcome,
    )
}


def parse(kind: EntryKind, payload: Mapping[str, Any], version: int = 1) -> EntryPayload:
    """The stored payload of an entry of that kind as its model."""
    return PAYLOADS[(kind, version)].model_validate(payload)


def payload_of(entry: LogEntry) -> EntryPayload:
    return parse(entry.kind, entry.payload)
