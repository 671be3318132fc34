"""The one naming rule for JetStream subjects.

    talentledger.<context>.<event_name>.v<version>

`context` is the bounded context that owns the event (framework, assessment, development,
promotion, cycles) or the outside system that emits it (hris, lms); `event_name` is the
event type in snake_case; `version` is the payload schema version. Examples:
`talentledger.framework.framework_published.v1`, `talentledger.hris.employee_hired.v1`.

Outside systems (HRIS, LMS) never publish there: they publish on the intake, a stream of its
own with subjects outside `talentledger.` (JetStream forbids streams to share subjects),

    intake.<context>.<event_name>.v<version>

from where the cycles service admits each event into its log, its personal fields sealed, and
its relay publishes it on the event's ordinary subject (libs/events/intake.py).

Dead letters live in a separate stream so that ordinary consumers never see them:

    deadletter.<consumer>.<original subject>

and are re-driven to the one consumer that gave up on them, on the event stream:

    talentledger.replay.<consumer>.<original subject>

Every subject is built and read here: nothing else writes `talentledger.`, `intake.` or
`deadletter.`.
"""

from __future__ import annotations

import re

from libs.events.registry import IntegrationEvent

EVENT_STREAM = "TALENTLEDGER"
EVENT_SUBJECTS = "talentledger.>"
DEAD_LETTER_STREAM = "TALENTLEDGER_DEADLETTER"
# Bodies of events too large for one message (see libs.events.broker.INLINE_LIMIT).
PAYLOAD_BUCKET = "TALENTLEDGER_PAYLOADS"
# The stream JetStream keeps an object store in, and the subject of one object's chunks.
PAYLOAD_STREAM = f"OBJ_{PAYLOAD_BUCKET}"
DEAD_LETTER_SUBJECTS = "deadletter.>"
INTAKE_STREAM = "TALENTLEDGER_INTAKE"
INTAKE_SUBJECTS = "intake.>"

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake_case(event_type: str) -> str:
    return _CAMEL_BOUNDARY.sub("_", event_type).lower()


def subject_for(context: str, event_type: str, version: int) -> str:
    return f"talentledger.{context}.{snake_case(event_type)}.v{version}"


def subject_of(model: type[IntegrationEvent]) -> str:
    return subject_for(model.context, model.event_type, model.schema_version)


def every_version(context: str, event_type: str) -> str:
    """Every schema version of one event type (a consumer upcasts the older ones)."""
    return f"talentledger.{context}.{snake_case(event_type)}.*"


def context_subjects(context: str) -> str:
    """Every subject of one context's events."""
    return f"talentledger.{context}.>"


def intake_subject_for(context: str, event_type: str, version: int) -> str:
    """Where an outside system publishes an event for admission."""
    return f"intake.{context}.{snake_case(event_type)}.v{version}"


def intake_context_subjects(context: str) -> str:
    """Every intake subject of one outside system."""
    return f"intake.{context}.>"


def replay_subject(consumer: str, subject: str = ">") -> str:
    """Where `subject`'s event is re-driven to `consumer` alone; by default every replay
    of that consumer."""
    return f"talentledger.replay.{consumer}.{subject}"


def original_subject(subject: str) -> str:
    """The subject an event was first published on: a replay's original, or `subject`."""
    parts = subject.split(".", 3)
    return parts[3] if parts[:2] == ["talentledger", "replay"] and len(parts) == 4 else subject


def owning_context(subject: str) -> str:
    """The context that owns the event on `subject`, also when it arrives by replay."""
    parts = original_subject(subject).split(".")
    if len(parts) < 3 or parts[0] != "talentledger" or parts[1] == "replay":
        raise ValueError(f"{subject!r} is not an event subject")
    return parts[1]


def intake_consumer(service: str) -> str:
    """The durable consumer through which `service` admits the intake (also the name its
    dead letters go under)."""
    return f"{service}-intake"


def redrive_subject(consumer: str, original: str) -> str:
    """Where `consumer`'s dead letter of `original` is re-driven: an intake message back onto
    its intake subject (the admission is its only consumer, and it never enters the event
    stream in clear), an event to the consumer's replay subject."""
    return original if is_intake_subject(original) else replay_subject(consumer, original)


def is_intake_subject(subject: str) -> bool:
    return subject.startswith("intake.")


def dead_letter_subject(consumer: str, subject: str = ">") -> str:
    """Where `consumer` dead-letters `subject`'s event; by default all its dead letters."""
    return f"deadletter.{consumer}.{subject}"


def consumer_and_subject(dead_letter: str) -> tuple[str, str]:
    """Split a dead-letter subject into the consumer that gave up and the original subject."""
    prefix, consumer, original = ([*dead_letter.split(".", 2), "", ""])[:3]
    if prefix != "deadletter" or not consumer or not original:
        raise ValueError(f"{dead_letter!r} is not a dead-letter subject")
    return consumer, original


def payload_chunks_subject(nuid: str) -> str:
    """The subject of the chunks of the payload store's object with this internal id."""
    return f"$O.{PAYLOAD_BUCKET}.C.{nuid}"
