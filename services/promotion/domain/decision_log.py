"""The tamper-evident promotion decision log (docs/domain.md §6).

Every step of a promotion case (nomination, endorsement, evidence, readiness evaluation,
calibration confirmation, decision, appeal, appeal outcome) is an entry in one append-only log.
An entry carries the exact inputs it relied on (framework version, criteria version, scores as
they were) and commits to the entry before it:

    hash = SHA-256(canonical({every field except hash}))

where the fields include `previous_hash`, the hash of the entry before (`GENESIS_HASH`, 64
zeros, for the first). Changing, removing, inserting or reordering any entry therefore breaks
the chain at that point, and `verify` names the first entry where it breaks. Someone able to
rewrite the whole chain consistently (a database administrator recomputing every hash) is
caught by a `Checkpoint`: the chain head's sequence and hash signed with an Ed25519 key held
outside the database and exported; `verify_checkpoint` shows the entry at the checkpoint's
sequence no longer has the signed hash. Removing entries from the end of the log is likewise
only visible against a checkpoint.

The canonical body. `canonical` is the one serialisation every hash is computed over (RFC 8785,
JSON Canonicalization Scheme; rules on `canonical`). Each entry keeps the exact bytes it was
hashed over in `body`, and storage should keep them too: the body is the record, the other
columns are projections of it for queries. Verifying then costs one SHA-256 per entry plus a
few comparisons: `verify(..., check_columns=False)` runs at over half the speed of a plain
`hashlib.sha256(body).hexdigest()` loop over the same bytes. That pass vouches for the bodies,
the hashes and the order (sequence column), and nothing else: an administrator who edits the
`actor` column of a decision and leaves its body alone is only seen by comparing the columns
with the body, which means re-serialising them, 20 to 40 times slower than hashing (the same
price as storing no body and recomputing it from the columns). So `check_columns=True`, the
default, does both: that is what `audit verify` needs, since an auditor reading a column must
be told it was edited. The chain-only pass is sound for readers that take the content from the
body. Rows read back without a body are re-serialised from their columns in either mode.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import islice
from json.encoder import encode_basestring
from typing import Any, Literal, NamedTuple, Protocol, get_args
from uuid import UUID, uuid4

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

# ---------------------------------------------------------------------------------------------
# Canonical serialisation
# ---------------------------------------------------------------------------------------------

# RFC 8785 §3.2.2.3: numbers are IEEE 754 doubles, so only integers in this range are exact.
MAX_SAFE_INTEGER = 2**53 - 1


class CanonicalError(ValueError):
    """A value that has no canonical form: NaN, infinities, a naive datetime, an integer too
    large for an IEEE double, a non-string key, a lone surrogate or an unsupported type. The
    message names where in the value it sits (`$.payload.scores[2]`)."""


def canonical(payload: Any) -> bytes:
    """The canonical bytes of `payload`: RFC 8785 (JSON Canonicalization Scheme), UTF-8.

    - objects: keys must be strings; sorted by their UTF-16 code units (RFC 8785 §3.2.3); no
      whitespace anywhere; any `Mapping` is an object, `list` and `tuple` are arrays;
    - strings: UTF-8 as they are, escaping only `"`, `\\` and control characters (`\\n`, `\\t`,
      ..., otherwise `\\u00xx` in lowercase hex); a lone surrogate is refused;
    - `True`, `False`, `None`: `true`, `false`, `null`;
    - integers: their digits within +-(2**53 - 1); beyond that, JCS writes the nearest double,
      which is accepted only when its text still denotes exactly the integer (2**53, `1e+21`
      for 10**21); others (2**53 + 1) are refused rather than rounded: write them as strings;
    - floats: the ECMAScript shortest round-trip form, as RFC 8785 requires: `3.5`, `4` for
      4.0, `0` for -0.0, `1e+21`, `1e-7`, `0.000001`; so 4 and 4.0 are the same number.
      NaN and infinities are refused;
    - `datetime`: must carry a time zone; written as a string in UTC, ISO 8601, always with
      microseconds and `Z`: `"2026-03-01T09:30:00.000000Z"` (PostgreSQL `timestamptz` keeps
      microseconds, so a stored value reads back to the same bytes);
    - `date`: `"2026-03-01"`; `UUID`: lowercase hyphenated string;
    - `Decimal`: a string of its exact value in plain notation with no trailing zeros
      (`Decimal("3.50")` is `"3.5"`, `Decimal("1E+2")` is `"100"`), so it is never rounded
      through a double; NaN and infinities are refused;
    - anything else (bytes, sets, `time`, models, ...) is refused: convert it first.

    The string forms of datetimes, dates, UUIDs and Decimals are JSON strings, so a value
    read back from JSON (e.g. a `jsonb` column) as a string has the same canonical bytes.
    """
    try:
        return _encode(payload).encode("utf-8")
    except CanonicalError as error:
        raise CanonicalError(f"{_locate(payload, '$') or '$'}: {error}") from None
    except RecursionError:
        raise CanonicalError("$: nested too deeply, or contains itself") from None
    except UnicodeEncodeError:
        raise CanonicalError(
            f"{_locate(payload, '$') or '$'}: a string holds a lone surrogate, which UTF-8 "
            "cannot encode"
        ) from None


def _encode(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if kind is dict:
        return _object(value)
    if kind is int:
        return _integer(value)
    if kind is float:
        return _float(value)
    if kind is list or kind is tuple:
        return "[" + ",".join([_encode(item) for item in value]) + "]"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return _other(value)


def _object(value: Mapping[Any, Any]) -> str:
    keys = list(value)
    for key in keys:
        if not isinstance(key, str):
            raise CanonicalError(f"object key {key!r} is not a string")
    if all([key.isascii() for key in keys]):
        keys.sort()
    else:
        # RFC 8785 §3.2.3: sorted by UTF-16 code units. Big-endian UTF-16 bytes compare the
        # same way; code points differ from that order above U+FFFF.
        keys.sort(key=lambda key: key.encode("utf-16-be", "surrogatepass"))
    return (
        "{" + ",".join([encode_basestring(key) + ":" + _encode(value[key]) for key in keys]) + "}"
    )


def _integer(value: int) -> str:
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return int.__repr__(value)
    # Beyond that, JCS reads a number as the nearest double and writes that double's shortest
    # form: accepted when that text still denotes exactly this integer (2**53, 10**21 as
    # "1e+21"), so nothing is rounded and the value reads back from JSON the same.
    try:
        text = _float(float(value))
    except OverflowError:
        text = ""
    if text and int(Decimal(text)) == value:
        return text
    raise CanonicalError(
        f"integer {value} is beyond +-(2**53 - 1) and its nearest double is another number; "
        "write it as a string"
    )


def _float(value: float) -> str:
    """ECMAScript Number.prototype.toString, as RFC 8785 §3.2.2.3 requires."""
    if value == 0:
        return "0"  # and -0.0
    text = float.__repr__(value)  # the shortest string that reads back to the same double
    if "e" not in text:
        if "n" in text:  # nan, inf
            raise CanonicalError(f"{text} is not a number JSON can carry")
        # Python writes 1e-4 <= |x| < 1e16 in plain notation, with the same digits as
        # ECMAScript, which only drops the ".0" of whole numbers.
        return text[:-2] if text.endswith(".0") else text
    sign = ""
    if text[0] == "-":
        sign, text = "-", text[1:]
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    # value = 0.<digits> x 10**point
    point = len(whole) + int(exponent)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    count = len(digits)
    if count <= point <= 21:
        return sign + digits + "0" * (point - count)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    power = point - 1
    mantissa = digits if count == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{mantissa}e{'+' if power >= 0 else '-'}{abs(power)}"


def _other(value: Any) -> str:
    """Everything `_encode` does not dispatch on by exact type."""
    if isinstance(value, datetime):
        return '"' + _instant(value) + '"'
    if isinstance(value, date):
        return '"' + value.isoformat() + '"'
    if isinstance(value, UUID):
        return '"' + str(value) + '"'
    if isinstance(value, Decimal):
        return '"' + _decimal(value) + '"'
    # Subclasses of the JSON types (enums, other mappings) are written as their base type.
    if isinstance(value, str):
        return encode_basestring(str.__str__(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return _integer(int(value))
    if isinstance(value, float):
        return _float(float(value))
    if isinstance(value, Mapping):
        return _object(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join([_encode(item) for item in value]) + "]"
    raise CanonicalError(
        f"{type(value).__name__} has no canonical form (supported: str, int, float, bool, "
        "None, dict, list, tuple, aware datetime, date, UUID, Decimal)"
    )


def _instant(value: datetime) -> str:
    offset = value.utcoffset()
    if offset is None:
        raise CanonicalError(f"datetime {value.isoformat()} has no time zone: it names no instant")
    if offset:
        value = value.astimezone(UTC)
    # "+00:00" off the end: the same instant in UTC, written with "Z".
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


def _decimal(value: Decimal) -> str:
    if not value.is_finite():
        raise CanonicalError(f"Decimal {value} is not a finite number")
    if value.is_zero():
        return "0"
    return format(value.normalize(), "f")


def _locate(value: Any, path: str) -> str:
    """Where in `value` the first part without a canonical form sits (only on errors)."""
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str) or _refused(key):
                return path
            found = _locate(value[key], path + (f".{key}" if key.isidentifier() else f"[{key!r}]"))
            if found:
                return found
        return ""
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _locate(item, f"{path}[{index}]")
            if found:
                return found
        return ""
    return path if _refused(value) else ""


def _refused(leaf: Any) -> bool:
    try:
        _encode(leaf).encode("utf-8")
    except (CanonicalError, UnicodeEncodeError):
        return True
    return False


def instant(value: datetime) -> str:
    """How `canonical` writes a datetime: UTC, microseconds, `Z`."""
    return _instant(value)


# ---------------------------------------------------------------------------------------------
# Entries
# ---------------------------------------------------------------------------------------------

EntryKind = Literal[
    "nomination",
    "endorsement",
    "evidence",
    "readiness_evaluated",
    "calibration_confirmation",
    "decision",
    "appeal",
    "appeal_outcome",
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

# The canonical body ends with the keys that sort after "payload", whatever the payload holds:
#   ,"previous_hash":"<64 hex>","recorded_at":"<27 characters>","sequence":<digits>}
# so the previous hash sits at a fixed distance from the end, given the sequence's digit count.
_INSTANT_LENGTH = len("2026-01-01T00:00:00.000000Z")
_AFTER_PREVIOUS = len('","recorded_at":"') + _INSTANT_LENGTH + len('","sequence":') + len("}")


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One entry of the decision log.

    `payload` holds the exact inputs of the step (framework version, criteria version, the
    scores as they were, the rationale); `body` is the canonical serialisation of every field
    but `hash` (and itself) that `hash` was computed over: the bytes storage keeps and `verify`
    checks. An entry read back from storage carries its stored body; built from columns alone
    (`body=None`) it is re-serialised when verified.
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


# ---------------------------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------------------------

FailureReason = Literal["altered", "broken_link", "gap", "reordered", "inserted"]


@dataclass(frozen=True, slots=True)
class Failure:
    """The first entry where the log stops being what was recorded.

    - `altered`: the entry's content, hash or a column no longer matches what was hashed;
    - `broken_link`: the entry does not commit to the entry before it (that one was replaced,
      or the chain was rewritten from here);
    - `gap`: entries before it are missing;
    - `reordered`: it is out of place, or its position was changed;
    - `inserted`: the named entry was added between two entries that linked to each other.

    `sequence` and `entry_id` are the named entry's, as stored.
    """

    sequence: int
    entry_id: str
    reason: FailureReason
    detail: str

    def __str__(self) -> str:
        return f"entry {self.sequence} ({self.entry_id}): {self.reason}: {self.detail}"


class Head(NamedTuple):
    """The last entry verified: what a checkpoint signs."""

    sequence: int
    hash: str
    entry_id: str


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of `verify`. `entries` counts the entries that passed; `head` is the last
    of them (None for an empty log or when the first entry fails)."""

    ok: bool
    entries: int
    head: Head | None
    failure: Failure | None = None

    def __bool__(self) -> bool:
        return self.ok


