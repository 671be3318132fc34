"""Temporal activities the framework service runs on its own task queue."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from libs.events.activities import RESOLVE_FRAMEWORK, FrameworkRef
from services.framework.application.frameworks import Frameworks


class FrameworkActivities:
    def __init__(self, frameworks: Frameworks) -> None:
        self.frameworks = frameworks

    @activity.defn(name=RESOLVE_FRAMEWORK)
    async def resolve_published_version(self, ref: FrameworkRef) -> FrameworkRef:
        """Pin a cycle to a published version: the requested one, or the latest."""
        found = await self.frameworks.published(ref.framework_id, ref.version)
        if found is None:
            raise ApplicationError(
                f"framework {ref.framework_id!r} has no published version "
                + (str(ref.version) if ref.version else "yet"),
                type="FrameworkNotPublished",
                non_retryable=True,
            )
        return FrameworkRef(framework_id=ref.framework_id, version=found.version)
