"""What a service that holds personal data adds to itself to answer requests about a person
(docs/privacy.md, Requests): the access route, the replica of erasure requests and the
erasure activity. Its schema needs `libs.privacy.requests.MIGRATIONS`, and its access table
the route's rule (`libs.privacy.http.ACCESS`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from libs.events.consumer import EventHandler
from libs.platform.runtime import Runtime
from libs.privacy.erasure import erasure_activity
from libs.privacy.http import records_router
from libs.privacy.records import PersonalDataHolder
from libs.privacy.requests import KnownErasures


@dataclass(frozen=True)
class PrivacyParts:
    """The service's handlers and activities for requests about a person; `erasures` for
    any further activity of its own that acts for a request."""

    erasures: KnownErasures
    handlers: Sequence[EventHandler]
    activities: Sequence[Callable[..., Any]]


def privacy_parts(
    service: str, runtime: Runtime, api: FastAPI, holder: PersonalDataHolder
) -> PrivacyParts:
    """Routes `GET /privacy/people/{employee_id}` on `api` to `holder`, which the erasure
    activity also erases through. Call before `declare`, which checks the route's rule."""
    api.include_router(records_router(service, holder))
    erasures = KnownErasures(service)
    erase = erasure_activity(service, runtime.pool, erasures, holder, runtime.store.keys.forget)
    return PrivacyParts(erasures=erasures, handlers=erasures.handlers(), activities=[erase])
