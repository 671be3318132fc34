"""The cycles service's steps of an erasure (docs/privacy.md, Requests): destroy the person's
data keys, and publish how the request ended. Both act only for a request the cycles API
recorded (`KnownErasures`, fed by the service's own `ErasureRequested` events); destroying
keys and recording an erasure only for one the promotion service cleared."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from psycopg_pool import AsyncConnectionPool
from temporalio import activity

from libs.events.schemas.cycles import PersonErased
from libs.events.store import EventStore
from libs.personal import vault
from libs.privacy.requests import KnownErasures
from libs.workflows.contracts import DESTROY_PERSONAL_KEYS, RECORD_ERASURE
from libs.workflows.messages import (
    ErasureOrder,
    ErasureOutcome,
    KeysDestroyed,
    erasure_workflow_id,
)
from services.cycles.adapters.activities import append_once


def erasure_activities(
    store: EventStore,
    pool: AsyncConnectionPool,
    requests: KnownErasures,
    forget_keys: Callable[[str], None],
) -> list[Callable[..., Awaitable[Any]]]:
    """`pool` connects as the cycles service's role, the only one allowed to destroy keys
    (talentledger/stack/database.py); `forget_keys(person)` drops the key this process
    cached."""

    @activity.defn(name=DESTROY_PERSONAL_KEYS.name)
    async def destroy_personal_keys(order: ErasureOrder) -> KeysDestroyed:
        actor = await requests.acting_for(pool, order)
        async with pool.connection() as conn:
            destroyed = await vault.destroy_keys(conn, order.employee_id, order.request_ref, actor)
        forget_keys(order.employee_id)
        return KeysDestroyed(employee_id=order.employee_id, keys=destroyed)

    @activity.defn(name=RECORD_ERASURE.name)
    async def record_erasure(outcome: ErasureOutcome) -> None:
        order = outcome.order
        # A refusal is recorded without a clearance; an erasure only after one.
        actor = await requests.acting_for(pool, order, after_clearance=outcome.outcome == "erased")
        event = PersonErased(
            request_ref=order.request_ref,
            employee_id=order.employee_id,
            outcome=outcome.outcome,
            reason=outcome.reason,
            services=outcome.services,
        )
        # After the request's own event (ErasureRequested is event 1) on the request's stream,
        # named as its workflow.
        await append_once(store, erasure_workflow_id(order.request_ref), 2, event, actor)

    return [destroy_personal_keys, record_erasure]
