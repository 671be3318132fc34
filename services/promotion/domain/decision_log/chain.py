"""Decision-log entries and the hash chain that links them: each entry's hash covers every
field but itself, including the hash of the entry before."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, get_args
from uuid import UUID, uuid4

from services.promotion.domain.decision_log.canonical import CanonicalError, canonical
from services.promotion.domain.decision_log.personal import PersonalText, TextMismatch, disclose

EntryKind = Literal[
    "nomination",
    "endorsement",
    "evidence",
    "readiness_evaluated",
    "calibration_confirmation",
    "decision",
    "appeal",
    "appeal_outcome",
    "erasure",
    "legal_hold",
    "legal_hold_lifted",
    "erasure_refused",
    "erasure_cleared",
]
ENTRY_KINDS: frozenset[str] = frozenset(get_args(EntryKind))

# The previous_hash of the first entry: there is no entry before it.
GENESIS_HASH = "0" * 64

# The fields an entry's hash covers, that is every field but `hash` (and `body`, which is
# these fields serialised).
HASHED_FIELDS: tuple[str, ...] = (
    "sequence",
    "entry_id",
    "kind",
    "case_id",
    "employee_id",
    "actor",
    "recorded_at",
    "payload",
    "previous_hash",
)


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One entry of the decision log.

    `payload` holds the exact inputs of the step (framework version, criteria version, the
    scores as they were, the rationale); `body` is the canonical serialisation of every field
    but `hash` (and itself) that `hash` was computed over: the bytes storage keeps and `verify`
    checks. An entry read back from storage carries its stored body; built from columns alone
    (`body=None`) it is re-serialised when verified.

    `personal` is the text held outside the chain for the payload's commitments (version 2,
    see `personal`), by field: None when it was not read, a field missing when it was erased.
    """

    sequence: int
    entry_id: UUID
    kind: EntryKind
    case_id: str
    employee_id: str
    actor: str
    recorded_at: datetime
    payload: Mapping[str, Any]
    previous_hash: str
    hash: str
    body: bytes | None = field(default=None, repr=False)
    personal: Mapping[str, PersonalText] | None = field(default=None, repr=False)

    def disclosed(self) -> dict[str, Any]:
        """The payload as readers show it: each committed field as its text, or `ERASED`.
        `TamperedEntry` when held text does not open its commitment."""
        try:
            return disclose(self.payload, self.personal)
        except TextMismatch as error:
            raise TamperedEntry(
                f"decision-log entry {self.sequence}: {error}: it was edited in the database; "
                "`talentledger audit verify` names it"
            ) from None

    def hashed_fields(self) -> dict[str, Any]:
        """Every field the hash covers, by name."""
        return hashed_fields(self)

    @classmethod
    def from_body(cls, body: bytes, hash: str) -> LogEntry:
        """The entry a stored body describes, its values as JSON gives them back (payload
        datetimes, UUIDs and Decimals are strings). Re-serialising it gives `body` again."""
        fields = parse_body(body)
        return cls(
            sequence=fields["sequence"],
            entry_id=UUID(fields["entry_id"]),
            kind=fields["kind"],
            case_id=fields["case_id"],
            employee_id=fields["employee_id"],
            actor=fields["actor"],
            recorded_at=datetime.fromisoformat(fields["recorded_at"]),
            payload=fields["payload"],
            previous_hash=fields["previous_hash"],
            hash=hash,
            body=bytes(body),
        )

    @classmethod
    def checked(cls, sequence: int, body: bytes, hash: str) -> LogEntry:
        """The entry a stored row records, read from its body once the body is shown to be
        what was hashed: what reads that drive or show decisions use, so an edited column
        steers nothing. `TamperedEntry` when the body or hash was changed."""
        if hashlib.sha256(body).hexdigest() != hash:
            raise TamperedEntry(
                f"decision-log entry {sequence} fails its hash: it was edited in the database; "
                "`talentledger audit verify` names what changed"
            )
        return cls.from_body(body, hash)


class TamperedEntry(RuntimeError):
    """A stored entry no longer matches what was recorded: nothing is decided or shown on it."""


