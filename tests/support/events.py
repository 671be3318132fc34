"""Event types that exist only for the tests of the backbone."""

from __future__ import annotations

from typing import Annotated

from libs.events.registry import IntegrationEvent, registry
from libs.personal.sealing import PersonalOf


@registry.event
class Probe(IntegrationEvent):
    """A minimal event: `n` identifies it, `writer` who appended it, `note` pads it."""

    event_type = "BackboneProbe"
    schema_version = 1
    context = "svc"

    n: int
    writer: int = 0
    note: str = ""


@registry.event
class Remark(IntegrationEvent):
    """An event with a personal field: `text` belongs to its author and to whom it is about."""

    event_type = "BackboneRemark"
    schema_version = 1
    context = "svc"

    author: str
    about: str
    text: Annotated[str, PersonalOf("author", "about")]