def verify(entries: Iterable[EntryRow], *, check_columns: bool = True) -> Verification:
    """Check the log, in sequence order, and name the first entry that fails.

    Streams: holds only the last two entries that passed, whatever the log's length. For each
    row: its sequence column follows the one before (1 first); SHA-256 of its body equals its
    `hash`; its body commits to the previous entry's hash; and, with `check_columns`, every
    hashed column (previous_hash included) re-serialises to exactly its body. A row without a
    body (`body=None`) is re-serialised from its columns in either mode, so every column is
    checked through its hash. See the module docstring for the trade-off.

    A log whose last entries were removed verifies: only a checkpoint shows that.
    """
    walk = _Walk(check_columns)
    return walk.run(iter(entries))


class _Walk:
    """The state of one streaming verification, so it can stop at a sequence and go on."""

    def __init__(self, check_columns: bool) -> None:
        self.check_columns = check_columns
        self.count = 0
        self.previous_hash = GENESIS_HASH
        # The last two entries that passed, for naming them when a later one fails.
        self.previous_row: Any = None
        self.before_row: Any = None
        self.failure: Failure | None = None

    def result(self) -> Verification:
        head = (
            Head(self.count, self.previous_hash, str(self.previous_row.entry_id))
            if self.count
            else None
        )
        return Verification(self.failure is None, self.count, head, self.failure)

    def run(self, rows: Iterator[EntryRow], until: int | None = None) -> Verification:
        """Verify rows until the entry at sequence `until` (inclusive) or the end.

        The loop is the whole cost of verifying a long log: everything that only serves to
        explain a failure happens after it, in the `_..._failure` functions.
        """
        if self.failure is not None:
            return self.result()
        source = rows if until is None else islice(rows, max(until - self.count, 0))
        sha256 = hashlib.sha256
        check_columns = self.check_columns
        expected = self.count + 1
        previous_hash = self.previous_hash
        previous_link = previous_hash.encode("ascii")
        previous_row = self.previous_row
        before_row = self.before_row
        digits = len(str(expected))
        widen_at = 10**digits
        # Where the previous hash starts in a canonical body (see _AFTER_PREVIOUS).
        link_at = -(_AFTER_PREVIOUS + digits + 64)
        failure: Failure | None = None
        for row in source:
            if row.sequence != expected:
                failure = _sequence_failure(row, expected, previous_row, rows)
                break
            if expected == widen_at:
                widen_at *= 10
                link_at -= 1
            body = row.body
            if body is None:
                try:
                    body = canonical(hashed_fields(row))
                except CanonicalError as error:
                    failure = _fail(row, "altered", f"its columns cannot be serialised ({error})")
                    break
            digest = sha256(body).hexdigest()
            if digest != row.hash:
                failure = _fail(
                    row,
                    "altered",
                    "its stored hash is not the SHA-256 of its content: the entry or its hash "
                    "was edited",
                )
                break
            if not body.startswith(previous_link, link_at):
                failure = _link_failure(
                    row, body, expected, previous_hash, previous_row, before_row, rows
                )
                if failure.reason == "inserted":
                    # The entry before, already passed, was added: it does not count.
                    expected -= 1
                    previous_row = before_row
                    previous_hash = before_row.hash if before_row is not None else GENESIS_HASH
                break
            if check_columns and row.body is not None:
                failure = _column_failure(row, body)
                if failure is not None:
                    break
            before_row = previous_row
            previous_row = row
            previous_hash = digest
            previous_link = digest.encode("ascii")
            expected += 1
        self.count = expected - 1
        self.previous_hash = previous_hash
        self.previous_row = previous_row
        self.before_row = before_row
        self.failure = failure
        return self.result()


