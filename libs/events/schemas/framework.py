"""Events the framework service publishes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.events.registry import IntegrationEvent, registry


class PublishedLevel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(description="level code, e.g. L3 or M1")
    name: str
    track: Literal["ic", "manager"]
    rank: int = Field(ge=1, description="order within the track, 1 = most junior")


class PublishedCompetency(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    name: str
    kind: Literal["core", "functional", "leadership"]
    nature: Literal["behavioural", "technical"]


@registry.event
class FrameworkPublished(IntegrationEvent):
    """A framework version was published: immutable from now on, and citable by number."""

    event_type = "FrameworkPublished"
    schema_version = 1
    context = "framework"

    framework_id: str
    version: int = Field(ge=1)
    name: str
    revision: Literal["initial", "minor", "major"]
    scale_min: int
    scale_max: int
    levels: list[PublishedLevel]
    competencies: list[PublishedCompetency]
    published_at: datetime
