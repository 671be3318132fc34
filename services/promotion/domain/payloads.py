"""The payload of each kind of decision-log entry (docs/domain.md §6), as a frozen model.

The log stores a payload as the JSON object its model dumps (`record`), and every hash is
computed over that object's canonical bytes; so a model must dump a stored payload back to
exactly what was stored, and its fields never change meaning. A change to what a kind of
entry holds is a new model with the next `version`, registered beside the old one: entries
already recorded keep their bytes and are read with the model of their version.

- Version 1, which the stored bytes do not name: every field as written, personal text too.
- Version 2, named by the payload's `version` key: each personal text field (`personal` on
  the model: notes, rationales, the grounds of an appeal) is a salted commitment, the text
  and salt being held beside the log so that they can be erased (`decision_log.personal`,
  docs/privacy.md); a readiness is recorded without its evidence notes, which the evidence
  entries hold. The erasure, legal hold and refused erasure entries exist in version 2 only.
  Entries are written as version 2 (`sealed`); readers get the version 1 models, or for the
  kinds without one the model with the text, text disclosed (`payload_of`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, create_model

from libs.events.schemas.promotion import Move
from services.promotion.domain.decision_log import EntryKind, LogEntry, PersonalText, commit
from services.promotion.domain.readiness import Readiness, without_notes

Outcome = Literal["approve", "deny", "defer"]
AppealResult = Literal["upheld", "overturned"]


class EntryPayload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ClassVar[EntryKind]
    version: ClassVar[int] = 1
    # The fields holding personal free text, committed to in version 2.
    personal: ClassVar[tuple[str, ...]] = ()

    def record(self) -> dict[str, Any]:
        """The JSON object the log stores and hashes, in this model's version."""
        content = self.model_dump(mode="json")
        return content if self.version == 1 else {"version": self.version, **content}

    def sealed(self) -> tuple[dict[str, Any], dict[str, PersonalText]]:
        """The version 2 payload the log records for this content, and the personal text
        (with its fresh salt) to hold beside it, by field."""
        content = self.model_dump(mode="json")
        readiness = getattr(self, "readiness", None)
        if isinstance(readiness, Readiness):
            content["readiness"] = without_notes(readiness).model_dump(mode="json")
        held: dict[str, PersonalText] = {}
        for name in self.personal:
            content[name], held[name] = commit(content[name])
        return {"version": 2, **content}, held


