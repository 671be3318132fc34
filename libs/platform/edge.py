"""The HTTP edge every service shares: who may send a body, how large, and what it may hold.

`HttpEdge` is pure ASGI and runs before FastAPI sees the request. In order it
1. authenticates the bearer token on every path but health and the API documents, before a
   byte of the body is read: an unauthenticated upload is answered 401 at once;
2. enforces the route's body cap on the streamed bytes: a `Content-Length` over the cap gets
   413 at once, a chunked body is counted as it arrives and cut off at the cap with 413;
3. refuses text the services cannot store or compare (422): NUL characters, lone surrogates,
   bodies that are not UTF-8, non-finite numbers (`NaN`, `Infinity`, `1e999`) and JSON nested
   deeper than `MAX_JSON_DEPTH`, in the body, the query and the path alike.

The actor it verified is kept on the request, so `CurrentActor` does not verify again.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from email.message import Message
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from libs.platform.auth import ACTOR_STATE, Unauthenticated, authenticate

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
MAX_BODY_EXTENSION = "x-max-body-bytes"
MAX_JSON_DEPTH = 64
# The largest PostgreSQL `integer`: numbers the services store (versions, counts) say so in
# their OpenAPI constraints, so an out-of-range number is a 422 and not a database error.
MAX_INTEGER = 2**31 - 1
_MAX_ECHO_CHARACTERS = 300


def max_body(limit: int) -> dict[str, Any]:
    """`openapi_extra` for a route whose bodies may be larger than `DEFAULT_MAX_BODY_BYTES`;
    the cap is stated in the route's OpenAPI operation as `x-max-body-bytes`."""
    return {MAX_BODY_EXTENSION: limit}


class InvalidText(ValueError):
    """Input the services refuse whatever the route: says where, never what."""

    def __init__(self, loc: tuple[str | int, ...], kind: str, message: str) -> None:
        super().__init__(message)
        self.loc, self.kind, self.message = loc, kind, message

    def response(self) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content={"detail": [{"type": self.kind, "loc": list(self.loc), "msg": self.message}]},
        )


def check_text(value: str, loc: tuple[str | int, ...]) -> None:
    if "\x00" in value:
        raise InvalidText(loc, "nul_character", "text cannot contain NUL (U+0000) characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidText(
            loc, "lone_surrogate", "text cannot contain lone surrogates (U+D800 to U+DFFF)"
        ) from None


def check_json(document: Any, loc: tuple[str | int, ...] = ("body",)) -> None:
    """Walk decoded JSON without recursion: every string (keys too) and number, and depth."""
    pending: list[tuple[Any, tuple[str | int, ...]]] = [(document, loc)]
    while pending:
        value, where = pending.pop()
        if len(where) > MAX_JSON_DEPTH:
            raise InvalidText(
                where[:MAX_JSON_DEPTH],
                "json_too_deep",
                f"JSON is nested deeper than {MAX_JSON_DEPTH} levels",
            )
        if isinstance(value, str):
            check_text(value, where)
        elif isinstance(value, float) and not math.isfinite(value):
            raise InvalidText(where, "finite_number", "numbers must be finite (no NaN or Infinity)")
        elif isinstance(value, dict):
            for key, item in value.items():
                check_text(key, where)
                pending.append((item, (*where, key)))
        elif isinstance(value, list):
            pending.extend((item, (*where, index)) for index, item in enumerate(value))


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def check_body(body: bytes, content_type: str | None) -> None:
    if not body:
        return
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidText(
            ("body", error.start), "utf8_invalid", "the body is not valid UTF-8"
        ) from None
    if not _is_json(content_type):
        check_text(text, ("body",))
        return
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return  # FastAPI answers malformed JSON itself, with the position
    except RecursionError:
        raise InvalidText(
            ("body",), "json_too_deep", f"JSON is nested deeper than {MAX_JSON_DEPTH} levels"
        ) from None
    except ValueError:  # an integer literal longer than Python converts
        raise InvalidText(
            ("body",), "number_too_long", "a number in the body has too many digits"
        ) from None
    check_json(document)


def check_query_and_path(scope: Scope) -> None:
    check_text(scope["path"], ("path",))
    query = scope.get("query_string", b"").decode("latin-1")
    for key, value in parse_qsl(query, keep_blank_values=True):
        check_text(key, ("query",))
        check_text(value, ("query", _printable(key)))


def _printable(text: str) -> str:
    """Text safe to serialise in an error: unencodable characters replaced, length capped."""
    return text.encode("utf-8", "replace").decode("utf-8")[:_MAX_ECHO_CHARACTERS]


def _headers(scope: Scope) -> Iterator[tuple[str, str]]:
    for name, value in scope.get("headers", ()):
        yield name.decode("latin-1").lower(), value.decode("latin-1")


