"""The erasure workflow's timings against what they must outlast (libs/workflows/contracts.py,
docs/privacy.md, Requests)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from libs.personal.vault import CACHE_SECONDS
from libs.workflows.contracts import (
    HOLDING_PERSONAL_DATA,
    KEY_CACHES_EXPIRE,
    erase_personal_data,
)


def test_the_wait_after_destroying_keys_outlasts_every_process_cache_of_them() -> None:
    assert timedelta(seconds=CACHE_SECONDS) < KEY_CACHES_EXPIRE


@pytest.mark.parametrize("service", HOLDING_PERSONAL_DATA)
def test_an_erasure_declares_no_heartbeat_it_never_sends(service: str) -> None:
    """One transaction reports no progress: a heartbeat timeout would retry an attempt that
    may still commit."""
    contract = erase_personal_data(service)
    assert contract.heartbeat is None
    assert contract.start_to_close >= timedelta(minutes=30)
