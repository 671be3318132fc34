"""Hostile HTTP requests for any running service: raw uploads read as the server answers,
hostile values sent to every operation of an OpenAPI document, and a property-based fuzz
run generated from it (the HTTP edge's tests, in-process and on the running stack)."""

from __future__ import annotations

import json
import select
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlparse

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core import NotSet
from schemathesis.generation import GenerationMode

from libs.platform.edge import MAX_JSON_DEPTH

MB = 1024 * 1024


def upload(
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


def openapi(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/openapi.json", timeout=10).raise_for_status().json()


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for template, item in document["paths"].items():
        for method, operation in item.items():
            path = template
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    path = path.replace("{" + parameter["name"] + "}", "x1")
            yield method.upper(), path, operation


def json_bodies(document: dict[str, Any], operation: dict[str, Any]) -> Iterator[str]:
    """Each hostile value as the whole body and as each top-level field of the body."""
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return
    schema = resolve(document, content["application/json"].get("schema", {}))
    for value in HOSTILE_JSON.values():
        yield value
        for field in schema.get("properties", {}):
            yield f'{{"{field}": {value}}}'


def hostile_input_answers(url: str, headers: dict[str, str]) -> list[tuple[str, str, str, int]]:
    """Send each hostile value to every operation of the service at `url` (NUL and lone
    surrogates in path and query, every `HOSTILE_JSON` value as the body and as each field,
    hostile plain text, a 10 MB body); assert the statuses a refusal must have, and return
    every (method, path, what, status) for the caller to look for 5xx."""
    document = openapi(url)
    answers: list[tuple[str, str, str, int]] = []
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        for method, path, operation in operations(document):
            for name, value in (("NUL", "%00"), ("lone surrogate", "%ED%A0%80")):
                names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
                query = "&".join(f"{name}={value}" for name in [*names, "unknown"])
                target = path.replace("x1", f"x{value}", 1) + f"?{query}"
                status = client.request(method, target).status_code
                answers.append((method, target, name, status))
                if name == "NUL":
                    assert status == 422, (method, target, status)
            for body in json_bodies(document, operation):
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
                status, _ = upload(url, path, headers, 10 * MB, chunked=False)
                answers.append((method, path, "10 MB", status))
    return answers


# -- property-based fuzzing from each OpenAPI document -----------------------------------------

Examples = dict[GenerationMode, int]
EXAMPLES: Examples = {GenerationMode.POSITIVE: 4, GenerationMode.NEGATIVE: 3}  # per operation


def validation_refusal(response: Any) -> bool:
    """A 422 listing validation errors (FastAPI's or the edge's) other than a model's own
    rules across fields (`value_error`, stated in its description): what a schema-valid
    request must never get. A business rule's refusal says what to do in a sentence."""
    if response.status_code != 422:
        return False
    detail = response.json().get("detail")
    return isinstance(detail, list) and any(e.get("type") != "value_error" for e in detail)


def fuzz(
    operation: Any,
    mode: GenerationMode,
    examples: int,
    url: str,
    headers: dict[str, str],
    problems: list[str],
) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: Any) -> None:
        response = case.call(base_url=url, headers=headers, timeout=60)
        refused = mode is GenerationMode.POSITIVE and validation_refusal(response)
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


def fuzz_problems(url: str, headers: dict[str, str], examples: Examples = EXAMPLES) -> list[str]:
    """Schema-valid and schema-invalid requests for every operation of the service at `url`
    (`examples` of each per operation): each that got a 5xx, or a schema-valid one refused
    as invalid, as a line."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    problems: list[str] = []
    for result in schema.get_all_operations():
        for mode, count in examples.items():
            fuzz(result.ok(), mode, count, url, headers, problems)
    return problems
