"""Payload schemas by (type, version) and the upcaster chain (docs/architecture.md §3)."""

from __future__ import annotations

import pytest

from libs.events.registry import (
    Event,
    EventRegistry,
    IntegrationEvent,
    InvalidPayload,
    PrivateEvent,
    UnknownEventType,
)

registry = EventRegistry()


@registry.event
class RatedV1(IntegrationEvent):
    event_type = "Rated"
    schema_version = 1
    context = "test"
    score: int


@registry.event
class RatedV2(IntegrationEvent):
    event_type = "Rated"
    schema_version = 2
    context = "test"
    score: int
    scale: str


@registry.event
class RatedV3(IntegrationEvent):
    event_type = "Rated"
    schema_version = 3
    context = "test"
    score: float
    scale: str
    not_observed: bool


@registry.event
class Noted(PrivateEvent):
    event_type = "Noted"
    schema_version = 1
    context = "test"


@registry.upcaster("Rated", 1)
def _v1_to_v2(payload: dict) -> dict:
    return {**payload, "scale": "0..5"}


@registry.upcaster("Rated", 2)
def _v2_to_v3(payload: dict) -> dict:
    return {**payload, "not_observed": False}


def test_old_versions_are_upcast_through_the_chain_to_the_current_one() -> None:
    assert registry.decode("Rated", 1, {"score": 3}) == RatedV3(
        score=3, scale="0..5", not_observed=False
    )
    assert registry.decode("Rated", 2, {"score": 4, "scale": "1..5"}).scale == "1..5"
    assert registry.decode(
        "Rated", 3, {"score": 2.5, "scale": "1..5", "not_observed": True}
    ).not_observed


def test_unknown_types_and_versions_and_bad_payloads_are_typed_errors() -> None:
    with pytest.raises(UnknownEventType, match="no schema is registered for event type 'Nope'"):
        registry.decode("Nope", 1, {})
    with pytest.raises(UnknownEventType, match="newer than this service knows"):
        registry.decode("Rated", 4, {})
    with pytest.raises(InvalidPayload, match="Rated v1: 1 invalid field") as refused:
        registry.decode("Rated", 1, {"score": "high"})
    assert "high" not in str(refused.value), "the reason names the field, not its value"


def test_a_type_version_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="registered twice"):

        @registry.event
        class Again(IntegrationEvent):
            event_type = "Rated"
            schema_version = 1
            context = "test"


def test_private_and_integration_events_are_siblings_and_nothing_else_registers() -> None:
    """A private event is never an integration event: the relay keeps it in its service
    (docs/architecture.md §3, Outbox relay)."""
    assert not issubclass(Noted, IntegrationEvent)
    assert (registry.is_private("Noted"), registry.is_private("Rated")) == (True, False)
    assert registry.is_private("Nope") is False, "unknown types are dead-lettered, not withheld"
    with pytest.raises(TypeError, match="neither an IntegrationEvent nor a PrivateEvent"):
        registry.event(Event)


def test_a_version_is_readable_when_it_upcasts_all_the_way_to_the_current_one() -> None:
    """What the relay publishes: the current version, and an older one the release before
    a bump wrote, which consumers upcast (docs/architecture.md §3, Outbox relay)."""
    assert [registry.readable("Rated", v) for v in (0, 1, 2, 3, 4)] == [
        False,  # no such version
        True,
        True,
        True,
        False,  # newer than this release knows
    ]
    assert registry.readable("Nope", 1) is False
    broken = EventRegistry()
    broken.event(RatedV3)
    broken.upcaster("Rated", 2)(lambda payload: payload)
    assert [broken.readable("Rated", v) for v in (1, 2, 3)] == [False, True, True]
