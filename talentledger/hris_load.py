"""`talentledger hris load people.csv`: the first load of the org chart, as HRIS events.

Each good row becomes an `EmployeeHired` event in the standard envelope, published on the
intake as an HRIS integration would (the cycles service admits it, the name sealed, for the
services to consume: libs/events/intake.py). Bad rows are reported with their line and column
and never stop the good ones. Event ids are derived from the employee id, so loading the
same file again publishes nothing new (JetStream and the admission drop repeats).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from faststream.nats import NatsBroker
from pydantic import ValidationError

from libs.events.envelope import Envelope, new_event_id
from libs.events.schemas.hris import EmployeeHired
from talentledger.csv_rows import BadRow, Row, rows
from talentledger.inbound import outside_envelope, publish

COLUMNS = (
    "employee_id",
    "name",
    "department",
    "job_family",
    "track",
    "level",
    "manager_id",
    "hired_on",
)
# Fixed, so that the same employee's hiring always has the same event id.
NAMESPACE = uuid.UUID("5b0f8a52-54c4-4f0e-9d63-1c1e5a7b2f10")


@dataclass
class OrgChartFile:
    """What a CSV export holds: the hires to publish, the rows refused, and warnings."""

    hires: list[EmployeeHired] = field(default_factory=list)
    bad_rows: list[BadRow] = field(default_factory=list)
    warnings: list[BadRow] = field(default_factory=list)


def read_people(text: str) -> OrgChartFile:
    """Parse and check every row; reporting lines are checked across the whole file."""
    result = OrgChartFile()

    def header(names: list[str]) -> list[str] | None:
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            result.bad_rows.append(
                BadRow(1, None, f"missing columns {missing}; expected {COLUMNS}")
            )
            return None
        return names

    lines: dict[str, int] = {}
    for row in rows(text, result.bad_rows, header):
        hire = _hire(row, result)
        if hire is None:
            continue
        if hire.employee_id in lines:
            result.bad_rows.append(
                BadRow(
                    row.line,
                    "employee_id",
                    f"{hire.employee_id!r} is already on line {lines[hire.employee_id]}",
                )
            )
            continue
        lines[hire.employee_id] = row.line
        result.hires.append(hire)
    _check_reporting_lines(result, lines)
    return result


def _hire(row: Row, result: OrgChartFile) -> EmployeeHired | None:
    values = row.values
    try:
        return EmployeeHired(
            employee_id=values["employee_id"],
            effective_on=date.fromisoformat(values["hired_on"]) if values["hired_on"] else None,
            name=values["name"],
            department=values["department"],
            job_family=values["job_family"],
            track=values["track"],
            level=values["level"],
            manager_id=values["manager_id"] or None,
        )
    except ValueError as error:  # ValidationError is one; so is a bad date
        for problem in error.errors() if isinstance(error, ValidationError) else []:
            field_name = str(problem["loc"][0]) if problem["loc"] else None
            column = "hired_on" if field_name == "effective_on" else field_name
            found = values.get(column or "", "")
            result.bad_rows.append(BadRow(row.line, column, f"{problem['msg']} (found {found!r})"))
        if not isinstance(error, ValidationError):
            result.bad_rows.append(
                BadRow(row.line, "hired_on", f"not a date (YYYY-MM-DD): {error}")
            )
        return None


def _check_reporting_lines(result: OrgChartFile, lines: dict[str, int]) -> None:
    """Managers outside the file are warnings (they may come later); cycles are refused."""
    managers = {h.employee_id: h.manager_id for h in result.hires}
    for hire in result.hires:
        if hire.manager_id is not None and hire.manager_id not in managers:
            result.warnings.append(
                BadRow(
                    lines[hire.employee_id],
                    "manager_id",
                    f"manager {hire.manager_id!r} is not in the file",
                )
            )
    in_cycle = set()
    for start in managers:
        seen: list[str] = []
        current: str | None = start
        while current is not None and current in managers and current not in seen:
            seen.append(current)
            current = managers[current]
        if current is not None and current in seen:
            in_cycle.update(seen[seen.index(current) :])
    for employee in sorted(in_cycle, key=lines.__getitem__):
        result.bad_rows.append(
            BadRow(lines[employee], "manager_id", "reporting lines loop back to this person")
        )
    result.hires = [h for h in result.hires if h.employee_id not in in_cycle]


def envelope_of(hire: EmployeeHired, actor: str, correlation_id: uuid.UUID) -> Envelope:
    """The hiring as an HRIS publishes it: the first event of the employee's stream."""
    return outside_envelope(
        hire,
        uuid.uuid5(NAMESPACE, f"{hire.employee_id}:{EmployeeHired.event_type}"),
        f"employee-{hire.employee_id}",
        actor,
        correlation_id,
    )


async def publish_hires(
    broker: NatsBroker,
    hires: Iterable[EmployeeHired],
    actor: str,
    advance: Callable[[int], None] = lambda _: None,
    window: int = 256,
) -> int:
    """Publish every hire, a window of acknowledgements in flight at a time; return how many."""
    correlation_id = new_event_id()
    envelopes = ((envelope_of(hire, actor, correlation_id), 1) for hire in hires)
    return (await publish(broker, envelopes, advance, window)).events