class Commitment(BaseModel):
    """A personal text field in version 2: SHA-256 of the held salt followed by the text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    commitment: str = Field(pattern=r"^[0-9a-f]{64}$")


class Nomination(EntryPayload):
    kind: ClassVar[EntryKind] = "nomination"
    personal: ClassVar[tuple[str, ...]] = ("note",)

    cycle_id: str
    framework_id: str
    framework_version: int
    move: Move
    operating_since: date | None
    note: str


class Endorsement(EntryPayload):
    kind: ClassVar[EntryKind] = "endorsement"
    personal: ClassVar[tuple[str, ...]] = ("note",)

    note: str


class Evidence(EntryPayload):
    kind: ClassVar[EntryKind] = "evidence"
    personal: ClassVar[tuple[str, ...]] = ("note",)

    item: str
    note: str


class CalibrationConfirmation(EntryPayload):
    kind: ClassVar[EntryKind] = "calibration_confirmation"
    personal: ClassVar[tuple[str, ...]] = ("note",)

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
    personal: ClassVar[tuple[str, ...]] = ("rationale",)

    outcome: Outcome
    rationale: str
    cycle_id: str
    campaign_id: str
    readiness: Readiness


class Appeal(EntryPayload):
    kind: ClassVar[EntryKind] = "appeal"
    personal: ClassVar[tuple[str, ...]] = ("grounds",)

    grounds: str


class AppealOutcome(Decision):
    """The decision on an appeal: the decision appealed upheld, or overturned."""

    kind: ClassVar[EntryKind] = "appeal_outcome"

    result: AppealResult


class ErasedField(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    entry_id: UUID
    field: str


class Erasure(EntryPayload):
    """A person's personal text removed from beside the log under an erasure request: which
    entries and fields; never the text."""

    kind: ClassVar[EntryKind] = "erasure"
    version: ClassVar[int] = 2

    request_ref: str = Field(min_length=1)
    erased: tuple[ErasedField, ...]


class LegalHold(EntryPayload):
    """A legal hold placed on a person, or on one of their cases: while it is in force,
    nothing the service holds of the person is erased (docs/privacy.md, Legal holds). Why
    it was placed is personal text."""

    kind: ClassVar[EntryKind] = "legal_hold"
    version: ClassVar[int] = 2
    personal: ClassVar[tuple[str, ...]] = ("reason",)

    hold_id: str = Field(min_length=1)
    on: Literal["person", "case"]
    # Legal counsel's hold is lifted only by legal; HR's by either. A hold recorded before
    # this was kept is taken as legal's, the stricter.
    placed_as: Literal["hr_admin", "legal"] = "legal"
    reason: str


class HoldLifted(EntryPayload):
    """The legal hold `hold_id` lifted, and why."""

    kind: ClassVar[EntryKind] = "legal_hold_lifted"
    version: ClassVar[int] = 2
    personal: ClassVar[tuple[str, ...]] = ("reason",)

    hold_id: str = Field(min_length=1)
    reason: str


class ErasureRefused(EntryPayload):
    """An erasure request refused because legal holds were in force: which request, who
    made it, which holds; `reason` is what the request was answered with (each hold, who
    placed it, when and why), personal text like the holds' reasons it quotes."""

    kind: ClassVar[EntryKind] = "erasure_refused"
    version: ClassVar[int] = 2
    personal: ClassVar[tuple[str, ...]] = ("reason",)

    request_ref: str = Field(min_length=1)
    requested_by: str = Field(min_length=1)
    holds: tuple[str, ...] = Field(min_length=1)
    reason: str


class ErasureCleared(EntryPayload):
    """An erasure request cleared: no legal hold was in force on the person or their cases.
    Until the request has ended no hold is placed on them (docs/privacy.md, Legal holds)."""

    kind: ClassVar[EntryKind] = "erasure_cleared"
    version: ClassVar[int] = 2

    request_ref: str = Field(min_length=1)
    requested_by: str = Field(min_length=1)


CONTENT: tuple[type[EntryPayload], ...] = (
    Nomination,
    Endorsement,
    Evidence,
    CalibrationConfirmation,
    ReadinessEvaluated,
    Decision,
    Appeal,
    AppealOutcome,
)


def _version_2(model: type[EntryPayload]) -> type[EntryPayload]:
    """The model of a kind's version 2 payload: its personal fields as commitments."""
    fields: dict[str, Any] = {name: (Commitment, ...) for name in model.personal}
    sealed = create_model(f"{model.__name__}V2", __base__=model, **fields)
    sealed.version = 2
    return sealed


# The kinds written in version 2 from the start that hold personal text.
SEALED_ONLY: tuple[type[EntryPayload], ...] = (LegalHold, HoldLifted, ErasureRefused)

PAYLOADS: dict[tuple[EntryKind, int], type[EntryPayload]] = {
    (model.kind, model.version): model
    for model in (
        *CONTENT,
        *map(_version_2, CONTENT),
        Erasure,
        ErasureCleared,
        *map(_version_2, SEALED_ONLY),
    )
}
# What readers get of each kind: its text disclosed.
READABLE: dict[EntryKind, type[EntryPayload]] = {
    model.kind: model for model in (*CONTENT, Erasure, ErasureCleared, *SEALED_ONLY)
}


def parse(kind: EntryKind, payload: Mapping[str, Any]) -> EntryPayload:
    """The stored payload of an entry of that kind as the model of its version."""
    content = dict(payload)
    version = content.pop("version", 1)
    return PAYLOADS[(kind, version)].model_validate(content)


def payload_of(entry: LogEntry) -> EntryPayload:
    """What the entry records, as readers see it: the kind's model with its text (`READABLE`),
    personal text disclosed (`ERASED` once erased), whatever version it was recorded in."""
    content = entry.disclosed()
    content.pop("version", None)
    return READABLE[entry.kind].model_validate(content)
