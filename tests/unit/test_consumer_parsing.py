"""What a consumer refuses before touching its database: each is dead-lettered at once; and
how it opens personal fields."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest

from libs.events.consumer import EventHandler, MalformedEvent, parse
from libs.events.envelope import Envelope, new_event_id, utcnow
from libs.events.store import EventStore, NoDataKeys
from libs.personal.sealing import ERASED, seal
from tests.support.events import Probe, Remark
from tests.support.personal_keys import KeysInMemory


async def _apply(*_: object) -> None:
    return None


HANDLER = EventHandler(service="svc", name="effects", event=Probe, apply=_apply)
SUBJECT = "talentledger.svc.backbone_probe.v1"


class ChokingUpcaster:
    """Stands in for the store: its upcaster fails on an odd old payload."""

    async def decode(self, envelope: Envelope) -> Probe:
        raise TypeError("unsupported operand")


def envelope(
    event_type: str = "BackboneProbe", source: str = "svc", payload: dict[str, object] | None = None
) -> bytes:
    return (
        Envelope(
            event_id=new_event_id(),
            event_type=event_type,
            schema_version=1,
            source=source,
            stream_id="s",
            stream_version=1,
            global_position=1,
            occurred_at=utcnow(),
            recorded_at=utcnow(),
            actor="a",
            correlation_id=new_event_id(),
            payload={"n": 1} if payload is None else payload,
        )
        .model_dump_json()
        .encode()
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff not json", "not an event envelope"),
        (b'{"event_type": "BackboneProbe"}', "not an event envelope"),
        (envelope("SomethingElse"), "svc-effects handles BackboneProbe, got SomethingElse"),
        (envelope(), "cannot upcast: TypeError$"),
        (envelope(source="framework"), "source 'framework' on a subject of context 'svc'"),
    ],
)
async def test_messages_that_can_never_succeed_are_malformed(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedEvent, match=reason):
        await parse(body, SUBJECT, HANDLER, ChokingUpcaster())  # type: ignore[arg-type]


class Decoding:
    """Stands in for the store: decodes with the real registry."""

    async def decode(self, event: Envelope) -> Probe:
        return Probe.model_validate(event.payload)


async def test_a_replayed_event_is_owned_by_its_original_subjects_context() -> None:
    replay = f"talentledger.replay.{HANDLER.consumer}.{SUBJECT}"
    await parse(envelope(), replay, HANDLER, Decoding())  # type: ignore[arg-type]
    with pytest.raises(MalformedEvent, match="source 'hris' on a subject of context 'svc'"):
        await parse(envelope(source="hris"), replay, HANDLER, Decoding())  # type: ignore[arg-type]


async def test_an_envelope_that_is_not_one_is_described_without_its_values() -> None:
    body = b'{"event_type": "BackboneProbe", "schema_version": "secret-42"}'
    with pytest.raises(MalformedEvent) as refused:
        await parse(body, SUBJECT, HANDLER, Decoding())  # type: ignore[arg-type]
    assert "secret-42" not in str(refused.value)
    assert "schema_version: int_parsing" in str(refused.value)


# -- personal fields (docs/privacy.md, Erasure by destroying keys) ----------------------------

REMARKS = EventHandler(service="svc", name="remarks", event=Remark, apply=_apply)
REMARK_SUBJECT = "talentledger.svc.backbone_remark.v1"


def _store(keys: KeysInMemory | None) -> EventStore:
    # Decoding touches neither the pool nor the notifier's connection.
    return EventStore(SimpleNamespace(conninfo=""), "svc", keys=keys)  # type: ignore[arg-type]


async def _sealed_remark(keys: KeysInMemory) -> dict[str, object]:
    return await seal(Remark(author="emp-bo", about="emp-ada", text="Calm under fire"), keys)


async def test_a_consumer_reads_a_personal_field_opened_and_erased_once_a_key_is_gone() -> None:
    keys = KeysInMemory()
    body = envelope("BackboneRemark", payload=await _sealed_remark(keys))
    _, event = await parse(body, REMARK_SUBJECT, REMARKS, _store(keys))
    assert event == Remark(author="emp-bo", about="emp-ada", text="Calm under fire")
    keys.erase("emp-bo")
    _, event = await parse(body, REMARK_SUBJECT, REMARKS, _store(keys))
    assert event.text == ERASED  # type: ignore[attr-defined]


async def test_an_altered_seal_is_malformed_but_keys_out_of_reach_are_not() -> None:
    """An altered seal never opens: dead-lettered. Keys that cannot be reached (none
    configured here) are the process's fault: raised as they are, and retried."""
    keys = KeysInMemory()
    payload = await _sealed_remark(keys)
    text = payload["text"]
    assert isinstance(text, dict)
    data = bytearray(base64.b64decode(text["data"]))
    data[-1] ^= 1
    altered = {**payload, "text": {**text, "data": base64.b64encode(data).decode()}}
    with pytest.raises(MalformedEvent, match="does not open: it was altered"):
        await parse(
            envelope("BackboneRemark", payload=altered), REMARK_SUBJECT, REMARKS, _store(keys)
        )
    with pytest.raises(NoDataKeys):
        await parse(
            envelope("BackboneRemark", payload=payload), REMARK_SUBJECT, REMARKS, _store(None)
        )
