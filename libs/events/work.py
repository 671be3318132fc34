"""A service's unit of work on PostgreSQL: the ports its use cases need, bound to one
connection and its transaction (docs/architecture.md §1, Inside a service). A service says
how to bind them (`bind`); where transactions begin is the same for every service."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar

from psycopg import AsyncConnection

from libs.events.envelope import Envelope
from libs.events.registry import IntegrationEvent
from libs.events.store import EventStore

W = TypeVar("W")
E = TypeVar("E", bound=IntegrationEvent)


class PostgresUnitOfWork(ABC, Generic[W]):
    def __init__(self, store: EventStore) -> None:
        self.store = store

    @abstractmethod
    def bind(self, conn: AsyncConnection[Any]) -> W:
        """The service's ports, reading and writing through `conn`."""

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[W]:
        """For queries: a pooled connection, and no commit to announce."""
        async with self.store.pool.connection() as conn:
            yield self.bind(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[W]:
        """For commands: committed whole on success (its appends announced to the relay),
        rolled back on any error."""
        async with self.store.transaction() as conn:
            yield self.bind(conn)

    def consumer(
        self, react: Callable[[W, Envelope, E], Awaitable[None]]
    ) -> Callable[[AsyncConnection[Any], Envelope, E], Awaitable[None]]:
        """An event reaction as its consumer runs it: in the transaction that records the
        event in the inbox (docs/architecture.md §3, Inbox)."""

        async def apply(conn: AsyncConnection[Any], envelope: Envelope, event: E) -> None:
            await react(self.bind(conn), envelope, event)

        return apply