def _fail(row: Any, reason: FailureReason, detail: str) -> Failure:
    return Failure(sequence=row.sequence, entry_id=str(row.entry_id), reason=reason, detail=detail)


def _sequence_failure(row: Any, expected: int, previous_row: Any, rows: Iterator[Any]) -> Failure:
    """The row's sequence column is not the next one: missing entries, a moved entry, an
    added entry or an edited sequence column."""
    sequence = row.sequence
    if _body_sequence(row.body) == expected:
        return Failure(
            sequence=expected,
            entry_id=str(row.entry_id),
            reason="altered",
            detail=f"its sequence column reads {sequence!r} but its hashed content says "
            f"{expected}: the sequence column was edited",
        )
    if not isinstance(sequence, int):
        return _fail(row, "altered", f"sequence {sequence!r} is not a number")
    if sequence < expected:
        if sequence == expected - 1:
            return _fail(
                row,
                "inserted",
                f"a second entry with sequence {sequence}, after {_id(previous_row)}: one of "
                "the two was added",
            )
        return _fail(row, "reordered", f"sequence {sequence} comes after {expected - 1}")
    if expected <= _sequence_of(next(rows, None)) < sequence:
        return _fail(row, "reordered", f"sequence {sequence} comes where {expected} was due")
    missing = str(expected) if sequence == expected + 1 else f"{expected} to {sequence - 1}"
    return _fail(row, "gap", f"entries {missing} before it are missing: removed")


