"""Event types that exist only for the tests of the backbone."""

from __future__ import annotations

from libs.events.registry import IntegrationEvent, registry


@registry.event
class Probe(IntegrationEvent):
    """A minimal event: `n` identifies it, `writer` who appended it, `note` pads it."""

    event_type = "BackboneProbe"
    schema_version = 1
    context = "svc"

    n: int
    writer: int = 0
    note: str = ""
