"""The tamper-evident decision log (docs/domain.md §6: "The decision log is append-only and
tamper-evident: nomination, endorsement, readiness evaluation, decision and any appeal are
entries that can never be edited or deleted, only followed by new entries. Anyone can verify
the log has not been altered; an auditor can reconstruct any decision with the exact inputs it
used").

Entries are hash-chained over one canonical serialisation (RFC 8785); `verify` names the first
entry that was altered, removed, inserted or moved; a signed checkpoint of the chain head shows
a chain rewritten consistently from scratch, or cut short."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from itertools import pairwise
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.promotion.adapters.checkpoints import (
    generate_private_key,
    private_key_from_pem,
    private_key_to_pem,
    public_key_from_pem,
    public_key_to_pem,
)
from services.promotion.domain.decision_log import (
    ENTRY_KINDS,
    GENESIS_HASH,
    HASHED_FIELDS,
    CanonicalError,
    Checkpoint,
    EntryRefused,
    LogEntry,
    TamperedEntry,
    build_chain,
    canonical,
    entry_hash,
    hashed_fields,
    key_fingerprint,
    next_entry,
    sign_checkpoint,
    verify,
    verify_checkpoint,
    verify_pinned,
)
from tests.support.decision_log_entries import PRIVACY_KINDS

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
CASE = "case-0042"
EMPLOYEE = "emp-ada"
SCORES = {"coding": 3.5, "collaboration": 4.0, "system_design": 3.75, "coaching": 3.0}


def case_steps(case_id: str = CASE, employee_id: str = EMPLOYEE) -> list[dict[str, Any]]:
    """One promotion case from nomination to an appeal outcome, with the exact inputs each step
    used (framework version, criteria version, scores as they were)."""
    inputs = {"framework_version": 2, "criteria_version": 3, "target_level": "L4"}
    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("nomination", "mgr-grace", {**inputs, "from_level": "L3"}),
        ("endorsement", "mgr-grace", {"statement": "Operating at L4 since Q3."}),
        (
            "evidence",
            "mgr-grace",
            {"item": "has led a project with 3 or more cross-team stakeholders", "ref": "doc-7"},
        ),
        (
            "readiness_evaluated",
            "svc-promotion",
            {**inputs, "calibration": "cal-2026-h1", "scores": SCORES, "average": 3.5625},
        ),
        ("calibration_confirmation", "hr-lin", {"session": "cal-2026-h1", "confirmed": True}),
        (
            "decision",
            "dir-ken",
            {**inputs, "outcome": "approve", "rationale": "Meets every criterion; see evidence."},
        ),
        ("appeal", EMPLOYEE, {"against": "effective date", "statement": "Should be Q1."}),
        ("appeal_outcome", "dir-ken", {"outcome": "upheld", "effective": date(2026, 1, 1)}),
    ]
    return [
        {
            "kind": kind,
            "case_id": case_id,
            "employee_id": employee_id,
            "actor": actor,
            "recorded_at": T0 + timedelta(hours=index),
            "payload": payload,
            "entry_id": UUID(int=index + 1),
        }
        for index, (kind, actor, payload) in enumerate(steps)
    ]


@pytest.fixture
def log() -> list[LogEntry]:
    return build_chain(case_steps())


def columns_only(entries: list[LogEntry]) -> list[LogEntry]:
    """The rows as storage without a body column would give them back."""
    return [dataclasses.replace(entry, body=None) for entry in entries]


def renumbered(entries: list[LogEntry]) -> list[LogEntry]:
    """The rows with their sequence columns rewritten 1..n, bodies untouched: what an
    administrator editing the table to hide a removal, insertion or move would leave."""
    return [dataclasses.replace(e, sequence=i) for i, e in enumerate(entries, start=1)]


# --- building the chain -----------------------------------------------------------------------


def test_entries_chain_from_genesis(log: list[LogEntry]) -> None:
    assert [e.sequence for e in log] == list(range(1, 9))
    assert log[0].previous_hash == GENESIS_HASH == "0" * 64
    for before, entry in pairwise(log):
        assert entry.previous_hash == before.hash
    for entry in log:
        assert entry.body == canonical(hashed_fields(entry))
        assert (
            entry.hash == hashlib.sha256(entry.body).hexdigest() == entry_hash(hashed_fields(entry))
        )
    # Erasure entries: tests/unit/promotion/test_decision_log_personal.py; legal holds and
    # refused erasures: tests/unit/promotion/test_holds.py.
    assert {e.kind for e in log} == ENTRY_KINDS - PRIVACY_KINDS


def test_an_entry_keeps_the_inputs_as_they_were(log: list[LogEntry]) -> None:
    """docs/domain.md §6: a decision records the framework version, the criteria version, the
    calibration and the scores as they were. The body is captured when the entry is made."""
    scores = {"coding": 3.5}
    entry = next_entry(
        None,
        kind="readiness_evaluated",
        case_id=CASE,
        employee_id=EMPLOYEE,
        actor="svc",
        recorded_at=T0,
        payload={"scores": scores},
    )
    scores["coding"] = 5.0
    stored = LogEntry.from_body(entry.body or b"", entry.hash)
    assert stored.payload == {"scores": {"coding": 3.5}}
    decision = LogEntry.from_body(log[5].body or b"", log[5].hash)
    assert decision.payload["framework_version"] == 2
    assert decision.payload["criteria_version"] == 3
    assert decision.recorded_at == log[5].recorded_at
    assert decision.entry_id == log[5].entry_id


def test_entries_read_back_from_their_bodies_verify(log: list[LogEntry]) -> None:
    stored = [LogEntry.from_body(e.body or b"", e.hash) for e in log]
    assert verify(stored)
    assert verify(columns_only(stored))
    assert [canonical(hashed_fields(s)) for s in stored] == [e.body for e in log]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "rumour"}, "kind 'rumour'"),
        ({"actor": " "}, "actor is required"),
        ({"case_id": ""}, "case_id is required"),
        ({"recorded_at": datetime(2026, 3, 2, 9, 30)}, "time zone"),
        ({"payload": {"scores": {"coding": float("nan")}}}, "$.payload.scores.coding"),
        ({"payload": ["not", "a", "mapping"]}, "mapping"),
    ],
)
def test_an_entry_that_cannot_be_recorded_is_refused(change: dict[str, Any], message: str) -> None:
    step = {**case_steps()[0], **change}
    with pytest.raises(EntryRefused) as refused:
        next_entry(None, **step)
    assert message in str(refused.value)


def test_entry_hash_takes_exactly_the_hashed_fields(log: list[LogEntry]) -> None:
    fields = hashed_fields(log[0])
    with pytest.raises(ValueError, match="unexpected \\['hash'\\]"):
        entry_hash({**fields, "hash": log[0].hash})
    with pytest.raises(ValueError, match="missing \\['payload'\\]"):
        entry_hash({k: v for k, v in fields.items() if k != "payload"})


# --- verify -----------------------------------------------------------------------------------


@pytest.mark.parametrize("check_columns", [True, False])
def test_an_untouched_log_verifies(log: list[LogEntry], check_columns: bool) -> None:
    result = verify(log, check_columns=check_columns)
    assert result.ok
    assert result.failure is None
    assert result.entries == 8
    assert result.head is not None
    assert result.head.sequence == 8
    assert result.head.hash == log[-1].hash
    assert verify(columns_only(log), check_columns=check_columns).ok


def test_an_empty_log_verifies() -> None:
    result = verify([])
    assert result.ok
    assert result.entries == 0
    assert result.head is None


def test_verify_streams_in_constant_memory() -> None:
    """The whole log is never held: entries are checked as they arrive."""

    def entries(count: int) -> Iterator[LogEntry]:
        previous = None
        for index in range(count):
            previous = next_entry(
                previous,
                kind="evidence",
                case_id=f"case-{index}",
                employee_id=EMPLOYEE,
                actor="mgr",
                recorded_at=T0,
                payload={"item": "x" * 500, "index": index},
            )
            yield previous

    tracemalloc.start()
    try:
        result = verify(entries(3000), check_columns=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.ok
    assert result.entries == 3000
    assert peak < 500_000  # the 3000 entries take over 3 MB


def altered(entry: LogEntry, name: str) -> LogEntry:
    """The entry with one field changed, as an UPDATE of that one column would leave it."""
    changes: dict[str, Any] = {
        "sequence": entry.sequence + 100,
        "entry_id": UUID(int=999),
        "kind": "decision" if entry.kind != "decision" else "appeal",
        "case_id": "case-other",
        "employee_id": "emp-other",
        "actor": "someone-else",
        "recorded_at": entry.recorded_at + timedelta(microseconds=1),
        "payload": {**entry.payload, "rationale": "changed afterwards"},
        "previous_hash": "f" * 64,
        "hash": "e" * 64,
        "body": (entry.body or b"").replace(b'"actor":"', b'"actor":"x'),
    }
    return dataclasses.replace(entry, **{name: changes[name]})


# Every column of a row; `personal` is held beside the log, in another table
# (tests/unit/promotion/test_decision_log_personal.py).
EVERY_FIELD = [f.name for f in dataclasses.fields(LogEntry) if f.name != "personal"]
FIELDS_THE_BODY_VOUCHES_FOR = {
    "previous_hash",
    "entry_id",
    "kind",
    "case_id",
    "employee_id",
    "actor",
    "recorded_at",
    "payload",
}


# Rows stored without a body have no body to edit.
EDITS = [
    (storage, name)
    for storage in ("body and columns", "columns only")
    for name in EVERY_FIELD
    if not (storage == "columns only" and name == "body")
]


@pytest.mark.parametrize("position", [0, 3, 7])
@pytest.mark.parametrize(("storage", "name"), EDITS)
def test_editing_any_field_of_any_entry_is_named(
    log: list[LogEntry], name: str, position: int, storage: str
) -> None:
    """docs/domain.md §6: entries can never be edited. Whatever column an administrator changes,
    verify fails at that entry."""
    if storage == "columns only":
        log = columns_only(log)
    target = log[position]
    tampered = [*log[:position], altered(target, name), *log[position + 1 :]]
    result = verify(tampered)
    assert not result.ok
    assert result.failure is not None
    assert result.entries == position
    if name != "entry_id":
        assert result.failure.entry_id == str(target.entry_id)
    if name != "sequence":
        assert result.failure.sequence == target.sequence
    assert str(target.sequence) in str(result.failure) or name == "sequence"


@pytest.mark.parametrize("position", [0, 3, 7])
@pytest.mark.parametrize("name", EVERY_FIELD)
def test_the_chain_only_pass_vouches_for_the_stored_bodies(
    log: list[LogEntry], name: str, position: int
) -> None:
    """check_columns=False checks the chain of stored bodies (the record) at hashing speed; a
    column the body vouches for is then not compared with it."""
    target = log[position]
    tampered = [*log[:position], altered(target, name), *log[position + 1 :]]
    result = verify(tampered, check_columns=False)
    if name in FIELDS_THE_BODY_VOUCHES_FOR:
        assert result.ok
    else:
        assert not result.ok
        assert result.failure is not None
        assert result.failure.entry_id in (str(target.entry_id), str(UUID(int=999)))


def test_an_edited_column_is_named(log: list[LogEntry]) -> None:
    tampered = [*log[:5], dataclasses.replace(log[5], actor="intern"), *log[6:]]
    failure = verify(tampered).failure
    assert failure is not None
    assert (failure.sequence, failure.reason) == (6, "altered")
    assert failure.detail.startswith("actor no longer match")


def test_an_edited_body_is_content_altered(log: list[LogEntry]) -> None:
    body = (log[5].body or b"").replace(b'"approve"', b'"deny"')
    failure = verify([*log[:5], dataclasses.replace(log[5], body=body), *log[6:]]).failure
    assert failure is not None
    assert (failure.sequence, failure.reason) == (6, "altered")
    assert "SHA-256" in failure.detail


def test_an_entry_replaced_with_a_recomputed_hash_breaks_the_next_link(
    log: list[LogEntry],
) -> None:
    """Rewriting one entry and its hash is seen at the entry after it."""
    step = {**case_steps()[5], "payload": {"outcome": "deny", "rationale": "Not yet."}}
    forged = next_entry(log[4], **step)
    failure = verify([*log[:5], forged, *log[6:]]).failure
    assert failure is not None
    assert (failure.sequence, failure.entry_id, failure.reason) == (
        7,
        str(log[6].entry_id),
        "broken_link",
    )
    assert str(log[5].entry_id) in failure.detail


@pytest.mark.parametrize("position", [0, 3, 6])
def test_a_removed_entry_is_a_gap(log: list[LogEntry], position: int) -> None:
    result = verify([*log[:position], *log[position + 1 :]])
    assert result.failure is not None
    assert result.failure.reason == "gap"
    assert result.failure.entry_id == str(log[position + 1].entry_id)
    assert f"entries {position + 1} before it are missing" in result.failure.detail


def test_a_removed_entry_hidden_by_renumbering_is_a_gap(log: list[LogEntry]) -> None:
    result = verify(renumbered([*log[:3], *log[4:]]))
    assert result.failure is not None
    assert (result.failure.sequence, result.failure.reason) == (4, "gap")
    assert result.failure.entry_id == str(log[4].entry_id)


def test_removing_the_first_entries_is_a_gap(log: list[LogEntry]) -> None:
    failure = verify(log[2:]).failure
    assert failure is not None
    assert (failure.sequence, failure.reason) == (3, "gap")
    assert "entries 1 to 2" in failure.detail


def test_entries_out_of_order_are_named(log: list[LogEntry]) -> None:
    failure = verify([*log[:3], log[4], log[3], *log[5:]]).failure
    assert failure is not None
    assert (failure.sequence, failure.entry_id, failure.reason) == (
        5,
        str(log[4].entry_id),
        "reordered",
    )


def test_entries_moved_by_swapping_their_sequence_columns_are_named(
    log: list[LogEntry],
) -> None:
    """Ordered by the sequence column, the moved bodies no longer follow each other."""
    failure = verify(renumbered([*log[:3], log[4], log[3], *log[5:]])).failure
    assert failure is not None
    assert (failure.sequence, failure.entry_id, failure.reason) == (
        4,
        str(log[4].entry_id),
        "reordered",
    )


def test_an_edited_sequence_column_is_named(log: list[LogEntry]) -> None:
    failure = verify([*log[:3], dataclasses.replace(log[3], sequence=40), *log[4:]]).failure
    assert failure is not None
    assert (failure.sequence, failure.entry_id, failure.reason) == (
        4,
        str(log[3].entry_id),
        "altered",
    )
    assert "sequence column reads 40" in failure.detail


def forged_after(entry: LogEntry) -> LogEntry:
    return next_entry(
        entry,
        kind="evidence",
        case_id=CASE,
        employee_id=EMPLOYEE,
        actor="mallory",
        recorded_at=entry.recorded_at + timedelta(minutes=1),
        payload={"item": "backdated evidence"},
        entry_id=UUID(int=666),
    )


@pytest.mark.parametrize("check_columns", [True, False])
def test_an_inserted_entry_is_named(log: list[LogEntry], check_columns: bool) -> None:
    """An entry slipped in after entry 3 and linked to it, the later rows renumbered."""
    forged = forged_after(log[2])
    result = verify(renumbered([*log[:3], forged, *log[3:]]), check_columns=check_columns)
    assert result.failure is not None
    assert (result.failure.sequence, result.failure.entry_id, result.failure.reason) == (
        4,
        str(forged.entry_id),
        "inserted",
    )
    assert result.entries == 3


def test_an_entry_inserted_before_the_first_is_named(log: list[LogEntry]) -> None:
    forged = next_entry(
        None,
        kind="nomination",
        case_id=CASE,
        employee_id=EMPLOYEE,
        actor="mallory",
        recorded_at=T0,
        payload={},
        entry_id=UUID(int=667),
    )
    result = verify(renumbered([forged, *log]))
    assert result.failure is not None
    assert (result.failure.sequence, result.failure.entry_id, result.failure.reason) == (
        1,
        str(forged.entry_id),
        "inserted",
    )
    assert (result.entries, result.head) == (0, None)


def test_an_inserted_entry_sharing_a_sequence_is_named(log: list[LogEntry]) -> None:
    forged = forged_after(log[2])
    failure = verify([*log[:3], forged, *log[3:]]).failure
    assert failure is not None
    assert failure.reason == "inserted"
    assert failure.sequence == 4
    assert str(forged.entry_id) in f"{failure.entry_id} {failure.detail}"


# --- signed checkpoints -------------------------------------------------------------------------


def rewritten(log: list[LogEntry], position: int) -> list[LogEntry]:
    """The log with the entry at `position` changed and every later hash recomputed: what an
    administrator with the code and the database can produce."""
    steps = case_steps()
    steps[position] = {**steps[position], "payload": {"outcome": "deny", "rationale": "No."}}
    chain = list(log[:position])
    for step in steps[position:]:
        chain.append(next_entry(chain[-1] if chain else None, **step))
    return chain


def test_a_consistently_rewritten_chain_verifies_but_fails_its_checkpoint(
    log: list[LogEntry],
) -> None:
    key = generate_private_key()
    checkpoint = sign_checkpoint(key, log[-1], created_at=T0 + timedelta(days=1))
    assert verify_checkpoint(key.public_key(), checkpoint, log).ok

    forged = rewritten(log, 5)
    assert verify(forged).ok
    result = verify_checkpoint(key.public_key(), checkpoint, forged)
    assert not result.ok
    assert result.problem == "rewritten"
    assert f"entry 8 ({log[-1].entry_id})" in result.detail
    assert checkpoint.head_hash in result.detail


def test_a_checkpoint_before_the_rewrite_still_holds(log: list[LogEntry]) -> None:
    key = generate_private_key()
    early = sign_checkpoint(key, log[3], created_at=T0)
    late = sign_checkpoint(key, log[6], created_at=T0)
    forged = rewritten(log, 5)
    assert verify_checkpoint(key.public_key(), early, forged).ok
    assert verify_checkpoint(key.public_key(), late, forged).problem == "rewritten"


def test_removing_the_last_entries_fails_the_checkpoint(log: list[LogEntry]) -> None:
    """verify alone cannot see the end of the log cut off; a checkpoint can."""
    key = generate_private_key()
    checkpoint = sign_checkpoint(key, log[-1], created_at=T0)
    assert verify(log[:6]).ok
    result = verify_checkpoint(key.public_key(), checkpoint, log[:6])
    assert result.problem == "truncated"
    assert "covers 8 entries, the log holds 6" in result.detail


def test_a_broken_chain_fails_the_checkpoint_naming_the_entry(log: list[LogEntry]) -> None:
    key = generate_private_key()
    checkpoint = sign_checkpoint(key, log[-1], created_at=T0)
    tampered = [*log[:2], dataclasses.replace(log[2], actor="x"), *log[3:]]
    result = verify_checkpoint(key.public_key(), checkpoint, tampered)
    assert result.problem == "chain_broken"
    assert result.chain is not None
    assert result.chain.failure is not None
    assert result.chain.failure.sequence == 3


def test_entries_after_the_checkpoint_are_verified_too(log: list[LogEntry]) -> None:
    key = generate_private_key()
    checkpoint = sign_checkpoint(key, log[3], created_at=T0)
    assert verify_checkpoint(key.public_key(), checkpoint, log).chain.entries == 8  # type: ignore[union-attr]
    tampered = [*log[:6], dataclasses.replace(log[6], body=b"{}"), log[7]]
    result = verify_checkpoint(key.public_key(), checkpoint, tampered)
    assert result.problem == "chain_broken"
    assert "entry 7" in result.detail


def test_a_forged_checkpoint_fails(log: list[LogEntry]) -> None:
    key = generate_private_key()
    checkpoint = sign_checkpoint(key, log[-1], created_at=T0)
    forged_chain = rewritten(log, 2)
    # the administrator edits the exported checkpoint to the rewritten head
    edited = dataclasses.replace(checkpoint, head_hash=forged_chain[-1].hash)
    assert verify_checkpoint(key.public_key(), edited, forged_chain).problem == "bad_signature"
    # or signs one with a key of their own
    own = sign_checkpoint(generate_private_key(), forged_chain[-1], created_at=T0)
    assert verify_checkpoint(key.public_key(), own, forged_chain).problem == "bad_signature"
    garbage = dataclasses.replace(checkpoint, signature="not hex")
    assert verify_checkpoint(key.public_key(), garbage, log).problem == "bad_signature"
    later = dataclasses.replace(checkpoint, created_at=T0 + timedelta(seconds=1))
    assert not verify_checkpoint(key.public_key(), later, log).ok


def test_the_checkpoint_signs_the_canonical_head(log: list[LogEntry]) -> None:
    key = generate_private_key()
    head = verify(log).head
    assert head is not None
    checkpoint = sign_checkpoint(key, head, created_at=T0)
    assert (checkpoint.sequence, checkpoint.head_hash) == (8, log[-1].hash)
    assert checkpoint.signed_bytes() == (
        b'{"created_at":"2026-03-02T09:30:00.000000Z","head_hash":"'
        + log[-1].hash.encode()
        + b'","sequence":8}'
    )
    key.public_key().verify(bytes.fromhex(checkpoint.signature), checkpoint.signed_bytes())
    with pytest.raises(ValueError, match="empty log"):
        sign_checkpoint(key, head._replace(sequence=0))


def test_checkpoints_and_keys_export_and_import(log: list[LogEntry]) -> None:
    key = generate_private_key()
    checkpoint = sign_checkpoint(key, log[-1], created_at=datetime(2026, 3, 2, 11, tzinfo=UTC))
    exported = checkpoint.to_json()
    assert json.loads(exported) == {
        "created_at": "2026-03-02T11:00:00.000000Z",
        "head_hash": log[-1].hash,
        "sequence": 8,
        "signature": checkpoint.signature,
        "public_key": checkpoint.public_key,
    }
    assert checkpoint.fingerprint == key_fingerprint(key)
    imported = Checkpoint.from_json(exported)
    assert imported == checkpoint

    public_pem = public_key_to_pem(key)
    assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    public = public_key_from_pem(public_pem)
    assert key_fingerprint(public) == key_fingerprint(key)
    assert verify_checkpoint(public, imported, log).ok

    restored = private_key_from_pem(private_key_to_pem(key))
    assert public_key_to_pem(restored) == public_pem
    locked = private_key_to_pem(key, password=b"correct horse")
    assert b"ENCRYPTED" in locked
    assert public_key_to_pem(private_key_from_pem(locked, b"correct horse")) == public_pem
    with pytest.raises(ValueError, match="Ed25519"):
        public_key_from_pem(_rsa_public_pem())
    with pytest.raises(ValueError, match="exactly"):
        Checkpoint.from_json('{"sequence": 8}')
    naive = json.loads(exported) | {"created_at": "2026-03-02T11:00:00"}
    with pytest.raises(ValueError, match="time zone"):
        Checkpoint.from_json(json.dumps(naive))


def test_a_checkpoint_counts_only_when_signed_with_the_pinned_key(log: list[LogEntry]) -> None:
    """The checkpoint names its key; the verifier trusts only the fingerprint it pinned, so a
    checkpoint signed by someone else over a rewritten log is refused, with the reason."""
    key = generate_private_key()
    pinned = key_fingerprint(key)
    checkpoint = sign_checkpoint(key, log[5], created_at=T0)
    against = verify_pinned(pinned, checkpoint, log)
    assert against.ok, against.detail
    assert against.after == len(log) - 6, "entries the checkpoint does not cover yet"

    stranger = sign_checkpoint(generate_private_key(), log[-1], created_at=T0)
    refused = verify_pinned(pinned, stranger, log)
    assert (refused.ok, refused.problem) == (False, "wrong_key")
    assert stranger.fingerprint in refused.detail
    assert pinned in refused.detail
    assert verify_pinned("", checkpoint, log).problem == "wrong_key", "nothing pinned: refused"
    # naming the pinned key does not help a signature made with another one
    posing = dataclasses.replace(stranger, public_key=checkpoint.public_key)
    assert verify_pinned(pinned, posing, log).problem == "bad_signature"
    assert verify_pinned(pinned.upper(), checkpoint, log).ok, "hex case does not matter"


def test_reads_take_an_entry_from_its_checked_body(log: list[LogEntry]) -> None:
    entry = log[3]
    assert entry.body is not None
    read = LogEntry.checked(entry.sequence, entry.body, entry.hash)
    assert read.hashed_fields() == LogEntry.from_body(entry.body, entry.hash).hashed_fields()
    edited = entry.body.replace(b'"kind":"', b'"kind":"x', 1)
    with pytest.raises(TamperedEntry, match="entry 4 fails its hash"):
        LogEntry.checked(entry.sequence, edited, entry.hash)


def _rsa_public_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    return (
        rsa.generate_private_key(public_exponent=65537, key_size=1024)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


# --- canonical form ---------------------------------------------------------------------------


def test_canonical_sorts_keys_and_drops_whitespace() -> None:
    one = {"b": [1, {"z": None, "a": True}], "a": "x", "c": {"y": False, "x": 1.5}}
    other = {"c": {"x": 1.5, "y": False}, "a": "x", "b": [1, {"a": True, "z": None}]}
    assert canonical(one) == canonical(other)
    assert canonical(one) == b'{"a":"x","b":[1,{"a":true,"z":null}],"c":{"x":1.5,"y":false}}'


def test_canonical_writes_unicode_as_utf8_and_escapes_only_what_json_must() -> None:
    assert canonical({"name": "Zoë 日本 😀"}) == '{"name":"Zoë 日本 😀"}'.encode()
    assert canonical('"\\/\n\t\b\f\r\x00\x1f\x7f') == (
        b'"\\"\\\\/\\n\\t\\b\\f\\r\\u0000\\u001f\x7f"'
    )


def test_canonical_sorts_keys_by_utf16_code_units() -> None:
    """RFC 8785 §3.2.3: U+1F600 (surrogates D83D DE00) sorts before U+E000."""
    assert canonical({"\ue000": 1, "\U0001f600": 2, "a": 3}) == (
        '{"a":3,"\U0001f600":2,"\ue000":1}'.encode()
    )


@pytest.mark.parametrize(
    ("bits", "expected"),
    [
        # RFC 8785 Appendix B, IEEE 754 bit patterns and their canonical form
        ("0000000000000000", "0"),
        ("8000000000000000", "0"),
        ("0000000000000001", "5e-324"),
        ("8000000000000001", "-5e-324"),
        ("7fefffffffffffff", "1.7976931348623157e+308"),
        ("ffefffffffffffff", "-1.7976931348623157e+308"),
        ("4340000000000000", "9007199254740992"),
        ("c340000000000000", "-9007199254740992"),
        ("4430000000000000", "295147905179352830000"),
        ("44b52d02c7e14af5", "9.999999999999997e+22"),
        ("44b52d02c7e14af6", "1e+23"),
        ("44b52d02c7e14af7", "1.0000000000000001e+23"),
        ("444b1ae4d6e2ef4e", "999999999999999700000"),
        ("444b1ae4d6e2ef4f", "999999999999999900000"),
        ("444b1ae4d6e2ef50", "1e+21"),
        ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
        ("3eb0c6f7a0b5ed8d", "0.000001"),
        ("41b3de4355555553", "333333333.3333332"),
        ("41b3de4355555554", "333333333.33333325"),
        ("41b3de4355555555", "333333333.3333333"),
        ("41b3de4355555556", "333333333.3333334"),
        ("41b3de4355555557", "333333333.33333343"),
        ("becbf647612f3696", "-0.0000033333333333333333"),
        ("43143ff3c1cb0959", "1424953923781206.2"),
    ],
)
def test_canonical_floats_follow_rfc_8785(bits: str, expected: str) -> None:
    (value,) = struct.unpack(">d", bytes.fromhex(bits))
    assert canonical(value) == expected.encode()


def test_canonical_writes_scores_as_numbers_whole_floats_as_integers() -> None:
    assert canonical([3.5, 4.0, 4, 0.1, 1e-7, 1e16, -2.5]) == (
        b"[3.5,4,4,0.1,1e-7,10000000000000000,-2.5]"
    )
    assert canonical(True) == b"true"
    assert canonical(2**53 - 1) == b"9007199254740991"
    assert canonical([2**53, 10**21, -(2**54)]) == b"[9007199254740992,1e+21,-18014398509481984]"


@given(st.floats(allow_nan=False, allow_infinity=False))
@settings(max_examples=300)
def test_every_finite_float_reads_back_exactly(value: float) -> None:
    text = canonical(value).decode()
    assert float(text) == value
    assert "e0" not in text
    assert "e+0" not in text
    assert not text.endswith(".0")


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(JSON_VALUES)
@settings(max_examples=200)
def test_canonical_form_survives_a_json_round_trip(value: Any) -> None:
    """What a jsonb column gives back serialises to the same bytes, so stored columns can be
    compared with the stored body."""
    try:
        data = canonical(value)
    except CanonicalError:
        return  # a lone surrogate in generated text
    assert canonical(json.loads(data)) == data


def test_canonical_writes_instants_dates_uuids_and_decimals_as_fixed_strings() -> None:
    paris = timezone(timedelta(hours=2))
    assert canonical(datetime(2026, 3, 2, 11, 30, tzinfo=paris)) == (
        b'"2026-03-02T09:30:00.000000Z"'
    )
    assert canonical(datetime(2026, 3, 2, 9, 30, 0, 5, tzinfo=UTC)) == (
        b'"2026-03-02T09:30:00.000005Z"'
    )
    assert canonical(date(2026, 3, 2)) == b'"2026-03-02"'
    assert canonical(UUID("A8098C1A-F86E-11DA-BD1A-00112444BE1E")) == (
        b'"a8098c1a-f86e-11da-bd1a-00112444be1e"'
    )
    assert canonical([Decimal("3.50"), Decimal("1E+2"), Decimal("-0.00"), Decimal("0.125")]) == (
        b'["3.5","100","0","0.125"]'
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "$: nan"),
        (float("inf"), "$: inf"),
        ({"scores": [1.0, float("-inf")]}, "$.scores[1]: -inf"),
        (Decimal("NaN"), "not a finite number"),
        (2**53 + 1, "its nearest double is another number"),
        (2**60, "its nearest double is another number"),
        (10**400, "its nearest double is another number"),
        ({"at": datetime(2026, 3, 2)}, "$.at: datetime 2026-03-02T00:00:00 has no time zone"),
        ({1: "x"}, "key 1 is not a string"),
        ({"raw": b"bytes"}, "$.raw: bytes has no canonical form"),
        ({"s": {1, 2}}, "set has no canonical form"),
        ({"bad key": "\ud800"}, "$['bad key']: a string holds a lone surrogate"),
    ],
)
def test_canonical_refuses_what_has_no_canonical_form(value: Any, message: str) -> None:
    with pytest.raises(CanonicalError) as refused:
        canonical(value)
    assert message in str(refused.value)
    assert isinstance(refused.value, ValueError)


def test_canonical_refuses_a_value_that_contains_itself() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(CanonicalError, match="contains itself"):
        canonical(loop)


def test_every_kind_of_step_is_a_log_entry() -> None:
    assert {step["kind"] for step in case_steps()} == ENTRY_KINDS - PRIVACY_KINDS
    assert set(HASHED_FIELDS) | {"hash", "body"} == set(EVERY_FIELD)