def _sequence_of(row: Any) -> int:
    """The sequence a row's content says it has (its column's when it has no body); -1 for
    no row."""
    if row is None:
        return -1
    embedded = _body_sequence(row.body)
    if embedded is not None:
        return embedded
    return row.sequence if isinstance(row.sequence, int) else -1


def _column_failure(row: Any, body: bytes) -> Failure | None:
    """None when every hashed column re-serialises to the stored body (which is intact: its
    hash was checked), else the columns that were edited."""
    try:
        if canonical(hashed_fields(row)) == body:
            return None
    except CanonicalError:
        pass
    try:
        stored = parse_body(body)
    except ValueError:
        return _fail(row, "altered", "its stored body is not a decision-log entry")
    differing = []
    for name in HASHED_FIELDS:
        try:
            same = canonical(getattr(row, name)) == canonical(stored[name])
        except CanonicalError:
            same = False
        if not same:
            differing.append(name)
    names = ", ".join(differing) or "the columns"
    return _fail(
        row,
        "altered",
        f"{names} no longer match the content that was hashed: edited after it was recorded",
    )


def _link_failure(
    row: Any,
    body: bytes,
    expected: int,
    previous_hash: str,
    previous_row: Any,
    before_row: Any,
    rows: Iterator[Any],
) -> Failure:
    """Why the row's content does not commit to the entry before it."""
    embedded_sequence = _body_sequence(body)
    embedded_previous = _body_previous(body)
    if embedded_previous == previous_hash and embedded_sequence == expected:
        return _fail(row, "altered", "its stored content is not in the canonical form")
    if before_row is not None and embedded_previous == before_row.hash:
        return Failure(
            sequence=expected - 1,
            entry_id=_id(previous_row),
            reason="inserted",
            detail=f"the entry after it ({row.entry_id}) links to the entry before it "
            f"({before_row.entry_id}): it was added between them",
        )
    if expected == 2 and embedded_previous == GENESIS_HASH:
        return Failure(
            sequence=1,
            entry_id=_id(previous_row),
            reason="inserted",
            detail=f"the entry after it ({row.entry_id}) is the first of the log: it was added "
            "before it",
        )
    if embedded_sequence is not None and embedded_sequence != expected:
        if embedded_sequence < expected or expected <= _sequence_of(next(rows, None)) < (
            embedded_sequence
        ):
            return _fail(
                row,
                "reordered",
                f"its content says it is entry {embedded_sequence}, found at {expected}",
            )
        return _fail(
            row,
            "gap",
            f"its content says it is entry {embedded_sequence}, found at {expected}: entries "
            "before it were removed and the later ones renumbered",
        )
    return _fail(
        row,
        "broken_link",
        f"it does not commit to entry {expected - 1} ({_id(previous_row)}): that entry was "
        "replaced, or the chain was rewritten from here",
    )


