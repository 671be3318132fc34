"""What the cycles service itself holds about a person, for an access request
(docs/privacy.md, Requests): the outside systems' facts about them it admitted into its log
(sealed fields opened, or `[erased]`), and the erasure requests made about them."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from libs.events.store import EventStore
from libs.privacy.records import PersonalDataSection, ServiceRecords

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
        cursor = await conn.execute(
            sql.SQL(
                "SELECT request_ref, requested_by, received_at FROM {}.erasure_requests "
                "WHERE employee_id = %s ORDER BY received_at"
            ).format(schema),
            (employee_id,),
        )
        requests = await cursor.fetchall()
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
                description="the erasure requests made about them, by whom and when",
                items=[
                    {"request_ref": ref, "requested_by": by, "received_at": at.isoformat()}
                    for ref, by, at in requests
                ],
            ),
        ],
    )
