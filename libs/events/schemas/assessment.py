"""Events the assessment service publishes about 360 campaigns.

None of them identifies a peer or a direct report: those raters appear only as their rater
group (DOMAIN.md §3, Anonymity). Ratings themselves never leave the service; what other
contexts use are calibrated scores.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from libs.events.registry import IntegrationEvent, registry
from libs.events.schemas.framework import Key


class _CampaignEvent(IntegrationEvent):
    context = "assessment"
    schema_version = 1

    campaign_id: Key


@registry.event
class CampaignOpened(_CampaignEvent):
    """A 360 campaign opened for a population, pinned to one published framework version."""

    event_type = "CampaignOpened"

    framework_id: str
    framework_version: int = Field(ge=1)
    population: list[str] = Field(description="employee ids of the people assessed")
    closes_at: datetime


@registry.event
class AssessmentSubmitted(_CampaignEvent):
    """A rater submitted (or revised, or finalised) their assessment of a subject."""

    event_type = "AssessmentSubmitted"

    subject: str
    group: str = Field(description="self, manager, peer or direct_report; never the rater")
    final: bool
    answered: int = Field(ge=0, description="items rated or marked not observed")


@registry.event
class CampaignClosed(_CampaignEvent):
    """Submissions are no longer accepted; the campaign moves on to calibration."""

    event_type = "CampaignClosed"

    submissions: int = Field(ge=0)
    non_responders: int = Field(ge=0, description="assignments without a final submission")
