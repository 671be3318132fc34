"""What a consumer refuses before touching its database: each is dead-lettered at once."""

from __future__ import annotations

import pytest

from libs.events.consumer import EventHandler, MalformedEvent, parse
from libs.events.envelope import Envelope, new_event_id, utcnow
from tests.support.events import Probe


async def _apply(*_: object) -> None:
    return None


HANDLER = EventHandler(service="svc", name="effects", event=Probe, apply=_apply)
SUBJECT = "talentledger.svc.backbone_probe.v1"


class ChokingUpcaster:
    """Stands in for the store: its upcaster fails on an odd old payload."""

    def decode(self, envelope: Envelope) -> Probe:
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
def test_messages_that_can_never_succeed_are_malformed(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedEvent, match=reason):
        parse(body, SUBJECT, HANDLER, ChokingUpcaster())  # type: ignore[arg-type]


class Decoding:
    """Stands in for the store: decodes with the real registry."""

    def decode(self, event: Envelope) -> Probe:
        return Probe.model_validate(event.payload)


def test_a_replayed_event_is_owned_by_its_original_subjects_context() -> None:
    replay = f"talentledger.replay.{HANDLER.consumer}.{SUBJECT}"
    parse(envelope(), replay, HANDLER, Decoding())  # type: ignore[arg-type]
    with pytest.raises(MalformedEvent, match="source 'hris' on a subject of context 'svc'"):
        parse(envelope(source="hris"), replay, HANDLER, Decoding())  # type: ignore[arg-type]


def test_an_envelope_that_is_not_one_is_described_without_its_values() -> None:
    body = b'{"event_type": "BackboneProbe", "schema_version": "secret-42"}'
    with pytest.raises(MalformedEvent) as refused:
        parse(body, SUBJECT, HANDLER, Decoding())  # type: ignore[arg-type]
    assert "secret-42" not in str(refused.value)
    assert "schema_version: int_parsing" in str(refused.value)
