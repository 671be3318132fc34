"""Requests about a person (docs/privacy.md, Requests) as tests make them: the cycles API's
record of an erasure request, its clearance and its end delivered to a service, the
service's erasure activity run as the request's workflow runs it, and where a text is left
in a service's schema."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from temporalio import activity

from libs.events.envelope import Envelope
from libs.events.schemas.cycles import ErasureRequested, PersonErased
from libs.events.schemas.promotion import ErasureCleared
from libs.events.store import EventStore
from libs.platform.runtime import Runtime, ServiceParts
from libs.platform.settings import Settings
from libs.privacy.requests import ERASING_ROLE, KnownErasures
from libs.workflows.contracts import erase_personal_data
from libs.workflows.messages import ErasedData, ErasureOrder, erasure_workflow_id, grant_digest
from tests.support.activities import attempt
from tests.support.envelopes import envelope
from tests.support.erasure import in_tables

OFFICER = "pat-privacy"
GRANT = "grant-of-the-request"
Request = ErasureRequested | ErasureCleared | PersonErased


async def erasure_requested(
    store: EventStore,
    request_ref: str,
    employee_id: str,
    by: str = OFFICER,
    roles: tuple[str, ...] = (ERASING_ROLE,),
    cleared: bool = True,
) -> None:
    """The cycles API's `ErasureRequested`, applied as the service's consumer applies it,
    then (`cleared`) the promotion service's `ErasureCleared`."""
    event = ErasureRequested(
        request_ref=request_ref,
        employee_id=employee_id,
        requested_by=by,
        roles=list(roles),
        grant_sha256=grant_digest(GRANT),
    )
    await delivered(store, event)
    if cleared:
        await delivered(store, ErasureCleared(request_ref=request_ref, employee_id=employee_id))


async def delivered(store: EventStore, event: Request, at: Envelope | None = None) -> None:
    """An event of an erasure request (`ErasureRequested`, `ErasureCleared`,
    `PersonErased`) applied to `store`'s replica of them as its consumer applies it; `at`:
    the envelope it was recorded in, when it was."""
    replica = KnownErasures(store.schema)
    [handler] = [h for h in replica.handlers() if isinstance(event, h.event)]
    recorded = at or envelope(event, erasure_workflow_id(event.request_ref))
    async with store.transaction() as conn:
        await handler.apply(conn, recorded, event)


async def delivered_from(source: EventStore, stream_id: str, store: EventStore) -> None:
    """Every event of `source`'s stream, as `store`'s consumers apply them."""
    for recorded in await source.read_stream(stream_id):
        event = await source.decode(recorded)
        assert isinstance(event, ErasureRequested | ErasureCleared | PersonErased)
        await delivered(store, event, recorded)


def erasure_of(
    build: Callable[[Runtime], ServiceParts], store: EventStore
) -> Callable[..., Awaitable[ErasedData]]:
    """The service's erasure activity as its worker registers it; called with an order and
    the workflow that schedules it (default: the order's own)."""
    runtime = Runtime(store.schema, Settings(), store.pool, store, broker=None, temporal=None)  # type: ignore[arg-type]
    name = erase_personal_data(store.schema).name
    [erase] = [
        fn
        for fn in build(runtime).activities
        if activity._Definition.must_from_callable(fn).name == name
    ]

    async def run(order: ErasureOrder, workflow_id: str | None = None) -> ErasedData:
        env = attempt(workflow_id or erasure_workflow_id(order.request_ref))
        result: ErasedData = await env.run(erase, order)
        return result

    return run


def holding(database_url: str, schema: str, text: str) -> list[str]:
    """Every `table.column` of `schema` that holds `text`, read as `database_url`'s role (one
    that reads every table)."""
    found = in_tables(database_url, re.escape(text), schema)
    return [place.removeprefix(f"{schema}.") for place in found]
