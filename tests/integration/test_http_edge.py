"""The HTTP edge of every service, served over real sockets on the real servers:
bodies are refused before they are read, hostile input gets 4xx and never 5xx, and a
property-based fuzz run generated from each OpenAPI document finds no 5xx."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from libs.events.migrations.roles import with_database
from libs.platform.edge import DEFAULT_MAX_BODY_BYTES
from tests.support.hostile_http import MB, fuzz_problems, hostile_input_answers, upload
from tests.support.live_services import SERVICES, LiveServices, live_services


@pytest.fixture(scope="module")
def services(postgres_url: str, temporal_address: str, server_dir: Path) -> Iterator[LiveServices]:
    name = f"tl_edge_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with live_services(
            server_dir / name,
            database_url=with_database(postgres_url, name),
            temporal_address=temporal_address,
        ) as running:
            yield running
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _rss() -> int:
    """Resident memory of this process, which serves the APIs."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_an_unauthenticated_100_mb_body_is_refused_without_being_read(
    services: LiveServices,
) -> None:
    framework = services.services["framework"]
    before = _rss()
    for chunked in (False, True):
        # The import takes the largest bodies of any route; authentication comes first.
        status, sent = upload(
            framework.url, "/frameworks/import?source=a.yaml", {}, 100 * MB, chunked=chunked
        )
        assert status == 401
        assert sent < 10 * MB, f"{sent:,} bytes were taken before the answer"
    assert _rss() - before < 20 * MB
    assert framework.serving()


def test_bodies_over_the_route_cap_are_cut_off_at_the_cap(services: LiveServices) -> None:
    framework = services.services["framework"]
    hr = services.headers("hannah-hr", "hr_admin")
    before = _rss()
    # A declared length over the cap is refused before any of the body is read ...
    status, sent = upload(framework.url, "/frameworks", hr, 100 * MB, chunked=False)
    assert (status, sent < 10 * MB) == (413, True)
    # ... and a chunked body as soon as it passes the cap.
    status, sent = upload(framework.url, "/frameworks", hr, 100 * MB, chunked=True)
    assert (status, sent < 10 * MB) == (413, True)
    # The framework import takes more than the default cap, up to its own.
    status, _ = upload(framework.url, "/frameworks/import?source=a.yaml", hr, 2 * MB, chunked=True)
    assert status == 422  # read whole, then refused as a file that is not YAML
    status, sent = upload(
        framework.url, "/frameworks/import?source=a.yaml", hr, 100 * MB, chunked=True
    )
    assert (status, sent < 40 * MB) == (413, True)
    assert _rss() - before < 40 * MB
    assert DEFAULT_MAX_BODY_BYTES < 2 * MB


@pytest.mark.parametrize("service", SERVICES)
def test_hostile_input_gets_4xx_never_5xx(services: LiveServices, service: str) -> None:
    running = services.services[service]
    answers = hostile_input_answers(running.url, services.headers("hannah-hr", "hr_admin"))
    server_errors = [answer for answer in answers if answer[3] >= 500]
    assert not server_errors, server_errors
    assert running.serving()


@pytest.mark.parametrize("service", SERVICES)
def test_fuzzing_finds_no_server_error(services: LiveServices, service: str) -> None:
    """Schema-valid and schema-invalid requests for every operation: none gets a 5xx, and
    what the schema allows is never refused as invalid (the schema states every constraint
    the API checks; what remains are business rules)."""
    running = services.services[service]
    problems = fuzz_problems(running.url, services.headers("hannah-hr", "hr_admin"))
    assert not problems, "\n".join(problems)
    assert running.serving()


def test_every_service_still_serves(services: LiveServices) -> None:
    for service in services.services.values():
        assert service.serving(), f"{service.name} stopped serving"