def _id(row: Any) -> str:
    return "none" if row is None else str(row.entry_id)


def _body_sequence(body: bytes | None) -> int | None:
    if not body:
        return None
    start = body.rfind(b'"sequence":')
    if start < 0 or not body.endswith(b"}"):
        return None
    try:
        return int(body[start + len(b'"sequence":') : -1])
    except ValueError:
        return None


def _body_previous(body: bytes) -> str | None:
    start = body.rfind(b'"previous_hash":"')
    if start < 0:
        return None
    start += len(b'"previous_hash":"')
    return bytes(body[start : start + 64]).decode("ascii", "replace")


# ---------------------------------------------------------------------------------------------
# Signed checkpoints
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The chain head at a moment, signed: `signature` is Ed25519 (hex) over
    canonical({"created_at", "head_hash", "sequence"}). Exported out of the database's reach,
    it shows a later rewrite of entries 1..sequence, or their removal.

    `public_key` (raw, hex) names the key that signed it. It is not trusted on its own: a
    verifier compares its fingerprint with the one it has pinned (`verify_pinned`)."""

    sequence: int
    head_hash: str
    created_at: datetime
    signature: str
    public_key: str

    def signed_bytes(self) -> bytes:
        return _checkpoint_message(self.sequence, self.head_hash, self.created_at)

    def to_json(self) -> str:
        """The export format: one canonical JSON object with the four fields."""
        return canonical(
            {
                "sequence": self.sequence,
                "head_hash": self.head_hash,
                "created_at": self.created_at,
                "signature": self.signature,
                "public_key": self.public_key,
            }
        ).decode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> Checkpoint:
        """A checkpoint exported by `to_json`; ValueError says what is wrong with it."""
        data = json.loads(text)
        fields = {"sequence", "head_hash", "created_at", "signature", "public_key"}
        if not isinstance(data, dict) or set(data) != fields:
            raise ValueError(f"a checkpoint is a JSON object with exactly {sorted(fields)}")
        if not isinstance(data["sequence"], int) or not all(
            isinstance(data[name], str) for name in fields - {"sequence"}
        ):
            raise ValueError("a checkpoint's sequence is a number and its other fields strings")
        created_at = datetime.fromisoformat(data["created_at"])
        if created_at.utcoffset() is None:
            raise ValueError("a checkpoint's created_at carries a time zone")
        return cls(
            sequence=data["sequence"],
            head_hash=data["head_hash"],
            created_at=created_at,
            signature=data["signature"],
            public_key=data["public_key"],
        )

    @property
    def fingerprint(self) -> str:
        """The fingerprint (`key_fingerprint`) of the key it names; "" when it names none."""
        try:
            return key_fingerprint(_raw_public_key(self.public_key))
        except ValueError:
            return ""


def _checkpoint_message(sequence: int, head_hash: str, created_at: datetime) -> bytes:
    return canonical({"sequence": sequence, "head_hash": head_hash, "created_at": created_at})


def sign_checkpoint(
    private_key: Ed25519PrivateKey, head: ChainHead, *, created_at: datetime | None = None
) -> Checkpoint:
    """Sign the chain head (a `LogEntry`, a row, or `Verification.head`). Use a key kept for
    checkpoints alone, outside the database. `created_at` defaults to now."""
    if not isinstance(private_key, Ed25519PrivateKey):
        raise TypeError("checkpoints are signed with an Ed25519 private key")
    if head.sequence < 1:
        raise ValueError("an empty log has no head to sign")
    moment = created_at if created_at is not None else datetime.now(UTC)
    message = _checkpoint_message(head.sequence, head.hash, moment)
    return Checkpoint(
        sequence=head.sequence,
        head_hash=head.hash,
        created_at=moment,
        signature=private_key.sign(message).hex(),
        public_key=_raw(private_key.public_key()).hex(),
    )


CheckpointProblem = Literal["wrong_key", "bad_signature", "chain_broken", "rewritten", "truncated"]


@dataclass(frozen=True, slots=True)
class CheckpointVerification:
    """The log against one checkpoint.

    - `bad_signature`: the checkpoint was not signed by this key as it stands (forged,
      edited, or another key);
    - `chain_broken`: `chain` names the first failing entry;
    - `rewritten`: the chain verifies but its entry at the checkpoint's sequence has another
      hash than the one signed: entries up to there were rewritten consistently;
    - `truncated`: the log ends before the checkpoint's sequence: entries were removed;
    - `wrong_key` (`verify_pinned`): the checkpoint names another key than the pinned one.

    `after` counts the entries verified beyond the checkpoint's sequence: the part of the log
    no signature vouches for yet.
    """

    ok: bool
    problem: CheckpointProblem | None
    detail: str
    chain: Verification | None
    after: int = 0

    def __bool__(self) -> bool:
        return self.ok


def verify_checkpoint(
    public_key: Ed25519PublicKey,
    checkpoint: Checkpoint,
    entries: Iterable[EntryRow],
    *,
    check_columns: bool = True,
) -> CheckpointVerification:
    """Check the checkpoint's signature, then verify the whole log (as `verify`) and compare
    the hash of its entry at the checkpoint's sequence with the signed one."""
    if not isinstance(public_key, Ed25519PublicKey):
        raise TypeError("checkpoints are verified with the Ed25519 public key that signed them")
    try:
        public_key.verify(bytes.fromhex(checkpoint.signature), checkpoint.signed_bytes())
    except (InvalidSignature, ValueError, CanonicalError):
        return CheckpointVerification(
            False,
            "bad_signature",
            f"the checkpoint at sequence {checkpoint.sequence} is not signed by this key as it "
            "stands: forged, edited or signed with another key",
            None,
        )
    walk = _Walk(check_columns)
    rows = iter(entries)
    at_checkpoint = walk.run(rows, until=checkpoint.sequence)
    if not at_checkpoint.ok:
        return CheckpointVerification(
            False, "chain_broken", str(at_checkpoint.failure), at_checkpoint
        )
    head = at_checkpoint.head
    if head is None or head.sequence < checkpoint.sequence:
        held = head.sequence if head else 0
        return CheckpointVerification(
            False,
            "truncated",
            f"the checkpoint of {_when(checkpoint)} covers {checkpoint.sequence} entries, the "
            f"log holds {held}: entries were removed",
            at_checkpoint,
        )
    if head.hash != checkpoint.head_hash:
        whole = walk.run(rows)
        return CheckpointVerification(
            False,
            "rewritten",
            f"entry {head.sequence} ({head.entry_id}) has hash {head.hash}, the checkpoint "
            f"signed on {_when(checkpoint)} says {checkpoint.head_hash}: entries up to "
            f"{head.sequence} were rewritten",
            whole,
        )
    whole = walk.run(rows)
    if not whole.ok:
        return CheckpointVerification(False, "chain_broken", str(whole.failure), whole)
    return CheckpointVerification(
        True,
        None,
        f"entries 1 to {checkpoint.sequence} match the checkpoint of {_when(checkpoint)}; "
        f"{whole.entries} entries verified",
        whole,
        whole.entries - checkpoint.sequence,
    )


