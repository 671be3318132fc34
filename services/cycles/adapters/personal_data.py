"""What the cycles service itself holds about a person, for an access request
(docs/privacy.md, Requests): the outside systems' facts about them it admitted into its log
(sealed fields opened, or `[erased]`), and the erasure requests made about them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import sql

from libs.events.store import EventStore
from libs.privacy.records import PersonalDataSection, ServiceRecords
from libs.privacy.requests import KnownErasure, KnownErasures

NAME = "cycles"


async def records_of(store: EventStore, employee_id: str) -> ServiceRecords:
    schema = sql.Identifier(store.schema)
    async with store.pool.connection() as conn:
        # Every outside event about the person names them in `employee_id`; their streams
        # are the integrators' (`employee-<id>` for the HRIS).
        cursor = await conn.execute(
            sql.SQL(
                "SELECT DISTINCT stream_id FROM {}.events "
                "WHERE source IS NOT NULL AND payload->>'employee_id' = %s ORDER BY 1"
            ).format(schema),
            (employee_id,),
        )
        streams = [row[0] for row in await cursor.fetchall()]
        requests = await KnownErasures(store.schema).about(conn, employee_id)
    facts: list[dict[str, Any]] = []
    for stream in streams:
        for envelope in await store.read_stream(stream):
            if envelope.payload.get("employee_id") != employee_id:
                continue
            event = await store.decode(envelope)
            facts.append(
                {
                    "source": envelope.source,
                    "event": envelope.event_type,
                    "occurred_at": envelope.occurred_at.isoformat(),
                    **event.model_dump(mode="json"),
                }
            )
    return ServiceRecords(
        service=NAME,
        employee_id=employee_id,
        sections=[
            PersonalDataSection(
                topic="facts from the HRIS and LMS",
                description="what the outside systems published about them, as admitted into "
                "TalentLedger and passed on to the services; kept as long as the event log",
                items=facts,
            ),
            PersonalDataSection(
                topic="erasure requests",
                description="the erasure requests made about them, by whom and when, when "
                "each was cleared and how it ended",
                items=[_request(r) for r in requests],
            ),
        ],
    )


def _request(request: KnownErasure) -> dict[str, Any]:
    return {
        "request_ref": request.request_ref,
        "requested_by": request.requested_by,
        "received_at": request.received_at.isoformat(),
        "cleared_at": _iso(request.cleared_at),
        "outcome": request.outcome,
        "ended_at": _iso(request.ended_at),
    }


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()
