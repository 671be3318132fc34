"""Personal text beside the decision log (docs/privacy.md, The decision log): payload version 2
commits to each note, rationale and appeal grounds, the text and its salt held outside the
chain; the log verifies from its rows alone, held text must open its commitment, and erased
text verifies as erased, named with its request, while text gone without an erasure entry
is caught."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from services.promotion.adapters.checkpoints import generate_private_key
from services.promotion.domain.cases import Case
from services.promotion.domain.decision_log import (
    ERASED,
    PersonalText,
    TamperedEntry,
    commit,
    commitment,
    committed_fields,
    sign_checkpoint,
    verify,
    verify_checkpoint,
)
from services.promotion.domain.payloads import (
    Decision,
    ErasedField,
    Erasure,
    Evidence,
    parse,
    payload_of,
)
from tests.support.decision_log_entries import T0, Log
from tests.support.readiness import LEAD, nomination, ready_case

NOTE = "Led the checkout redesign."
RATIONALE = "Ann carried the payments migration alone."


def a_case(log: Log, *, sealed: bool = True) -> Log:
    """A case nominated, evidenced and denied with a rationale."""
    case = Case.replay([log.add("mgr-1", nomination(NOTE), sealed=sealed)])
    log.add("ann", case.attach_evidence(LEAD, "The payments migration.", [LEAD]), sealed=sealed)
    unmet = ready_case(evidence={}, confirmed_in_session=None)
    log.add(
        "committee-1",
        case.decide("committee-1", "deny", RATIONALE, unmet, "campaign-1", False),
        sealed=sealed,
    )
    return log


def test_a_commitment_is_sha256_of_salt_then_text_under_a_fresh_32_byte_salt() -> None:
    recorded, held = commit("Ça va.")
    assert len(held.salt) == 32
    assert recorded == {"commitment": hashlib.sha256(held.salt + "Ça va.".encode()).hexdigest()}
    assert commitment(held.salt, held.text) == recorded["commitment"] == held.commitment()
    again, other = commit("Ça va.")
    assert other.salt != held.salt
    assert again != recorded, "the same text never commits alike"
    with pytest.raises(ValueError, match="32 bytes"):
        commit("x", b"short")
    payload = {"note": recorded, "item": "x", "other": {"commitment": "not hex"}}
    assert committed_fields(payload) == {"note": recorded["commitment"]}


def test_a_version_2_entry_holds_no_personal_text_and_parses_into_its_model() -> None:
    log = a_case(Log())
    nomination, evidence, decision = log.entries
    for entry in log.entries:
        assert entry.body is not None
        for text in (NOTE, RATIONALE, "The payments migration."):
            assert text.encode() not in entry.body
        assert entry.payload["version"] == 2
        model = parse(entry.kind, entry.payload)
        assert model.version == 2
        assert model.record() == entry.payload
    assert set(committed_fields(nomination.payload)) == {"note"}
    assert set(committed_fields(decision.payload)) == {"rationale"}
    assert evidence.payload["item"] == LEAD, "an item is a name the criteria give, kept in clear"
    # The readiness a decision records keeps who gave evidence and when, not its note.
    readiness = decision.payload["readiness"]
    assert all(r["note"] == "" for r in readiness["evidence"].values())
    # Readers get the version 1 model with the text disclosed.
    shown = payload_of(decision)
    assert isinstance(shown, Decision)
    assert shown.rationale == RATIONALE
    assert Case.replay(log.entries).evidence[LEAD].note == "The payments migration."


def test_version_1_and_version_2_entries_verify_in_one_chain() -> None:
    log = a_case(Log(), sealed=False)
    a_case(log)
    assert [e.payload.get("version", 1) for e in log.entries] == [1, 1, 1, 2, 2, 2]
    result = verify(log.entries)
    assert result.ok, result.failure
    assert (result.entries, result.erased) == (6, ())
    for v1, v2 in zip(log.entries[:3], log.entries[3:], strict=True):
        assert payload_of(v1).model_dump(exclude={"readiness"}) == payload_of(v2).model_dump(
            exclude={"readiness"}
        ), "both versions read back as the same content"


@pytest.mark.parametrize("change", ["text", "salt"])
def test_held_text_that_does_not_open_its_commitment_is_named(change: str) -> None:
    log = a_case(Log())
    held = log.entries[2].personal["rationale"]  # type: ignore[index]
    edited = (
        PersonalText(held.salt, "Ann was not ready.")
        if change == "text"
        else PersonalText(bytes(32), held.text)
    )
    log.held(3, rationale=edited)
    result = verify(log.entries)
    assert not result.ok
    assert result.failure is not None
    failure = result.failure
    assert (failure.sequence, failure.entry_id, failure.reason, failure.field) == (
        3,
        str(UUID(int=3)),
        "text_altered",
        "rationale",
    )
    assert "rationale" in str(failure)
    with pytest.raises(TamperedEntry, match="rationale"):
        log.entries[2].disclosed()


def test_erased_text_verifies_and_is_named_with_its_request_and_date() -> None:
    log = a_case(Log())
    nomination, evidence, decision = log.entries
    erasure = log.erase("req-17", nomination, evidence, decision)
    result = verify(log.entries)
    assert result.ok, result.failure
    assert [(e.sequence, e.fields) for e in result.erased] == [
        (1, ("note",)),
        (2, ("note",)),
        (3, ("rationale",)),
    ]
    first = result.erased[0]
    assert (first.request_ref, first.erased_at, first.erasure_sequence) == (
        "req-17",
        erasure.recorded_at,
        4,
    )
    assert "erased on 2026-03-02 under request req-17" in str(first)
    # Readers show the text as erased; the case folds as before.
    assert log.entries[2].disclosed()["rationale"] == ERASED
    case = Case.replay(log.entries)
    assert case.decision is not None
    assert (case.decision.outcome, case.decision.rationale) == ("deny", ERASED)
    assert case.evidence[LEAD].note == ERASED
    assert erasure.body is not None
    assert b"req-17" in erasure.body


def test_text_gone_without_an_erasure_entry_is_named() -> None:
    log = a_case(Log())
    log.entries[1] = dataclasses.replace(log.entries[1], personal={})
    result = verify(log.entries)
    assert not result.ok
    assert result.failure is not None
    assert (result.failure.sequence, result.failure.reason, result.failure.field) == (
        2,
        "text_missing",
        "note",
    )
    # An erasure entry must name the very field: one naming another entry does not cover it.
    log.erase("req-1", log.entries[0])
    failure = verify(log.entries).failure
    assert failure is not None
    assert (failure.sequence, failure.reason) == (2, "text_missing")


def test_erased_text_held_again_is_named() -> None:
    """A backup of the text beside the log restored after an erasure brings erased text back:
    `verify` names the erasure that no longer holds, and the field."""
    log = a_case(Log())
    decision = log.entries[2]
    assert decision.personal is not None
    kept = decision.personal["rationale"]
    log.erase("req-4", decision)
    log.held(3, rationale=kept)
    failure = verify(log.entries).failure
    assert failure is not None
    assert (failure.sequence, failure.reason, failure.field) == (4, "text_not_erased", "rationale")
    assert str(decision.entry_id) in failure.detail
    # An erasure of text no entry before it committed to is no erasure either.
    fresh = a_case(Log())
    fresh.add(
        "hr-1",
        Erasure(request_ref="req-5", erased=(ErasedField(entry_id=UUID(int=99), field="note"),)),
    )
    failure = verify(fresh.entries).failure
    assert failure is not None
    assert (failure.sequence, failure.reason) == (4, "text_not_erased")


def test_rows_read_without_their_personal_text_verify_as_a_chain() -> None:
    """What the checkpoint signer reads: the rows alone, no text checks."""
    log = a_case(Log())
    rows = [dataclasses.replace(e, personal=None) for e in log.entries]
    assert verify(rows).ok
    assert verify(rows, check_columns=False).ok


def test_an_erasure_after_a_checkpoint_verifies_against_it() -> None:
    """Erasing appends; the entries a checkpoint signed keep their hashes."""
    log = a_case(Log())
    key = generate_private_key()
    signed = sign_checkpoint(key, log.entries[-1], created_at=T0 + timedelta(days=1))
    log.erase("req-2", *log.entries)
    against = verify_checkpoint(key.public_key(), signed, log.entries)
    assert against.ok, against.detail
    assert against.chain is not None
    assert len(against.chain.erased) == 3
    assert against.after == 1


def test_an_erasure_names_entries_and_fields_never_text() -> None:
    payload: dict[str, Any] = Erasure(
        request_ref="req-3", erased=(ErasedField(entry_id=UUID(int=1), field="note"),)
    ).record()
    assert payload == {
        "version": 2,
        "request_ref": "req-3",
        "erased": [{"entry_id": str(UUID(int=1)), "field": "note"}],
    }
    with pytest.raises(ValueError, match="request_ref"):
        Erasure(request_ref="", erased=())
    assert isinstance(parse("erasure", payload), Erasure)
    assert Evidence(item=LEAD, note="x").sealed()[1]["note"].text == "x"
