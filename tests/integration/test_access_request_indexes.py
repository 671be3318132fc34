"""An access request reads what is held about one person, never a whole table, so that it
answers within its 10 seconds whatever the size of the logs (docs/privacy.md, Requests).

On PostgreSQL, through each service's own access route as its own role: auto_explain reports
the plan of every statement the request runs, with sequential scans disabled, so that a
statement no index serves still shows as a `Seq Scan`; each index made for these requests
is seen in use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import AsyncConnection, sql

from libs.platform.runtime import ServiceDefinition
from services.assessment import service as assessment
from services.cycles import service as cycles
from services.development import service as development
from services.framework import service as framework
from services.promotion import service as promotion
from tests.support.service_api import ServiceApi, in_process

PERSON = "emp-ada"
OFFICER = ("olivia-privacy", "privacy_officer")

# The indexes an access request of each service reads through: made for it (events_0006,
# assessment_0005, framework_0003, development_0002) or there before.
INDEXES = {
    "cycles": {"events_outside_by_employee"},
    "framework": {"events_by_actor", "published_versions_by_actor"},
    "assessment": {
        "submissions_by_rater",
        "submissions_by_subject",
        "calibration_subjects_by_subject",
        "events_campaign_populations",
        "events_nomination_parties",
    },
    "development": {"plans_by_action", "plans_by_employee", "scores_by_employee"},
    "promotion": {"decision_log_by_employee", "decision_log_by_actor"},
}


@asynccontextmanager
async def explained(
    definition: ServiceDefinition, database_url: str, keys: Path
) -> AsyncIterator[tuple[ServiceApi, list[str]]]:
    """The service's API, and the plans of the statements it runs from then on."""
    with psycopg.connect(database_url, autocommit=True) as admin:
        database = admin.info.dbname
        for setting, value in (
            ("session_preload_libraries", "auto_explain"),
            ("auto_explain.log_min_duration", "0"),
            ("auto_explain.log_level", "notice"),
            ("enable_seqscan", "off"),
        ):
            admin.execute(
                sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                    sql.Identifier(database), sql.SQL(setting), sql.Literal(value)
                )
            )
    plans: list[str] = []

    async def configure(conn: AsyncConnection[Any]) -> None:
        conn.add_notice_handler(lambda notice: plans.append(notice.message_primary or ""))

    async with in_process(
        ServiceApi,
        definition.build,
        definition.name,
        definition.migrations,
        database_url,
        keys,
        configure=configure,
    ) as api:
        plans.clear()  # the service's start
        yield api, plans


@pytest.mark.parametrize(
    "definition",
    [
        cycles.definition,
        framework.definition,
        assessment.definition,
        development.definition,
        promotion.definition,
    ],
    ids=lambda d: d.name,
)
async def test_an_access_request_reads_every_table_through_an_index(
    definition: ServiceDefinition, database_url: str, tmp_path: Path
) -> None:
    async with explained(definition, database_url, tmp_path / "keys") as (api, plans):
        officer = api.as_(*OFFICER)
        if definition.name == "cycles":  # gathers the others' answers; its own, here
            body = {"kind": "access", "employee_id": PERSON}
            await api.ok("POST", "/privacy/requests", json=body, headers=officer)
        else:
            await api.ok("GET", f"/privacy/people/{PERSON}", headers=officer)
    assert plans, "auto_explain reported the request's statements"
    read = "\n".join(plans)
    assert {index for index in INDEXES[definition.name] if index not in read} == set()
    scanned = [plan for plan in plans if "Seq Scan" in plan]
    assert scanned == [], "\n\n".join(scanned)
