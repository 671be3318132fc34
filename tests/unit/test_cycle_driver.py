"""The cycle driver's waits (talentledger/cycle_driver.py): bounded by the cycle's progress,
not by a total, and never mistaking a cycle that ended elsewhere for one still on its way."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from libs.platform.auth import TokenMinter, ensure_dev_keypair
from talentledger import cycle_driver
from talentledger.cycle_driver import CycleDriver, CycleFailed, CycleStalled
from talentledger.simulation import Simulation, Urls

CYCLES = "http://cycles.test"


def running(stage: str, number: int = 1, **counts: int) -> dict[str, Any]:
    progress = {"number": number, "counts": counts, "waiting_on": []}
    return {"cycle_id": "c", "status": "RUNNING", "stage": stage, "progress": progress}


@pytest.fixture(scope="module")
def minter(tmp_path_factory: pytest.TempPathFactory) -> TokenMinter:
    key = ensure_dev_keypair(tmp_path_factory.mktemp("keys"))[0]
    return TokenMinter(key, issuer="talentledger", audience="talentledger")


async def driven(
    minter: TokenMinter, statuses: Iterator[dict[str, Any]], stall: float
) -> CycleDriver:
    """A driver whose every status read answers the next of `statuses` (the last, once
    they run out)."""
    driver = CycleDriver(Simulation(Urls("", "", "", CYCLES), minter, []), stall=stall)
    driver.cycle_id = "c"
    last: dict[str, Any] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal last
        last = next(statuses, last)
        return httpx.Response(200, json=last)

    await driver.http.aclose()
    driver.http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return driver


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cycle_driver, "POLL", 0.01)


async def test_a_cycle_that_keeps_moving_is_waited_on_past_the_stall_allowance(
    minter: TokenMinter,
) -> None:
    # 60 reads 10 ms apart (0.6 s) take longer than the allowance, but each one differs.
    moving = (running("campaign open", outstanding=n) for n in range(60, 0, -1))
    statuses = iter([*moving, running("calibration")])
    driver = await driven(minter, statuses, stall=0.3)
    try:
        reached = await driver.at("calibration", number=1)
    finally:
        await driver.close()
    assert reached["stage"] == "calibration"


async def test_a_cycle_that_does_not_move_fails_with_where_it_stood(minter: TokenMinter) -> None:
    driver = await driven(minter, iter([running("gap review")]), stall=0.2)
    try:
        with pytest.raises(CycleStalled, match="reach completed; it is at stage 'gap review'"):
            await driver.at("completed")
    finally:
        await driver.close()


async def test_a_stage_of_another_cycle_or_before_the_campaign_opened_is_not_reached(
    minter: TokenMinter,
) -> None:
    statuses = iter(
        [
            running("campaign open", number=1, subjects=5),
            running("campaign open", number=2),
            running("campaign open", number=2, subjects=5),
        ]
    )
    driver = await driven(minter, statuses, stall=1)
    try:
        opened = await driver.campaign_opened(2)
    finally:
        await driver.close()
    assert opened["progress"] == {"number": 2, "counts": {"subjects": 5}, "waiting_on": []}


@pytest.mark.parametrize(
    ("ended", "why"),
    [
        ({"cycle_id": "c", "status": "COMPLETED", "stage": "completed"}, "completed without"),
        ({"cycle_id": "c", "status": "FAILED", "failure": "boom"}, "ended FAILED: boom"),
    ],
)
async def test_a_cycle_that_ended_elsewhere_fails_at_once(
    minter: TokenMinter, ended: dict[str, Any], why: str
) -> None:
    driver = await driven(minter, iter([ended]), stall=60)
    try:
        with pytest.raises(CycleFailed, match=why):
            await driver.at("gap review")
    finally:
        await driver.close()