def _route_limits(api: FastAPI) -> list[tuple[str, re.Pattern[str], int]]:
    """(method, path pattern, cap) of each operation whose OpenAPI document states its own
    cap: the document is the one place the caps are declared, so what it says is enforced."""
    limits = getattr(api.state, "body_limits", None)
    if limits is None:
        limits = []
        for template, item in api.openapi().get("paths", {}).items():
            parts = re.split(r"(\{[^}/]+\})", template)
            pattern = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
            for method, operation in item.items():
                if isinstance(operation, dict) and MAX_BODY_EXTENSION in operation:
                    limit = int(operation[MAX_BODY_EXTENSION])
                    limits.append((method.upper(), re.compile(f"^{pattern}$"), limit))
        api.state.body_limits = limits
    return limits


def _route_limit(api: FastAPI, scope: Scope) -> int:
    for method, pattern, limit in _route_limits(api):
        if scope["method"] == method and pattern.match(scope["path"]):
            return limit
    return DEFAULT_MAX_BODY_BYTES


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(
        status_code=413,
        content={"detail": f"the body is over this route's limit of {limit:,} bytes"},
    )


class HttpEdge:
    """ASGI middleware: authentication, body caps and input hygiene (see the module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api: FastAPI = scope["app"]
        headers = dict(_headers(scope))
        if scope["path"] not in _public_paths(api):
            try:
                actor = authenticate(api.state.token_verifier, headers.get("authorization"))
            except Unauthenticated as error:
                await error.response()(scope, receive, send)
                return
            scope.setdefault("state", {})[ACTOR_STATE] = actor

        limit = _route_limit(api, scope)
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        body, disconnected = bytearray(), False
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
                break
            body += message.get("body", b"")
            if len(body) > limit:
                await _too_large(limit)(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        if disconnected:
            return  # nobody is left to answer

        try:
            check_query_and_path(scope)
            check_body(bytes(body), headers.get("content-type"))
        except InvalidText as error:
            await error.response()(scope, receive, send)
            return

        replayed = False

        async def replay() -> AsgiMessage:
            nonlocal replayed
            if replayed:
                return await receive()  # later calls wait for the client to disconnect
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


def _public_paths(api: FastAPI) -> set[str]:
    documents = (api.openapi_url, api.docs_url, api.redoc_url, api.swagger_ui_oauth2_redirect_url)
    return {"/health", *(path for path in documents if path)}


# JSON Schema for "no NUL": what every text field of every document states, so that a client
# generated from the document never sends what the edge refuses.
TEXT_PATTERN = "^[^\\u0000]*$"


# A pattern can match NUL only through a negated class, `.` or a negated shorthand.
_MAY_MATCH_NUL = re.compile(r"\[\^|\.|\\[SWD]")


def state_text_rules(document: dict[str, Any]) -> dict[str, Any]:
    """Add the edge's text rule to every string schema of an OpenAPI document whose own
    constraints (a format, an enumeration, a constant, a pattern) do not already exclude NUL:
    as its pattern, or beside a pattern of its own in `allOf`. Objects with declared fields
    and no rule for others get `additionalProperties: false`: a model may ignore fields it
    does not know, but the edge checks them like any other, so a client sends none."""
    pending: list[Any] = [document]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            pending.extend(node.values())
            if node.get("type") == "object" and "properties" in node:
                node.setdefault("additionalProperties", False)
            if node.get("type") != "string" or {"format", "enum", "const"} & set(node):
                continue
            if "pattern" not in node:
                node["pattern"] = TEXT_PATTERN
            elif _MAY_MATCH_NUL.search(node["pattern"]) and node["pattern"] != TEXT_PATTERN:
                node.setdefault("allOf", []).append({"pattern": TEXT_PATTERN})
        elif isinstance(node, list):
            pending.extend(node)
    return document


def install(api: FastAPI) -> None:
    """Put `api` behind the edge, and make its OpenAPI document state the edge's rules."""
    api.add_middleware(HttpEdge)
    api.add_exception_handler(RequestValidationError, validation_failed)
    build = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            api.openapi_schema = state_text_rules(build())
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]


async def validation_failed(_: Request, error: Exception) -> JSONResponse:
    """422 for a request FastAPI could not validate: where and why, never the input itself,
    which may not even serialise (NaN, lone surrogates) and may be large or private."""
    assert isinstance(error, RequestValidationError)
    detail = [
        {
            "type": str(item.get("type", "invalid")),
            "loc": [p if isinstance(p, int) else _printable(str(p)) for p in item["loc"]],
            "msg": _printable(str(item.get("msg", "invalid input"))),
        }
        for item in error.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": detail})
