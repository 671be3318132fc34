"""Activities run outside a worker, as a given attempt scheduled by a given workflow: what
the services' authority checks read (`activity.info()`)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment


def attempt(
    workflow_id: str, number: int = 1, scheduled: datetime | None = None
) -> ActivityEnvironment:
    """An activity context for the `number`-th attempt of an activity first scheduled at
    `scheduled` (default: now), starting now, scheduled by the workflow `workflow_id`."""
    env = ActivityEnvironment()
    now = datetime.now(UTC)
    env.info = dataclasses.replace(
        env.info,
        workflow_id=workflow_id,
        attempt=number,
        scheduled_time=scheduled or now,
        current_attempt_scheduled_time=now,
        started_time=now,
    )
    return env


async def refused(call: Any) -> ApplicationError:
    """The ApplicationError the awaited call raises."""
    with pytest.raises(ApplicationError) as raised:
        await call
    return raised.value
