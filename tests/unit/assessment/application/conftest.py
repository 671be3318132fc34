"""Each test on its own storage in memory: the sample organisation, framework `eng` v1."""

from __future__ import annotations

import pytest

from services.assessment.application.campaigns import Campaigns
from tests.support.assessment_ports import MemoryStorage, open_spring, storage_with_organisation


@pytest.fixture
def storage() -> MemoryStorage:
    return storage_with_organisation()


@pytest.fixture
def campaigns(storage: MemoryStorage) -> Campaigns:
    return Campaigns(storage)


@pytest.fixture
async def spring(campaigns: Campaigns) -> Campaigns:
    """Campaign `spring` open for ann and cat."""
    await open_spring(campaigns)
    return campaigns
