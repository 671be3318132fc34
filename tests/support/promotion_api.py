"""The promotion service as its tests drive it: people, a caller per role, the use cases on
the service's own database, and the audit command's verdict."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from libs.events.schemas.assessment import CalibrationCompleted
from services.promotion.adapters.postgres.work import Database
from services.promotion.application import reactions
from services.promotion.application.promotion import Promotion
from talentledger.cli import app
from tests.support.envelopes import envelope
from tests.support.replica_seeding import hire, hired, publish
from tests.support.sample_frameworks import valid_framework
from tests.support.service_api import ServiceApi

SCHEMA = "promotion"
LEAD, OTHER_LEAD = "emp-lead", "emp-other-lead"
ANN, BEN = "emp-ann", "emp-ben"
COMMITTEE, SECOND_COMMITTEE = "cara-committee", "dan-committee"
AUDITOR = "aud-auditor"
# Everyone at L3 is judged for L4 on coding 4, testing 3 and the three core competencies.
STRONG = {"coding": 4, "testing": 4, "collaboration": 3.5, "ownership": 3, "communication": 3}
WEAK = {"coding": 2.5, "testing": 3, "collaboration": 3, "ownership": 3, "communication": 3}


@dataclass
class Stack:
    api: ServiceApi
    promotion: Promotion

    async def calibrate(self, event: CalibrationCompleted) -> None:
        async with self.promotion.uow.transaction() as tx:
            await reactions.on_calibration(
                tx, envelope(event, f"calibration-{event.session_id}"), event
            )

    def who(self, subject: str) -> dict[str, str]:
        roles = {
            COMMITTEE: ("promotion_committee",),
            SECOND_COMMITTEE: ("promotion_committee",),
            AUDITOR: ("auditor",),
            LEAD: ("manager",),
            OTHER_LEAD: ("manager",),
        }.get(subject, ("employee",))
        return self.api.as_(subject, *roles)

    async def call(
        self, method: str, path: str, status: int = 200, who: str | None = None, **body: Any
    ) -> Any:
        headers = self.api.hr if who is None else self.who(who)
        kwargs: dict[str, Any] = {"headers": headers}
        if method == "POST":
            kwargs["json"] = body
        return await self.api.ok(method, path, status, **kwargs)

    async def nominate(self, employee: str, cycle: str = "2026-h1", **extra: Any) -> str:
        case = await self.call(
            "POST",
            "/cases",
            201,
            who=LEAD,
            employee_id=employee,
            cycle_id=cycle,
            operating_since="2025-06-01",
            **extra,
        )
        return str(case["case_id"])

    async def ready_case(self, employee: str, session: str = "s1", **target: Any) -> str:
        """Nominated (for the `target` move, default the next level), endorsed and confirmed:
        every default criterion can be met."""
        case = await self.nominate(employee, **target)
        await self.call("POST", f"/cases/{case}/endorsement", who=LEAD, note="ready")
        await self.call(
            "POST", f"/cases/{case}/confirmation", session_id=session, confirmed=True, note=""
        )
        return case


async def seeded(api: ServiceApi) -> Promotion:
    """The framework and org chart every test starts from; the use cases on the service's
    database."""
    await publish(api.store, "eng", 1, valid_framework())
    await hire(
        api.store,
        hired(LEAD, None, "manager", "M2"),
        hired(ANN, LEAD, "ic", "L3"),
        hired(BEN, LEAD, "ic", "L3"),
        hired(OTHER_LEAD, None, "manager", "M2", department="Insights"),
    )
    return Promotion(Database(api.store), "promotion_committee")


def audit_verify(database_url: str, home: Path) -> str:
    """What `talentledger audit verify --chain-only` says, on one line; it must pass."""
    env = {"DATABASE_URL": database_url, "TALENTLEDGER_HOME": str(home)}
    verified = CliRunner().invoke(app, ["audit", "verify", "--chain-only"], env=env)
    output = " ".join(verified.output.split())
    assert verified.exit_code == 0, output
    return output
