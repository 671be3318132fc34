"""Temporal activities the framework service runs on its own task queue."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from libs.events.activities import RESOLVE_FRAMEWORK, FrameworkRef
from libs.events.store import EventStore
from services.framework.application import publishing


class FrameworkActivities:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    @activity.defn(name=RESOLVE_FRAMEWORK)
    async def resolve_published_version(self, ref: FrameworkRef) -> FrameworkRef:
        """Pin a cycle to a published version: the requested one, or the latest."""
        _, versions = await publishing.load(self.store, ref.framework_id)
        known = {v.version for v in versions}
        if not known or (ref.version is not None and ref.version not in known):
            raise ApplicationError(
                f"framework {ref.framework_id!r} has no published version "
                + (str(ref.version) if ref.version else "yet"),
                type="FrameworkNotPublished",
                non_retryable=True,
            )
        return FrameworkRef(framework_id=ref.framework_id, version=ref.version or max(known))
