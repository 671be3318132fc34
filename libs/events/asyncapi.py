"""The AsyncAPI document integrators read, generated from the registered event schemas."""

from __future__ import annotations

from typing import Any

from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI
from pydantic import create_model

import libs.events.schemas  # noqa: F401 - registers every published schema
from libs.events.envelope import Envelope
from libs.events.registry import EventRegistry, IntegrationEvent, registry
from libs.events.subjects import subject_of

DESCRIPTION = "\n\n".join(
    (
        "TalentLedger's integration events on NATS JetStream (stream `TALENTLEDGER`).",
        "Subjects follow one rule: `talentledger.<context>.<event_name>.v<version>`. "
        "Every message is a JSON envelope (event id, type, schema version, stream, global "
        "position, times, actor, correlation and causation ids, trace context) whose "
        "`payload` is the schema of its channel.",
        "The `Nats-Msg-Id` header is the event id: publish each event once per id; "
        "consumers treat a repeated id as the same event. Inbound events (HRIS, LMS) are "
        "published by integrators on their own context's subjects with the same envelope.",
        "A field described as sealed is personal data: TalentLedger publishes it as "
        '`{"sealed": "aes-256-gcm/1", "key": <key id>, "data": <base64>}`, encrypted under '
        "the data key of each person it belongs to, and reads it as `[erased]` once one of "
        "them is erased (docs/privacy.md). An integrator may publish it in clear.",
    )
)


def document(events: EventRegistry = registry) -> AsyncAPI:
    broker = NatsBroker()
    for model in events.models():
        if not issubclass(model, IntegrationEvent):
            continue  # private events never leave their service
        message = create_model(
            f"{model.event_type}V{model.schema_version}Envelope",
            __base__=Envelope,
            payload=(model, ...),
        )
        message.__doc__ = model.__doc__
        broker.publisher(
            subject_of(model),
            schema=message,
            title=subject_of(model),
            description=(model.__doc__ or model.event_type).strip(),
        )
    return AsyncAPI(
        broker, title="TalentLedger integration events", version="1", description=DESCRIPTION
    )


def as_yaml(events: EventRegistry = registry) -> str:
    return document(events).to_specification().to_yaml()


def as_dict(events: EventRegistry = registry) -> dict[str, Any]:
    return document(events).to_specification().to_jsonable()