def verify_pinned(
    pinned_fingerprint: str,
    checkpoint: Checkpoint,
    entries: Iterable[EntryRow],
    *,
    check_columns: bool = True,
) -> CheckpointVerification:
    """`verify_checkpoint` with the key the checkpoint names, once its fingerprint is the
    pinned one: whoever can write where checkpoints are kept cannot vouch for a rewritten
    log with a key of their own."""
    named = checkpoint.fingerprint
    if not pinned_fingerprint or named != pinned_fingerprint.strip().lower():
        return CheckpointVerification(
            False,
            "wrong_key",
            f"the checkpoint at sequence {checkpoint.sequence} of {_when(checkpoint)} is signed "
            f"with key {named or '(none named)'}, not with the pinned key "
            f"{pinned_fingerprint or '(none pinned)'}: refused",
            None,
        )
    key = _raw_public_key(checkpoint.public_key)
    return verify_checkpoint(key, checkpoint, entries, check_columns=check_columns)


def _when(checkpoint: Checkpoint) -> str:
    try:
        return instant(checkpoint.created_at)
    except CanonicalError:
        return str(checkpoint.created_at)


# Key handling: PEM (PKCS#8 for private keys, SubjectPublicKeyInfo for public keys).


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_to_pem(key: Ed25519PrivateKey, password: bytes | None = None) -> bytes:
    """PKCS#8 PEM, encrypted with `password` when given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def private_key_from_pem(data: bytes, password: bytes | None = None) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(data, password=password)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"expected an Ed25519 private key, got {type(key).__name__}")
    return key


def public_key_to_pem(key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    """SubjectPublicKeyInfo PEM of the key (of its public half for a private key)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_key_from_pem(data: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"expected an Ed25519 public key, got {type(key).__name__}")
    return key


def key_fingerprint(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """SHA-256 (hex) of the raw public key: names the key a checkpoint was signed with."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return hashlib.sha256(_raw(public)).hexdigest()


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _raw_public_key(text: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
    except (ValueError, TypeError):
        raise ValueError(f"{text[:80]!r} is not a raw Ed25519 public key in hex") from None


__all__ = [
    "ENTRY_KINDS",
    "GENESIS_HASH",
    "HASHED_FIELDS",
    "CanonicalError",
    "Checkpoint",
    "CheckpointVerification",
    "EntryKind",
    "EntryRefused",
    "EntryRow",
    "Failure",
    "Head",
    "LogEntry",
    "TamperedEntry",
    "Verification",
    "build_chain",
    "canonical",
    "entry_hash",
    "generate_private_key",
    "hashed_fields",
    "instant",
    "key_fingerprint",
    "next_entry",
    "parse_body",
    "private_key_from_pem",
    "private_key_to_pem",
    "public_key_from_pem",
    "public_key_to_pem",
    "sign_checkpoint",
    "verify",
    "verify_checkpoint",
    "verify_pinned",
]
