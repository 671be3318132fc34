"""The AsyncAPI document integrators read, generated from the registered event schemas."""

from __future__ import annotations

from typing import Any

from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI
from pydantic import create_model

import libs.events.schemas  # noqa: F401 - registers every published schema
from libs.events.envelope import Envelope
from libs.events.intake import OUTSIDE_CONTEXTS
from libs.events.registry import EventRegistry, IntegrationEvent, registry
from libs.events.subjects import intake_subject_for, subject_of

DESCRIPTION = "\n\n".join(
    (
        "TalentLedger's integration events on NATS JetStream (stream `TALENTLEDGER`).",
        "Subjects follow one rule: `talentledger.<context>.<event_name>.v<version>`. "
        "Every message is a JSON envelope (event id, type, schema version, stream, global "
        "position, times, actor, correlation and causation ids, trace context) whose "
        "`payload` is the schema of its channel.",
        "The `Nats-Msg-Id` header is the event id: publish each event once per id; "
        "consumers treat a repeated id as the same event.",
        "Inbound events (HRIS, LMS) are published by integrators on the intake (stream "
        "`TALENTLEDGER_INTAKE`), `intake.<context>.<event_name>.v<version>`, with the same "
        "envelope, and nowhere else. TalentLedger admits each one into its log as given (a "
        "repeated event id admits nothing; a stream version already another event's is "
        "refused) and publishes it on its `talentledger.` subject, where the services read it.",
        "A field described as sealed is personal data: TalentLedger publishes it as "
        '`{"sealed": "aes-256-gcm/1", "key": <key id>, "data": <base64>}`, encrypted under '
        "the data key of each person it belongs to, and reads it as `[erased]` once one of "
        "them is erased (docs/privacy.md). An integrator publishes it in clear on the intake, "
        "which keeps it only until it is admitted.",
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
        description = (model.__doc__ or model.event_type).strip()
        broker.publisher(
            subject_of(model), schema=message, title=subject_of(model), description=description
        )
        if model.context in OUTSIDE_CONTEXTS:
            intake = intake_subject_for(model.context, model.event_type, model.schema_version)
            broker.publisher(
                intake,
                schema=message,
                title=intake,
                description=f"Where the {model.context} integration publishes it. {description}",
            )
    return AsyncAPI(
        broker, title="TalentLedger integration events", version="1", description=DESCRIPTION
    )


def as_yaml(events: EventRegistry = registry) -> str:
    return document(events).to_specification().to_yaml()


def as_dict(events: EventRegistry = registry) -> dict[str, Any]:
    return document(events).to_specification().to_jsonable()
