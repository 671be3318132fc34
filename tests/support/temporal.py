"""Temporal's time-skipping test server, as the workflow tests start it: timers of days
and weeks pass in seconds (docs/architecture.md §4)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import pytest
from temporalio.client import Interceptor
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from tests.support.stack import ROOT

TEST_SERVER = ROOT / ".venv" / "bin" / "temporal-test-server"


@asynccontextmanager
async def time_skipping(
    data_converter: DataConverter, interceptors: Sequence[Interceptor] = ()
) -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping environment on the server installed with the project; the test is
    skipped where it is not installed."""
    if not TEST_SERVER.exists():
        pytest.skip(f"the time-skipping server is installed with the project: {TEST_SERVER}")
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter,
        interceptors=interceptors,
        test_server_existing_path=str(TEST_SERVER),
    )
    async with env:
        yield env
