"""The ports every service's application declares alike (docs/architecture.md §1, Inside a
service): its event log and its unit of work. Pure declarations: an application imports
them without importing the database; `libs.events.store` and `libs.events.work` implement
them on PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeVar

from libs.events.envelope import Appended, Envelope, EventMetadata
from libs.events.registry import Event

W = TypeVar("W", covariant=True)


class EventLog(Protocol):
    """A service's event log, which is also its outbox (docs/architecture.md §3, Append).
    Outside a unit of work each append is a transaction of its own."""

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[Event],
        metadata: EventMetadata,
    ) -> list[Appended]:
        """Append if the stream is at `expected_version`, else raise, having written nothing."""
        ...

    async def read_stream(
        self, stream_id: str, *, after_version: int = 0, until_version: int | None = None
    ) -> list[Envelope]: ...

    async def read_streams(self, after: Mapping[str, int]) -> dict[str, list[Envelope]]:
        """Each stream's events after its version in `after`, read together."""
        ...

    async def last_version_of(self, stream_id: str, event_types: Sequence[str]) -> int:
        """The stream version of its latest event of these types; 0 when there is none."""
        ...

    async def decode(self, envelope: Envelope) -> Event:
        """The event an envelope carries, upcast to its current schema version, its personal
        fields opened (`[erased]` once a person they belong to is erased, docs/privacy.md)."""
        ...


class UnitOfWork(Protocol[W]):
    """Where a use case's work `W` (the ports it reads and writes through, bound to one
    transaction) begins and ends. An event reaction is handed the work of the transaction
    its consumer already opened, with the inbox claim, instead."""

    def reading(self) -> AbstractAsyncContextManager[W]:
        """For queries: reads, and writes nothing."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[W]:
        """For commands: everything written commits together, or nothing does."""
        ...
