"""Verifying the decision log: streaming over its entries in order, naming the first one
that is no longer what was recorded, and why; and, where rows come with the personal text held
beside the log, that each text opens its commitment and that none is missing unless an
erasure entry names it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any, Literal, NamedTuple

from services.promotion.domain.decision_log.canonical import CanonicalError, canonical
from services.promotion.domain.decision_log.chain import (
    GENESIS_HASH,
    HASHED_FIELDS,
    EntryRow,
    hashed_fields,
    parse_body,
)
from services.promotion.domain.decision_log.personal import (
    COMMITMENT_MARK,
    PersonalText,
    committed_fields,
)

# The canonical body ends with the keys that sort after "payload", whatever the payload holds:
#   ,"previous_hash":"<64 hex>","recorded_at":"<27 characters>","sequence":<digits>}
# so the previous hash sits at a fixed distance from the end, given the sequence's digit count.
_INSTANT_LENGTH = len("2026-01-01T00:00:00.000000Z")
_AFTER_PREVIOUS = len('","recorded_at":"') + _INSTANT_LENGTH + len('","sequence":') + len("}")

# An erasure entry's kind as its canonical body writes it (a nested "kind" also matches:
# the body is then parsed and its own kind checked).
_ERASURE_MARK = b'"kind":"erasure"'

FailureReason = Literal[
    "altered",
    "broken_link",
    "gap",
    "reordered",
    "inserted",
    "text_altered",
    "text_missing",
    "text_not_erased",
]


@dataclass(frozen=True, slots=True)
class Failure:
    """The first entry where the log stops being what was recorded.

    - `altered`: the entry's content, hash or a column no longer matches what was hashed;
    - `broken_link`: the entry does not commit to the entry before it (that one was replaced,
      or the chain was rewritten from here);
    - `gap`: entries before it are missing;
    - `reordered`: it is out of place, or its position was changed;
    - `inserted`: the named entry was added between two entries that linked to each other;
    - `text_altered`: personal text held beside the log (`field`) no longer opens the
      commitment the entry records: the text or its salt was changed;
    - `text_missing`: personal text (`field`) is gone but no erasure entry names it;
    - `text_not_erased`: the named erasure entry erased text (`field`, of the entry its
      detail names) that is held again, or that no entry before it committed to.

    `sequence` and `entry_id` are the named entry's, as stored.
    """

    sequence: int
    entry_id: str
    reason: FailureReason
    detail: str
    field: str | None = None

    def __str__(self) -> str:
        return f"entry {self.sequence} ({self.entry_id}): {self.reason}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Erased:
    """An entry whose personal text was erased: which fields, under which request, when (the
    erasure entry's time) and by which erasure entry. The entry itself still verifies."""

    sequence: int
    entry_id: str
    fields: tuple[str, ...]
    request_ref: str
    erased_at: datetime
    erasure_sequence: int

    def __str__(self) -> str:
        return (
            f"entry {self.sequence} ({self.entry_id}): {', '.join(self.fields)} erased on "
            f"{self.erased_at.date().isoformat()} under request {self.request_ref} "
            f"(entry {self.erasure_sequence})"
        )


class Head(NamedTuple):
    """The last entry verified: what a checkpoint signs."""

    sequence: int
    hash: str
    entry_id: str


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of `verify`. `entries` counts the entries that passed; `head` is the last
    of them (None for an empty log or when the first entry fails). `erased` names the entries
    whose personal text was erased, when the rows came with the text held beside the log."""

    ok: bool
    entries: int
    head: Head | None
    failure: Failure | None = None
    erased: tuple[Erased, ...] = ()

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
    walk = ChainWalk(check_columns)
    return walk.run(iter(entries))


class ChainWalk:
    """The state of one streaming verification, so it can stop at a sequence and go on."""

    def __init__(self, check_columns: bool) -> None:
        self.check_columns = check_columns
        self.count = 0
        self.previous_hash = GENESIS_HASH
        # The last two entries that passed, for naming them when a later one fails.
        self.previous_row: Any = None
        self.before_row: Any = None
        self.failure: Failure | None = None
        # Committed fields whose text is gone, by (entry id, field): an erasure entry further
        # on must name each; and the entries erasures named.
        self.gone: dict[tuple[str, str], int] = {}
        self.erased: list[Erased] = []

    def result(self) -> Verification:
        head = (
            Head(self.count, self.previous_hash, str(self.previous_row.entry_id))
            if self.count
            else None
        )
        return Verification(
            self.failure is None, self.count, head, self.failure, tuple(self.erased)
        )

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
            personal = getattr(row, "personal", None)
            if personal is not None and (COMMITMENT_MARK in body or _ERASURE_MARK in body):
                failure = self._texts(row, body, personal)
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
        if failure is None and until is None and self.gone:
            failure = self._missing()
        self.failure = failure
        return self.result()

    def _texts(self, row: Any, body: bytes, held: Any) -> Failure | None:
        """Check an entry's personal text against its commitments; note what is gone, and
        what an erasure entry names as erased."""
        fields = parse_body(body)
        payload = fields["payload"]
        entry_id = str(row.entry_id)
        if fields["kind"] == "erasure":
            failure = self._erasure(row, fields)
            if failure is not None:
                return failure
        for name, expected in committed_fields(payload).items():
            text: PersonalText | None = held.get(name)
            if text is None:
                self.gone[(entry_id, name)] = row.sequence
            elif text.commitment() != expected:
                return Failure(
                    sequence=row.sequence,
                    entry_id=entry_id,
                    reason="text_altered",
                    detail=f"its {name}, held beside the log, does not open the commitment the "
                    "entry records: the text or its salt was changed",
                    field=name,
                )
        return None

    def _erasure(self, row: Any, fields: dict[str, Any]) -> Failure | None:
        """Note what the erasure entry erased. What it names must be gone: text still held
        (a backup of it restored, say) is erased no longer."""
        payload = fields["payload"]
        by_entry: dict[str, tuple[int, list[str]]] = {}
        for named in payload.get("erased", []):
            key = (str(named.get("entry_id")), str(named.get("field")))
            sequence = self.gone.pop(key, None)
            if sequence is None:
                return Failure(
                    sequence=row.sequence,
                    entry_id=str(row.entry_id),
                    reason="text_not_erased",
                    detail=f"it erased the {key[1]} of entry {key[0]}, which is held beside "
                    "the log again, or was never committed to by an entry before it",
                    field=key[1],
                )
            by_entry.setdefault(key[0], (sequence, []))[1].append(key[1])
        at = datetime.fromisoformat(fields["recorded_at"])
        for entry_id, (sequence, names) in by_entry.items():
            self.erased.append(
                Erased(
                    sequence,
                    entry_id,
                    tuple(names),
                    str(payload.get("request_ref")),
                    at,
                    fields["sequence"],
                )
            )
        return None

    def _missing(self) -> Failure:
        (entry_id, name), sequence = min(self.gone.items(), key=lambda item: item[1])
        return Failure(
            sequence=sequence,
            entry_id=entry_id,
            reason="text_missing",
            detail=f"its {name} is no longer held beside the log and no erasure entry names "
            "it: it was removed outside an erasure",
            field=name,
        )


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
