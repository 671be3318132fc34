"""Each test on its own ports in memory: the sample organisation, framework `eng` v1."""

from __future__ import annotations

import pytest

from services.assessment.application.campaigns import Campaigns
from tests.support.assessment_ports import (
    MemoryAssessment,
    assessment_with_organisation,
    open_spring,
)


@pytest.fixture
def uow() -> MemoryAssessment:
    return assessment_with_organisation()


@pytest.fixture
def campaigns(uow: MemoryAssessment) -> Campaigns:
    return Campaigns(uow.work.events, uow)


@pytest.fixture
async def spring(campaigns: Campaigns) -> Campaigns:
    """Campaign `spring` open for ann and cat."""
    await open_spring(campaigns)
    return campaigns
