"""Seeding the shared replicas (org chart, framework versions) of any service's schema by
calling their handlers with the events the HRIS and the framework service publish, as the
consumers would."""

from __future__ import annotations

from datetime import UTC, date, datetime

from libs.events.schemas.framework import (
    Framework,
    FrameworkPublished,
    RoleProfileChanged,
    TrackKind,
)
from libs.events.schemas.hris import (
    EmployeeHired,
    EmployeeLeft,
    EmployeeManagerChanged,
    EmployeeRoleChanged,
)
from libs.events.store import EventStore
from libs.replicas.framework_versions import FrameworkVersions
from libs.replicas.org_chart import OrgChart
from services.framework.domain.profiles import effective_profiles
from tests.support.envelopes import envelope


async def hire(store: EventStore, *people: EmployeeHired) -> None:
    org_chart = OrgChart(store.schema)
    async with store.transaction() as conn:
        for person in people:
            await org_chart.hired(conn, envelope(person, f"employee-{person.employee_id}"), person)


async def change(
    store: EventStore,
    version: int,
    *changes: EmployeeHired | EmployeeRoleChanged | EmployeeManagerChanged | EmployeeLeft,
) -> None:
    """HRIS facts about people, as each employee's `version`-th event (a hiring too, for
    tests that deliver one employee's events out of order)."""
    org_chart = OrgChart(store.schema)
    async with store.transaction() as conn:
        for e in changes:
            delivered = envelope(e, f"employee-{e.employee_id}", version)
            if isinstance(e, EmployeeHired):
                await org_chart.hired(conn, delivered, e)
            elif isinstance(e, EmployeeRoleChanged):
                await org_chart.role_changed(conn, delivered, e)
            elif isinstance(e, EmployeeLeft):
                await org_chart.left(conn, delivered, e)
            else:
                await org_chart.manager_changed(conn, delivered, e)


async def publish(store: EventStore, framework_id: str, version: int, framework: Framework) -> None:
    """What the framework service's FrameworkPublished and RoleProfileChanged deliver."""
    replica = FrameworkVersions(store.schema)
    stream = f"framework-{framework_id}"
    published = FrameworkPublished(
        framework_id=framework_id,
        version=version,
        revision="initial" if version == 1 else "minor",
        published_at=datetime.now(UTC),
        framework=framework,
    )
    async with store.transaction() as conn:
        await replica.apply(conn, envelope(published, stream), published)
        for role in effective_profiles(framework).values():
            changed = RoleProfileChanged(
                framework_id=framework_id, version=version, change="added", role=role
            )
            await replica.apply_role(conn, envelope(changed, stream), changed)


def hired(
    employee_id: str,
    manager_id: str | None,
    track: TrackKind,
    level: str,
    department: str = "Platform",
    job_family: str = "eng",
) -> EmployeeHired:
    return EmployeeHired(
        employee_id=employee_id,
        effective_on=date(2024, 1, 2),
        name=f"Person {employee_id}",
        department=department,
        job_family=job_family,
        track=track,
        level=level,
        manager_id=manager_id,
    )


def role_changed(
    employee_id: str,
    on: date,
    level: str,
    department: str = "Platform",
    track: TrackKind = "ic",
    job_family: str = "eng",
) -> EmployeeRoleChanged:
    return EmployeeRoleChanged(
        employee_id=employee_id,
        effective_on=on,
        department=department,
        job_family=job_family,
        track=track,
        level=level,
    )


def hiring_fact(track: TrackKind, level: str, job_family: str = "eng") -> dict[str, object]:
    """The role fact a `hired` person's hiring leaves, as an access request gives it."""
    return {
        "stream_version": 1,
        "effective_on": "2024-01-02",
        "job_family": job_family,
        "track": track,
        "level": level,
    }
