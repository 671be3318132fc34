"""Payload schemas registered by (type, version), and the upcaster chain that reads old versions.

Stored events are never rewritten: an event recorded as `X v1` stays `X v1` in the log.
When the current schema of `X` is v2, reading a v1 event runs the registered v1->v2 upcaster
on the payload dict before validating it against the v2 model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


class Event(BaseModel):
    """Base of every event payload: an `IntegrationEvent` or a `PrivateEvent`, never
    subclassed directly. Subclasses declare their name, version and context."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int]
    context: ClassVar[str]
    private: ClassVar[bool]


class IntegrationEvent(Event):
    """An event the outbox relay publishes for other contexts (and integrators) to read, on
    the subject of libs/events/subjects.py: a published schema, changed only by versions."""

    private: ClassVar[bool] = False


class PrivateEvent(Event):
    """An event that stays in its service's own log: the relay never publishes it.

    For facts only the owning service may see, such as edits to an unpublished draft.
    """

    private: ClassVar[bool] = True


E = TypeVar("E", bound=type[Event])


class UnknownEventType(LookupError):
    """An event type or version that no schema is registered for."""


class InvalidPayload(ValueError):
    """A payload that does not validate against its registered schema."""


@dataclass
class EventRegistry:
    """Maps (type, version) to payload models and upcasters. One instance: `registry`."""

    _models: dict[tuple[str, int], type[Event]] = field(default_factory=dict)
    _upcasters: dict[tuple[str, int], Upcaster] = field(default_factory=dict)
    # Per type, its highest registered version: asked for every event the relay publishes
    # and every payload decoded, so kept as models register rather than searched for.
    _current: dict[str, int] = field(default_factory=dict)

    def event(self, model: E) -> E:
        """Class decorator registering a payload model under its type and version."""
        if not issubclass(model, IntegrationEvent | PrivateEvent):
            raise TypeError(f"{model.__name__} is neither an IntegrationEvent nor a PrivateEvent")
        key = (model.event_type, model.schema_version)
        if key in self._models and self._models[key] is not model:
            raise ValueError(f"{key[0]} v{key[1]} is registered twice")
        self._models[key] = model
        self._current[key[0]] = max(self._current.get(key[0], 0), key[1])
        return model

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator registering the function that turns `from_version` into the next one."""

        def register(fn: Upcaster) -> Upcaster:
            self._upcasters[(event_type, from_version)] = fn
            return fn

        return register

    def current_version(self, event_type: str) -> int:
        try:
            return self._current[event_type]
        except KeyError:
            raise UnknownEventType(
                f"no schema is registered for event type {event_type!r}"
            ) from None

    def model(self, event_type: str, version: int | None = None) -> type[Event]:
        version = self.current_version(event_type) if version is None else version
        try:
            return self._models[(event_type, version)]
        except KeyError:
            raise UnknownEventType(f"no schema is registered for {event_type} v{version}") from None

    def readable(self, event_type: str, version: int) -> bool:
        """Whether `decode` can read this version: the current one, or an older one with
        upcasters all the way to it."""
        try:
            current = self.current_version(event_type)
        except UnknownEventType:
            return False
        return version <= current and all(
            (event_type, step) in self._upcasters for step in range(version, current)
        )

    def is_private(self, event_type: str) -> bool:
        """Unknown types count as public: consumers dead-letter what they cannot read."""
        try:
            return self.model(event_type).private
        except UnknownEventType:
            return False

    def models(self) -> list[type[Event]]:
        return sorted(
            self._models.values(), key=lambda m: (m.context, m.event_type, m.schema_version)
        )

    def decode(self, event_type: str, version: int, payload: Payload) -> Event:
        """Validate a stored or received payload, upcasting it to the current version first."""
        current = self.current_version(event_type)
        if version > current:
            raise UnknownEventType(
                f"{event_type} v{version} is newer than this service knows (v{current})"
            )
        data = payload
        for step in range(version, current):
            try:
                data = self._upcasters[(event_type, step)](data)
            except KeyError:
                raise UnknownEventType(
                    f"no upcaster from {event_type} v{step} to v{step + 1}"
                ) from None
        try:
            return self.model(event_type, current).model_validate(data)
        except ValidationError as error:
            raise InvalidPayload(f"{event_type} v{version}: {validation_summary(error)}") from error


def validation_summary(error: ValidationError) -> str:
    """Where and how a payload failed its schema, e.g. `level: int_parsing`.

    Built from the errors' locations and kinds only: pydantic's messages quote the input,
    and these summaries travel to dead letters and logs that must not carry payload values.
    """
    problems = [
        f"{'.'.join(str(part) for part in problem['loc']) or '(body)'}: {problem['type']}"
        for problem in error.errors(include_url=False, include_input=False, include_context=False)
    ]
    shown = problems[:10] + ([f"... {len(problems) - 10} more"] if len(problems) > 10 else [])
    return f"{error.error_count()} invalid field(s): " + "; ".join(shown)


registry = EventRegistry()
