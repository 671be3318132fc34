"""A review cycle driven on a running stack the way people drive it: HR starts and steers it
through the cycles API, the simulated people (talentledger/simulation.py) act in each stage,
and the driver waits for the workflow to move on. The demo, the cycle benchmark and the
end-to-end tests all drive their cycles with it (docs/cycles.md).

A wait is bounded by progress, not by a total: it fails once the cycle's status has not
changed for `stall` seconds, so a large population that keeps the cycle busy is waited on,
and a stuck cycle is reported with where it stood.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from libs.workflows.messages import (
    round_of,
)
from talentledger.simulation import (
    HR,
    Advance,
    Calibration,
    Completes,
    Journey,
    Ratings,
    Simulation,
)

CycleStatus = dict[str, Any]
T = TypeVar("T")
POLL = 0.25
# The statuses of a cycle that may still reach a stage.
LIVE = ("RUNNING", "COMPLETED")


class CycleFailed(RuntimeError):
    """The cycle did not get through: the message says where it stood and why."""


class CycleStalled(CycleFailed):
    """The cycle made no progress for as long as the driver waits."""


@dataclass(frozen=True)
class Phase:
    """A step of a cycle: the people act in it, or they wait on the orchestration alone.
    `counted` labels a phase the people take one step at a time (a progress bar)."""

    name: str
    acting: bool
    counted: str = ""


CAMPAIGN_OPENED = Phase("start → campaign opened", acting=False)
PEERS = Phase("nominate and approve peers", acting=True, counted="peers nominated and approved")
RATING = Phase(
    "rate (assignments, questionnaires, submissions)", acting=True, counted="raters submitting"
)
CLOSED = Phase("close → calibration open", acting=False)
CALIBRATING = Phase("calibrate (HR: review, adjust, complete)", acting=True)
GAPS_FOUND = Phase("calibration completed → gap review", acting=False)
NOMINATING = Phase("nominate promotions (manager, HR)", acting=True)
ACKNOWLEDGING = Phase("acknowledge gaps (managers)", acting=True)
ENDED = Phase("last acknowledgement → completed", acting=False)
DECIDING = Phase("committee decides", acting=True)
DEVELOPING = Phase("goals and plans (employees, managers, LMS)", acting=True)


class Watcher:
    """What a caller follows of a driven cycle; this one follows nothing."""

    def status(self, status: CycleStatus) -> None:
        """Every status the driver reads."""

    def started(self, phase: Phase, total: int | None) -> Advance:
        """A phase begins; the callback counts its steps (of `total`, when it is counted)."""
        return lambda _: None

    def ended(self, phase: Phase) -> None:
        """The phase is over."""


@dataclass(frozen=True)
class Conduct:
    """How the people behave in a cycle."""

    responding: float = 1.0
    acknowledging: float = 1.0
    promotions: int = 8
    track: str = "ic"
    # After the cycle, this many of the strongest and of the weakest set goals, and as many
    # others work on their plans (Simulation.develop); 0: nobody does.
    developing: int = 0


@dataclass(frozen=True)
class Round:
    """What one cycle of the series came to."""

    number: int
    opened: CycleStatus
    peer_nominations: int
    ratings: Ratings
    calibration: Calibration
    cases: list[str]
    managers: list[str]
    acknowledged: int
    ended: CycleStatus
    decisions: Counter[str]
    journey: Journey | None = None


def managers_waited_on(status: CycleStatus) -> list[str]:
    """The managers a gap review waits on, from its `waiting_on`."""
    waiting = status["progress"]["waiting_on"]
    return sorted(w.split()[1] for w in waiting if w.startswith("manager "))


class CycleDriver:
    """Drives one series of cycles; closing it closes the simulation too."""

    def __init__(
        self,
        simulation: Simulation,
        *,
        stall: float,
        watcher: Watcher | None = None,
        completes: Completes | None = None,
    ) -> None:
        """`completes` reports a course completed, as the LMS does; without it the people's
        development has no completion."""
        self.simulation = simulation
        self.completes = completes
        self.stall = stall
        self.watcher = watcher or Watcher()
        # HR's own calls, apart from the people's: they neither queue behind them nor count
        # among them.
        self.http = httpx.AsyncClient(headers=simulation.as_(HR, "hr_admin"), timeout=60)
        self.cycle_id = ""
        self.framework_id = ""
        self.last_number: int | None = None

    async def close(self) -> None:
        await self.http.aclose()
        await self.simulation.close()

    def _url(self, path: str = "") -> str:
        # Read each time: a restarted cycles service may listen elsewhere.
        return f"{self.simulation.urls.cycles}/cycles{path}"

    # -- HR through the cycles API ---------------------------------------------------------

    async def start(
        self,
        framework: dict[str, Any],
        *,
        schedule: dict[str, Any] | None = None,
        last_number: int | None = None,
    ) -> str:
        body: dict[str, Any] = {"framework": framework, "last_number": last_number}
        if schedule is not None:
            body["schedule"] = schedule
        response = await self.http.post(self._url(), json=body)
        if response.status_code != 202:
            raise CycleFailed(f"starting the cycle failed: {response.text}")
        self.cycle_id = response.json()["cycle_id"]
        self.framework_id = framework["framework_id"]
        self.last_number = last_number
        return self.cycle_id

    async def status(self) -> CycleStatus:
        response = await self.http.get(self._url(f"/{self.cycle_id}"))
        if response.status_code != 200:
            raise CycleFailed(f"the cycle's status: {response.status_code} {response.text}")
        status: CycleStatus = response.json()
        self.watcher.status(status)
        return status

    async def control(self, action: str) -> None:
        """pause, resume, close-campaign or start-next-cycle."""
        response = await self.http.post(self._url(f"/{self.cycle_id}/{action}"))
        if response.status_code != 202:
            raise CycleFailed(f"{action} failed: {response.status_code} {response.text}")

    async def at(
        self,
        *stages: str,
        number: int | None = None,
        until: Callable[[CycleStatus], bool] | None = None,
    ) -> CycleStatus:
        """Wait until the cycle is at one of `stages` (in cycle `number`, when given, and
        once `until` holds). Fails when the cycle ends elsewhere, or does not move for
        `stall` seconds."""
        wanted = " or ".join(stages)
        loop = asyncio.get_running_loop()
        seen: CycleStatus | None = None
        since = loop.time()
        while True:
            status = await self.status()
            if status["status"] not in LIVE:
                raise CycleFailed(f"the cycle ended {status['status']}: {status.get('failure')}")
            if _reached(status, stages, number, until):
                return status
            if status["status"] == "COMPLETED":
                raise CycleFailed(f"the cycle completed without reaching {wanted}")
            if status != seen:
                seen, since = status, loop.time()
            elif loop.time() - since > self.stall:
                raise CycleStalled(
                    f"no progress for {self.stall:.0f}s waiting for the cycle to reach "
                    f"{wanted}; it is at stage {status.get('stage')!r}"
                    + (f" ({status['failure']})" if status.get("failure") else "")
                )
            await asyncio.sleep(POLL)

    async def campaign_opened(self, number: int) -> CycleStatus:
        """Wait until cycle `number` has opened its campaign: the stage is entered before
        the campaign is opened, and its head count says it is."""
        return await self.at(
            "campaign open", number=number, until=lambda s: "subjects" in s["progress"]["counts"]
        )

    # -- a whole cycle -----------------------------------------------------------------------

    async def one_cycle(
        self,
        number: int = 1,
        conduct: Conduct = Conduct(),
        close: Callable[[], Awaitable[None]] | None = None,
    ) -> Round:
        """Cycle `number` as people live it: peers nominated and approved, ratings, the
        campaign closed (by HR's signal, or by `close`: the tests let its time run out),
        HR's calibration, promotions nominated, gaps acknowledged, the cycle's end (the
        series' last, or the wait for the next), the committee's decisions and, as
        `conduct` says, the employees' development until the next cycle."""
        people = self.simulation
        campaign = round_of(self.cycle_id, number)
        session = f"{campaign}.calibration"
        last = "completed" if number == self.last_number else "waiting for the next cycle"
        opened = await self._phase(CAMPAIGN_OPENED, lambda _: self.campaign_opened(number))
        nominations = await self._phase(
            PEERS, lambda step: people.nominate_peers(campaign, step), len(people.peer_pairs())
        )
        raters = people.responders(conduct.responding)
        ratings = await self._phase(
            RATING, lambda step: people.rate(campaign, raters, step), len(raters)
        )
        await self._phase(CLOSED, lambda _: self._close(number, close))
        calibration = await self._phase(CALIBRATING, lambda _: people.calibrate(session))
        review = await self._phase(GAPS_FOUND, lambda _: self.at("gap review", number=number))
        cases = await self._phase(
            NOMINATING,
            lambda _: people.nominate_promotions(
                campaign, session, calibration.averages, conduct.promotions, track=conduct.track
            ),
        )
        managers = managers_waited_on(review)
        acknowledged = await self._phase(
            ACKNOWLEDGING,
            lambda _: people.acknowledge(self.cycle_id, managers, conduct.acknowledging),
        )
        ended = await self._phase(ENDED, lambda _: self.at(last, number=number))
        decisions = await self._phase(DECIDING, lambda _: people.decide(cases))
        journey = None
        if conduct.developing:
            journey = await self._phase(
                DEVELOPING,
                lambda _: people.develop(self.framework_id, self.completes, conduct.developing),
            )
        return Round(
            number=number,
            opened=opened,
            peer_nominations=nominations,
            ratings=ratings,
            calibration=calibration,
            cases=cases,
            managers=managers,
            acknowledged=acknowledged,
            ended=ended,
            decisions=decisions,
            journey=journey,
        )

    async def _phase(
        self, phase: Phase, work: Callable[[Advance], Awaitable[T]], total: int | None = None
    ) -> T:
        result = await work(self.watcher.started(phase, total))
        self.watcher.ended(phase)
        return result

    async def _close(self, number: int, close: Callable[[], Awaitable[None]] | None) -> None:
        if close is None:
            await self.control("close-campaign")
        else:
            await close()
        await self.at("calibration", number=number)


def _reached(
    status: CycleStatus,
    stages: tuple[str, ...],
    number: int | None,
    until: Callable[[CycleStatus], bool] | None,
) -> bool:
    if status.get("stage") not in stages:
        return False
    progress = status.get("progress")
    if number is not None and progress and progress["number"] != number:
        return False
    return until is None or until(status)
