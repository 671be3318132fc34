"""The HTTP edge of every service, served over real sockets on the real servers:
bodies are refused before they are read, hostile input gets 4xx and never 5xx, and a
property-based fuzz run generated from each OpenAPI document finds no 5xx."""

from __future__ import annotations

import json
import select
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import httpx
import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core import NotSet
from schemathesis.generation import GenerationMode

from libs.events.migrations.roles import with_database
from libs.platform.edge import DEFAULT_MAX_BODY_BYTES, MAX_JSON_DEPTH
from tests.support.live_services import SERVICES, LiveServices, live_services

MB = 1024 * 1024


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


def _upload(
    url: str, path: str, headers: dict[str, str], size: int, *, chunked: bool
) -> tuple[int, int]:
    """POST `size` bytes in 64 KiB pieces, reading the answer as soon as there is one (the
    server may answer, and close, long before the body is through). Returns (status, bytes
    of the body sent by then)."""
    address = urlparse(url)
    lines = [f"POST {path} HTTP/1.1", f"Host: {address.netloc}", "Content-Type: text/plain"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    piece = b"a" * 65536
    framed = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
    sent, answer = 0, b""
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while sent < size:
            if select.select([sock], [], [], 0)[0]:
                break  # answered already
            try:
                sock.sendall(framed)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break  # the server hung up, or stopped reading: wait for its answer
            sent += len(piece)
        else:
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        while b"\r\n" not in answer:
            received = sock.recv(65536)
            assert received, f"the server closed the connection without answering ({sent:,} sent)"
            answer += received
    return int(answer.split(b" ", 2)[1]), sent


def test_an_unauthenticated_100_mb_body_is_refused_without_being_read(
    services: LiveServices,
) -> None:
    framework = services.services["framework"]
    before = _rss()
    for chunked in (False, True):
        # The import takes the largest bodies of any route; authentication comes first.
        status, sent = _upload(
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
    status, sent = _upload(framework.url, "/frameworks", hr, 100 * MB, chunked=False)
    assert (status, sent < 10 * MB) == (413, True)
    # ... and a chunked body as soon as it passes the cap.
    status, sent = _upload(framework.url, "/frameworks", hr, 100 * MB, chunked=True)
    assert (status, sent < 10 * MB) == (413, True)
    # The framework import takes more than the default cap, up to its own.
    status, _ = _upload(framework.url, "/frameworks/import?source=a.yaml", hr, 2 * MB, chunked=True)
    assert status == 422  # read whole, then refused as a file that is not YAML
    status, sent = _upload(
        framework.url, "/frameworks/import?source=a.yaml", hr, 100 * MB, chunked=True
    )
    assert (status, sent < 40 * MB) == (413, True)
    assert _rss() - before < 40 * MB
    assert DEFAULT_MAX_BODY_BYTES < 2 * MB


# -- hostile values, sent to every operation of every service ----------------------------------

NUL, SURROGATE = "a\x00b", "a\ud800b"
HOSTILE_JSON: dict[str, str] = {
    # Raw JSON text: json.dumps escapes the lone surrogate as \\ud800 and writes NaN bare.
    "NUL": json.dumps(NUL),
    "lone surrogate": json.dumps(SURROGATE),
    "NaN": "NaN",
    "Infinity": "-Infinity",
    "overflowing float": "1e999",
    "deep nesting": "[" * (MAX_JSON_DEPTH * 4) + "]" * (MAX_JSON_DEPTH * 4),
    "very deep nesting": "[" * 100_000 + "]" * 100_000,
}


def _openapi(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/openapi.json", timeout=10).raise_for_status().json()


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for template, item in document["paths"].items():
        for method, operation in item.items():
            path = template
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    path = path.replace("{" + parameter["name"] + "}", "x1")
            yield method.upper(), path, operation


def _json_bodies(document: dict[str, Any], operation: dict[str, Any]) -> Iterator[str]:
    """Each hostile value as the whole body and as each top-level field of the body."""
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return
    schema = _resolve(document, content["application/json"].get("schema", {}))
    for value in HOSTILE_JSON.values():
        yield value
        for field in schema.get("properties", {}):
            yield f'{{"{field}": {value}}}'


@pytest.mark.parametrize("service", SERVICES)
def test_hostile_input_gets_4xx_never_5xx(services: LiveServices, service: str) -> None:
    running = services.services[service]
    document = _openapi(running.url)
    hr = services.headers("hannah-hr", "hr_admin")
    answers: list[tuple[str, str, str, int]] = []
    with httpx.Client(base_url=running.url, headers=hr, timeout=60) as client:
        for method, path, operation in _operations(document):
            for name, value in (("NUL", "%00"), ("lone surrogate", "%ED%A0%80")):
                names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
                query = "&".join(f"{name}={value}" for name in [*names, "unknown"])
                target = path.replace("x1", f"x{value}", 1) + f"?{query}"
                status = client.request(method, target).status_code
                answers.append((method, target, name, status))
                if name == "NUL":
                    assert status == 422, (method, target, status)
            for body in _json_bodies(document, operation):
                response = client.request(
                    method, path, content=body, headers={"Content-Type": "application/json"}
                )
                answers.append((method, path, body[:40], response.status_code))
                assert response.status_code in (413, 422), (method, path, body[:60], response)
            if "text/plain" in operation.get("requestBody", {}).get("content", {}):
                for body in (NUL.encode(), b"a\xed\xa0\x80b", b"\xff\xfe"):
                    status = client.request(method, path, content=body).status_code
                    answers.append((method, path, repr(body), status))
                    assert status == 422, (method, path, body, status)
            if "requestBody" in operation:
                status, _ = _upload(running.url, path, hr, 10 * MB, chunked=False)
                answers.append((method, path, "10 MB", status))
    server_errors = [answer for answer in answers if answer[3] >= 500]
    assert not server_errors, server_errors
    assert running.serving()


# -- property-based fuzzing from each OpenAPI document -----------------------------------------

EXAMPLES = {GenerationMode.POSITIVE: 4, GenerationMode.NEGATIVE: 3}  # per operation


def _validation_refusal(response: Any) -> bool:
    """A 422 listing validation errors (FastAPI's or the edge's) other than a model's own
    rules across fields (`value_error`, stated in its description): what a schema-valid
    request must never get. A business rule's refusal says what to do in a sentence."""
    if response.status_code != 422:
        return False
    detail = response.json().get("detail")
    return isinstance(detail, list) and any(e.get("type") != "value_error" for e in detail)


def _fuzz(
    operation: Any, mode: GenerationMode, url: str, headers: dict[str, str], problems: list[str]
) -> None:
    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: Any) -> None:
        response = case.call(base_url=url, headers=headers, timeout=60)
        refused = mode is GenerationMode.POSITIVE and _validation_refusal(response)
        if response.status_code >= 500 or refused:
            body = "" if isinstance(case.body, NotSet) else quote(str(case.body))[:200]
            problems.append(
                f"{mode.value} {case.method} {case.formatted_path} {case.query or ''} "
                f"{body}: {response.status_code} {response.text[:300]}"
            )

    try:
        call()
    except Unsatisfiable:
        # Nothing in the operation can be made invalid (no parameters, no body).
        if mode is GenerationMode.POSITIVE:
            raise


@pytest.mark.parametrize("service", SERVICES)
def test_fuzzing_finds_no_server_error(services: LiveServices, service: str) -> None:
    """Schema-valid and schema-invalid requests for every operation: none gets a 5xx, and
    what the schema allows is never refused as invalid (the schema states every constraint
    the API checks; what remains are business rules)."""
    running = services.services[service]
    schema = schemathesis.openapi.from_url(f"{running.url}/openapi.json")
    hr = services.headers("hannah-hr", "hr_admin")
    problems: list[str] = []
    for result in schema.get_all_operations():
        for mode in EXAMPLES:
            _fuzz(result.ok(), mode, running.url, hr, problems)
    assert not problems, "\n".join(problems)
    assert running.serving()


def test_every_service_still_serves(services: LiveServices) -> None:
    for service in services.services.values():
        assert service.serving(), f"{service.name} stopped serving"
