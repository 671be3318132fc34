"""Pages of every list endpoint: `?limit=&cursor=` in, `{items, next_cursor}` out.

A cursor is opaque to clients: the position after the last item served, bound to the route,
its other query parameters and the caller. It selects a place in the list the same request
without a cursor would return, never more: every page runs the route's own rights checks
again, and a cursor minted for another route, filter or caller is refused (422), as is one
that does not decode. A page holds at most `MAX_LIMIT` items.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from libs.platform.auth import CurrentActor

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_CURSOR_LENGTH = 200
PAGE_PARAMETERS = frozenset({"limit", "cursor"})

T = TypeVar("T")
Key = str | int | tuple[str | int, ...]
"""What identifies an item in its list; a tuple for a composite identity."""


def _plain(key: Key) -> str | int | list[str | int]:
    """The key as a cursor carries it (JSON has lists, not tuples)."""
    return list(key) if isinstance(key, tuple) else key


class Page(BaseModel, Generic[T]):
    """One page of a list, in the list's own order."""

    items: list[T]
    next_cursor: str | None = Field(
        description="send as `cursor` (with the same other parameters) for the next page; "
        "null on the last page"
    )


class InvalidCursor(HTTPException):
    def __init__(self, why: str) -> None:
        super().__init__(
            422,
            detail=f"invalid cursor: {why}; send the `next_cursor` of the previous page "
            "unchanged, with the same parameters, or leave `cursor` out to start again",
        )


@dataclass(frozen=True)
class PageRequest:
    """Where a page starts and how long it is, for one route, query and caller."""

    limit: int
    scope: str
    offset: int = 0
    after: str | int | list[str | int] | None = None

    def of(self, items: Sequence[T], key: Callable[[T], Key]) -> Page[T]:
        """The page of `items` (the whole list, rights already applied), each identified by
        `key`. The position is an offset checked against the key of the item before it, so
        that an item added or removed earlier in the list since the previous page neither
        repeats nor skips one."""
        start = self.offset
        if self.after is not None and not (
            0 < start <= len(items) and _plain(key(items[start - 1])) == self.after
        ):
            found = (i for i, item in enumerate(items) if _plain(key(item)) == self.after)
            moved = next(found, None)
            # Gone itself: what followed it moved up by one.
            start = min(start - 1, len(items)) if moved is None else moved + 1
        window = list(items[start : start + self.limit])
        end = start + len(window)
        more = end < len(items)
        cursor = _encode(self.scope, end, key(window[-1])) if more and window else None
        return Page[T](items=window, next_cursor=cursor)


def _scope(request: Request, subject: str) -> str:
    """A digest of what a cursor may be used with: route, other parameters, caller."""
    query = request.query_params.multi_items()
    params = sorted((k, v) for k, v in query if k not in PAGE_PARAMETERS)
    material = json.dumps([request.url.path, params, subject], separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()[:24]


def _encode(scope: str, offset: int, after: Key) -> str:
    raw = json.dumps({"s": scope, "o": offset, "k": _plain(after)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[str, int, str | int | list[str | int]]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidCursor("it does not decode") from None
    if not isinstance(data, dict):
        raise InvalidCursor("it does not decode")
    scope, offset, after = data.get("s"), data.get("o"), data.get("k")
    valid_offset = isinstance(offset, int) and not isinstance(offset, bool) and offset > 0
    valid_key = isinstance(after, str | int) or (
        isinstance(after, list) and all(isinstance(part, str | int) for part in after)
    )
    if not (isinstance(scope, str) and valid_offset and valid_key):
        raise InvalidCursor("it is not one this service issued")
    return scope, offset, after


def _page_request(
    request: Request,
    actor: CurrentActor,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"items per page, at most {MAX_LIMIT}")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_CURSOR_LENGTH,
            pattern=r"^[A-Za-z0-9_-]+$",
            description="the previous page's `next_cursor`; leave out for the first page",
        ),
    ] = None,
) -> PageRequest:
    scope = _scope(request, actor.subject)
    if cursor is None:
        return PageRequest(limit=limit, scope=scope)
    issued_for, offset, after = _decode(cursor)
    if issued_for != scope:
        raise InvalidCursor("it belongs to another list, filter or caller")
    return PageRequest(limit=limit, scope=scope, offset=offset, after=after)


Paged = Annotated[PageRequest, Depends(_page_request)]
"""A list endpoint's page: `limit` (default 100, at most 500) and `cursor` query parameters,
for an authenticated caller (401 first when there is none)."""


# -- clients --------------------------------------------------------------------------------


def _next(params: dict[str, str], page: dict[str, Any]) -> dict[str, str] | None:
    cursor = page["next_cursor"]
    return None if cursor is None else {**params, "cursor": cursor}


def every_item(fetch: Callable[[dict[str, str]], dict[str, Any]]) -> list[Any]:
    """All items of a paged list, following `next_cursor` page by page (largest pages)."""
    items: list[Any] = []
    params: dict[str, str] | None = {"limit": str(MAX_LIMIT)}
    while params is not None:
        page = fetch(params)
        items.extend(page["items"])
        params = _next(params, page)
    return items


async def every_item_async(
    fetch: Callable[[dict[str, str]], Awaitable[dict[str, Any]]],
) -> list[Any]:
    """`every_item` for an asynchronous client."""
    items: list[Any] = []
    params: dict[str, str] | None = {"limit": str(MAX_LIMIT)}
    while params is not None:
        page = await fetch(params)
        items.extend(page["items"])
        params = _next(params, page)
    return items
