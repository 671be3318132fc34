"""What a consumer refuses before touching its database: each is dead-lettered at once."""

from __future__ import annotations

import pytest

from libs.events.consumer import EventHandler, MalformedEvent, parse
from libs.events.envelope import Envelope, new_event_id, utcnow
from tests.support.events import Probe


async def _apply(*_: object) -> None:
    return None


HANDLER = EventHandler(service="svc", name="effects", event=Probe, apply=_apply)


class ChokingUpcaster:
    """Stands in for the store: its upcaster fails on an odd old payload."""

    def decode(self, envelope: Envelope) -> Probe:
        raise TypeError("unsupported operand")


def envelope(event_type: str = "BackboneProbe") -> bytes:
    return (
        Envelope(
            event_id=new_event_id(),
            event_type=event_type,
            schema_version=1,
            source="svc",
            stream_id="s",
            stream_version=1,
            global_position=1,
            occurred_at=utcnow(),
            recorded_at=utcnow(),
            actor="a",
            correlation_id=new_event_id(),
            payload={"n": 1},
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
        (envelope(), "cannot upcast: TypeError: unsupported operand"),
    ],
)
def test_messages_that_can_never_succeed_are_malformed(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedEvent, match=reason):
        parse(body, HANDLER, ChokingUpcaster())  # type: ignore[arg-type]