class ChainHead(Protocol):
    """What links a new entry to the log and what a checkpoint signs: the head's position
    and hash (a `LogEntry`, a stored row, or `Verification.head`)."""

    @property
    def sequence(self) -> int: ...

    @property
    def hash(self) -> str: ...


class EntryRow(ChainHead, Protocol):
    """What `verify` reads from each row: a `LogEntry`, or any row object with its fields.
    `body` may be None when storage keeps no body: the columns are then re-serialised."""

    @property
    def entry_id(self) -> Any: ...

    @property
    def previous_hash(self) -> str: ...

    @property
    def body(self) -> bytes | None: ...


def hashed_fields(row: Any) -> dict[str, Any]:
    """The fields of `row` that its hash covers, by name."""
    return {name: getattr(row, name) for name in HASHED_FIELDS}


def parse_body(body: bytes) -> dict[str, Any]:
    """A stored canonical body back as a dict of JSON values."""
    fields = json.loads(bytes(body))
    if not isinstance(fields, dict) or set(fields) != set(HASHED_FIELDS):
        raise ValueError(f"not a decision-log body: its keys must be {sorted(HASHED_FIELDS)}")
    return fields


def entry_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256, in lowercase hex, of the canonical form of an entry's hashed fields.

    `fields` must hold exactly `HASHED_FIELDS`: leaving one out or adding `hash` would hash
    something else than every other entry.
    """
    names = set(fields)
    if names != set(HASHED_FIELDS):
        missing = sorted(set(HASHED_FIELDS) - names)
        extra = sorted(names - set(HASHED_FIELDS))
        raise ValueError(
            f"entry fields must be {list(HASHED_FIELDS)}: missing {missing}, unexpected {extra}"
        )
    return hashlib.sha256(canonical(fields)).hexdigest()


class EntryRefused(ValueError):
    """An entry that cannot be appended: the message says which field and why."""


def next_entry(
    previous: ChainHead | None,
    *,
    kind: EntryKind,
    case_id: str,
    employee_id: str,
    actor: str,
    recorded_at: datetime,
    payload: Mapping[str, Any],
    entry_id: UUID | None = None,
) -> LogEntry:
    """The entry that follows `previous` (None for the first entry of the log).

    Its sequence is previous.sequence + 1 (1 for the first), its previous_hash is
    previous.hash (`GENESIS_HASH` for the first). `payload` must be serialisable by
    `canonical`; its serialisation is captured in `body` at this moment, so later changes to
    the dict passed in change nothing in the record.
    """
    if kind not in ENTRY_KINDS:
        raise EntryRefused(f"kind {kind!r} is not one of {sorted(ENTRY_KINDS)}")
    for name, value in (("case_id", case_id), ("employee_id", employee_id), ("actor", actor)):
        if not isinstance(value, str) or not value.strip():
            raise EntryRefused(
                f"{name} is required: every log entry says whose case it is and who acted"
            )
    if not isinstance(recorded_at, datetime) or recorded_at.utcoffset() is None:
        raise EntryRefused("recorded_at must be a datetime with a time zone")
    if not isinstance(payload, Mapping):
        raise EntryRefused("payload must be a mapping of the step's inputs")
    if previous is None:
        sequence, previous_hash = 1, GENESIS_HASH
    else:
        sequence, previous_hash = previous.sequence + 1, previous.hash
    fields: dict[str, Any] = {
        "sequence": sequence,
        "entry_id": entry_id if entry_id is not None else uuid4(),
        "kind": kind,
        "case_id": case_id,
        "employee_id": employee_id,
        "actor": actor,
        "recorded_at": recorded_at,
        "payload": payload,
        "previous_hash": previous_hash,
    }
    try:
        body = canonical(fields)
    except CanonicalError as error:
        raise EntryRefused(str(error)) from None
    return LogEntry(**fields, hash=hashlib.sha256(body).hexdigest(), body=body)


def build_chain(steps: Iterable[Mapping[str, Any]]) -> list[LogEntry]:
    """A log from the keyword arguments of `next_entry` for each step, in order."""
    entries: list[LogEntry] = []
    for step in steps:
        entries.append(next_entry(entries[-1] if entries else None, **step))
    return entries
