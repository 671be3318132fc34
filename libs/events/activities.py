"""Activity contracts between the cycle workflows and the services that run the activities.

Workflows call activities by name on the owning service's task queue, so `services/cycles`
never imports a service; both sides share only these names and models.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

SERVICES = ("framework", "assessment", "development", "promotion")


class FrameworkRef(BaseModel):
    """A framework, optionally pinned to one published version (None: the latest)."""

    model_config = ConfigDict(frozen=True)

    framework_id: str = Field(min_length=1)
    version: int | None = Field(None, ge=1)


class FrameworkConfirmation(BaseModel):
    """A service holds the published framework version in its own read model."""

    model_config = ConfigDict(frozen=True)

    service: str
    framework_id: str
    version: int


RESOLVE_FRAMEWORK = "framework.resolve_published_version"


def confirm_framework(service: str) -> str:
    """Name of the activity by which `service` confirms it has a framework version."""
    return f"{service}.confirm_framework_version"
