"""The payload model of each kind of decision-log entry (services/promotion/domain/payloads.py):
a stored entry of every kind parses into its model and dumps back to exactly the bytes that
were hashed, so the models change nothing in the log (docs/domain.md §6: anyone can verify
the log has not been altered)."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from pydantic import ValidationError

from services.promotion.domain.cases import Case
from services.promotion.domain.decision_log import (
    ENTRY_KINDS,
    LogEntry,
    canonical,
    hashed_fields,
    next_entry,
    verify,
)
from services.promotion.domain.payloads import (
    PAYLOADS,
    AppealOutcome,
    Decision,
    EntryPayload,
    Nomination,
    parse,
    payload_of,
)
from tests.support.decision_log_entries import PRIVACY_KINDS
from tests.support.readiness import LEAD, nomination, ready_case

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

# The hash of each step of a case through every kind, as it was recorded before the payload
# models, when the case commands returned plain dicts: the models must leave every byte as it
# was. The bodies are in `recorded/`, as `every_kind()` wrote them before readiness took time
# at level from the HRIS (docs/domain.md §6, Readiness): that change must not move a byte of
# them either.
BEFORE_LEVEL_START = Path(__file__).parent / "recorded" / "entries_before_level_start.jsonl"
RECORDED = {
    "nomination": "2b1c5504ff9550df32b77a0ce7fcd3e745b95fa36e43ebfe93f523c470f0e72c",
    "endorsement": "084778ccd88e0a248fa74b1e8de66e9c0bd71a0b470dae0191fe141fdbdff9b1",
    "evidence": "d09d7624f44ec6e9915467b47641f41b2dfb5ea42a82d299d152a67f1d9da54d",
    "calibration_confirmation": "908e762979d188408434691631482c7208c3cafddd5bbfdb3ce45e2ad0867a9b",
    "readiness_evaluated": "d53ea5e01db2fd51d80c0aa8a4af85037dac0051f0e8ed34a0c32924451e803b",
    "decision": "9a3eb6c1193b093b6d4953becfe81987f8966140934b1b235a3885d3536f3f7d",
    "appeal": "c895481f573a72e97e090c78e58cced53319287cac4a83275b7f217db6afda8a",
    "appeal_outcome": "95c3f77ad0378b8dafa16cf78b9ddb7c7d6b6e1b79b6f7fc88735b3a5c279570",
}


def recorded() -> list[LogEntry]:
    """The entries of `BEFORE_LEVEL_START`, as storage reads them back from their bodies."""
    bodies = BEFORE_LEVEL_START.read_bytes().splitlines()
    return [LogEntry.from_body(body, hashlib.sha256(body).hexdigest()) for body in bodies]


def every_kind() -> list[LogEntry]:
    """One case through every kind of step, each entry as storage reads it back (from its
    body: the payload as JSON gives it)."""
    entries: list[LogEntry] = []

    def add(actor: str, payload: EntryPayload) -> Case:
        entry = next_entry(
            entries[-1] if entries else None,
            kind=payload.kind,
            case_id="case-1",
            employee_id="ann",
            actor=actor,
            recorded_at=T0 + timedelta(hours=len(entries)),
            payload=payload.record(),
            entry_id=UUID(int=len(entries) + 1),
        )
        assert entry.body is not None
        entries.append(LogEntry.from_body(entry.body, entry.hash))
        return Case.replay(entries)

    case = add("mgr-1", nomination())
    case = add("mgr-1", case.endorse("mgr-1", "mgr-1", "Ready."))
    case = add("ann", case.attach_evidence(LEAD, "The payments migration.", [LEAD]))
    case = add("hr-1", case.confirm("cal-2025-q2", True, ""))
    case = add("mgr-1", case.evaluated(ready_case(), "campaign-1"))
    unmet = ready_case(evidence={}, confirmed_in_session=None)
    case = add(
        "committee-1", case.decide("committee-1", "deny", "Not yet.", unmet, "campaign-1", True)
    )
    case = add("ann", case.lodge_appeal("ann", "Misread."))
    add(
        "committee-2",
        case.decide_appeal(
            "committee-2", "overturned", "approve", "Misread indeed.", ready_case(), "campaign-1"
        ),
    )
    return entries


def test_every_kind_has_a_model_and_the_log_covers_them_all() -> None:
    entries = every_kind()
    assert {e.kind for e in entries} == ENTRY_KINDS - PRIVACY_KINDS
    assert {kind for kind, _ in PAYLOADS} == ENTRY_KINDS
    versions = {kind: sorted(v for k, v in PAYLOADS if k == kind) for kind in ENTRY_KINDS}
    assert versions == {
        **{kind: [1, 2] for kind in ENTRY_KINDS - PRIVACY_KINDS},
        **{kind: [2] for kind in PRIVACY_KINDS},
    }, "version 2 beside version 1; erasures and legal holds exist from version 2"


@pytest.mark.parametrize("index", range(8))
def test_a_stored_entry_parses_into_its_model_and_dumps_back_to_the_hashed_bytes(
    index: int,
) -> None:
    for stored in (recorded()[index], every_kind()[index]):
        model = payload_of(stored)
        assert model.kind == stored.kind
        assert canonical(model.record()) == canonical(stored.payload)
        assert canonical({**hashed_fields(stored), "payload": model.record()}) == stored.body
    assert recorded()[index].hash == RECORDED[stored.kind], "the same bytes as before the models"


def test_the_models_leave_the_chain_as_it_was() -> None:
    entries = recorded()
    assert verify(entries).ok
    assert [e.hash for e in entries] == list(RECORDED.values())


def test_a_readiness_recorded_before_the_hris_level_start_reads_and_verifies_as_it_was() -> None:
    """An entry whose readiness judged the nomination's date reads with that meaning
    (`level_start_from` 'nomination', no nomination date or HRIS position beside it, no
    disagreement), and dumps back without the fields added since, so its hash holds; one
    recorded now names the HRIS, where it had the person, and keeps the nomination's date
    beside it."""
    old = recorded()[4]
    assert old.kind == "readiness_evaluated"
    assert "level_start_from" not in old.payload["readiness"]
    readiness = payload_of(old).readiness  # type: ignore[attr-defined]
    assert (readiness.operating_since, readiness.level_start_from) == (
        date(2025, 3, 30),
        "nomination",
    )
    assert readiness.nominated_since is None
    assert readiness.hris_position is None
    assert all(r.disagreement is None for r in readiness.results)
    assert canonical(payload_of(old).record()) == canonical(old.payload)
    assert verify([*recorded()[:4], old]).ok

    new = every_kind()[4].payload["readiness"]
    assert (new["operating_since"], new["level_start_from"]) == ("2025-03-30", "hris")
    assert new["hris_position"] == {"family": "eng", "track": "ic", "level": "L3"}
    assert "nominated_since" not in new, "the test case gives no nomination date"
    assert all("disagreement" not in r for r in new["results"])


def test_a_payload_holds_exactly_its_kind_s_fields_and_is_frozen() -> None:
    stored = every_kind()
    nomination = payload_of(stored[0])
    assert isinstance(nomination, Nomination)
    assert nomination.operating_since == date(2025, 3, 30)
    with pytest.raises(ValidationError, match="frozen"):
        nomination.note = "edited"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="Extra inputs"):
        parse("endorsement", {"note": "Ready.", "by": "someone"})
    with pytest.raises(ValidationError, match="rationale"):
        parse("decision", {**stored[5].payload, "rationale": None})
    overturned = payload_of(stored[-1])
    assert isinstance(overturned, AppealOutcome)
    assert isinstance(overturned, Decision), "an appeal outcome is a decision, on appeal"
    assert (overturned.result, overturned.outcome, overturned.readiness.ready) == (
        "overturned",
        "approve",
        True,
    )


def test_a_transition_recorded_before_lateral_moves_reads_and_verifies_as_it_was() -> None:
    """The lateral path's competencies (`to_acquire`, `transferable`) are written only for a
    lateral move: a readiness recorded before reads as a move to the next level with neither,
    and dumps back to the bytes that were hashed."""
    for stored in (recorded()[4], recorded()[5]):
        transition = payload_of(stored).readiness.transition  # type: ignore[attr-defined]
        assert (transition.kind, transition.to_acquire, transition.transferable) == (
            "next_level",
            (),
            (),
        )
        dumped = payload_of(stored).record()["readiness"]["transition"]
        assert dumped == stored.payload["readiness"]["transition"]
        assert not {"to_acquire", "transferable"} & set(dumped)
    assert verify(recorded()).ok
