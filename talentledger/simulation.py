"""People acting in a review cycle, through the services' real HTTP APIs: employees nominate
peers and rate, managers approve peers, nominate and endorse promotions and acknowledge gaps,
HR calibrates and confirms, a promotion committee decides. Between cycles employees work on
their development (docs/development.md): they propose goals their managers agree and check
in on them, propose actions for their plans their managers approve, and mark actions started
or done; the LMS reports a course completed.

The demo runs one cycle with it; the end-to-end tests run it on a time-skipping Temporal
server. Every call carries the acting person's own token, so every event names its actor.
Behaviour is seeded: the same organisation and seed give the same ratings.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from libs.events.schemas.assessment import competency_of
from libs.platform.auth import TokenMinter
from libs.platform.pagination import every_item_async
from talentledger.samples.organisation import Employee

HR = "demo-hr"
COMMITTEE = "demo-promotion-committee"
PEERS = 3
# Raters who rate everyone a point high or low: what calibration is there to find.
LENIENT_SHARE, SEVERE_SHARE = 0.08, 0.04
NOT_OBSERVED = 0.04
# How often a person tries again a request answered 503 (about 30 s in all).
UNAVAILABLE_TRIES = 10
COMMENTS = (
    "Clear examples from the last quarter.",
    "Would like to see this more often in planning.",
    "Consistently strong here; others ask for their help.",
    "Growing quickly; still needs support on harder cases.",
)

Advance = Callable[[int], None]
# The LMS reporting that an employee completed a course: (employee id, course id).
Completes = Callable[[str, str], Awaitable[None]]
# How long the people wait for the LMS's completion to reach the plan.
COMPLETION_WAIT = 60.0


class SimulationFailed(RuntimeError):
    """A call the simulated people made was refused: the message says which and why."""


@dataclass
class Urls:
    assessment: str
    development: str
    promotion: str
    cycles: str


@dataclass
class Ratings:
    nominations: int = 0
    submissions: int = 0
    answers: int = 0


@dataclass
class Calibration:
    session_id: str
    subjects: int
    adjustments: int
    lenient_or_severe: int
    outliers: int
    averages: dict[str, float] = field(default_factory=dict)


def competency_average(scores: list[dict[str, Any]]) -> float | None:
    """A subject's average over competencies from their calibrated scores (None when none is
    scored): each competency's sub-skills averaged first, so that a competency assessed per
    sub-skill weighs as much as one assessed whole (docs/domain.md §4, Roll-up)."""
    by_competency: dict[str, list[float]] = {}
    for score in scores:
        if score["calibrated"] is not None:
            by_competency.setdefault(competency_of(score["competency"]), []).append(
                score["calibrated"]
            )
    if not by_competency:
        return None
    means = [sum(values) / len(values) for values in by_competency.values()]
    return sum(means) / len(means)


@dataclass(frozen=True)
class SetGoal:
    """A goal an employee proposed and their manager agreed: each target key (a competency)
    at a level, the role profile's target there."""

    goal_id: str
    employee_id: str
    levels: dict[str, int]


@dataclass
class PlanWork:
    """What an employee did with their plan: the actions in force before, the action they
    proposed and their manager approved, the ones they marked started and done, and the
    course action the LMS's completion closed."""

    plan_id: str
    actions_before: int
    approved: str | None = None
    started: str | None = None
    done: str | None = None
    completed: tuple[str, str] | None = None  # (action id, course id)

    @property
    def expected_done(self) -> int:
        return (self.done is not None) + (self.completed is not None)

    @property
    def expected_total(self) -> int:
        return self.actions_before + (self.approved is not None)


@dataclass
class Journey:
    """The employees' development between one calibration and the next."""

    framework_version: int
    goals: list[SetGoal] = field(default_factory=list)
    check_ins: int = 0
    plans: dict[str, PlanWork] = field(default_factory=dict)


class Simulation:
    def __init__(
        self,
        urls: Urls,
        minter: TokenMinter,
        people: Sequence[Employee],
        *,
        seed: int = 11,
        concurrency: int = 8,
    ) -> None:
        self.urls = urls
        self.minter = minter
        self.people = {p.employee_id: p for p in people}
        self.rng = random.Random(seed)
        self.gate = asyncio.Semaphore(concurrency)
        self.client = httpx.AsyncClient(timeout=60)
        self._tokens: dict[tuple[str, tuple[str, ...]], dict[str, str]] = {}
        # Teams and departments indexed once, in the people's order: looking them up by
        # scanning everyone made choosing peers quadratic in the head count.
        self._teams: dict[str, list[str]] = {}
        self._departments: dict[str, list[str]] = {}
        for p in people:
            self._teams.setdefault(p.manager_id, []).append(p.employee_id)
            self._departments.setdefault(p.department, []).append(p.employee_id)
        self._peers: dict[str, list[str]] = {}
        # Each person's true level per competency, relative to their target, and each
        # rater's leniency: the ratings scatter around these.
        self.level = {p: self.rng.gauss(-0.4, 0.8) for p in self.people}
        self.leniency = {p: self._leniency() for p in self.people}

    async def close(self) -> None:
        await self.client.aclose()

    def _leniency(self) -> int:
        draw = self.rng.random()
        return 1 if draw < LENIENT_SHARE else -1 if draw < LENIENT_SHARE + SEVERE_SHARE else 0

    def as_(self, subject: str, *roles: str) -> dict[str, str]:
        key = (subject, roles)
        if key not in self._tokens:
            token = self.minter.mint(subject, list(roles or ("employee",)))
            self._tokens[key] = {"Authorization": f"Bearer {token}"}
        return self._tokens[key]

    async def call(
        self,
        method: str,
        url: str,
        who: dict[str, str],
        ok: Iterable[int] = (200, 201, 202),
        **kw: Any,
    ) -> Any:
        for attempt in range(1, UNAVAILABLE_TRIES + 1):
            async with self.gate:
                response = await self.client.request(method, url, headers=who, **kw)
            # 503 says "retry shortly" (a cycle whose worker is restarting): people do.
            if response.status_code != 503 or attempt == UNAVAILABLE_TRIES:
                break
            await asyncio.sleep(0.5 * attempt)
        if response.status_code not in ok:
            raise SimulationFailed(f"{method} {url}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    async def _all(self, calls: Iterable[Awaitable[Any]], advance: Advance) -> list[Any]:
        async def one(call: Awaitable[Any]) -> Any:
            result = await call
            advance(1)
            return result

        return list(await asyncio.gather(*(one(c) for c in calls)))

    # -- the campaign --------------------------------------------------------------------

    def peers_of(self, subject: str) -> list[str]:
        """Colleagues under the same manager first, then others in the department."""
        if subject in self._peers:  # seeded by the subject: the same answer every time
            return list(self._peers[subject])
        me = self.people[subject]
        same_team = [p for p in self._teams[me.manager_id] if p != subject]
        teammates = set(same_team)
        department = [
            p
            for p in self._departments[me.department]
            if p not in teammates
            and p not in (subject, me.manager_id)
            and self.people[p].manager_id != subject  # their reports rate them as reports already
        ]
        rng = random.Random(f"{subject}-peers")
        rng.shuffle(same_team)
        rng.shuffle(department)
        self._peers[subject] = (same_team + department)[:PEERS]
        return list(self._peers[subject])

    def peer_pairs(self) -> list[tuple[str, str]]:
        """(subject, peer): whom each person nominates."""
        return [
            (s, peer)
            for s, person in self.people.items()
            if person.manager_id  # nobody approves peers for the top of the chart
            for peer in self.peers_of(s)
        ]

    async def nominate_peers(self, campaign_id: str, advance: Advance) -> int:
        """Each person nominates three peers; their manager approves them."""
        base = f"{self.urls.assessment}/campaigns/{campaign_id}/nominations"
        pairs = self.peer_pairs()

        async def nominate(subject: str, peer: str) -> None:
            body = {"subject": subject, "peer": peer}
            await self.call("POST", base, self.as_(subject), json=body)
            manager = self.people[subject].manager_id
            await self.call(
                "POST",
                f"{base}/{subject}/{peer}",
                self.as_(manager, "manager"),
                json={"approve": True},
            )

        await self._all((nominate(s, p) for s, p in pairs), advance)
        return len(pairs)

    def _answer(
        self, rater: str, subject: str, item: dict[str, Any], scale: list[int]
    ) -> dict[str, Any]:
        if self.rng.random() < NOT_OBSERVED:
            return {"item": item["id"], "value": None}
        target = item.get("target") or (scale[0] + scale[-1]) / 2
        value = target + self.level[subject] + self.leniency[rater] + self.rng.gauss(0, 0.5)
        answer: dict[str, Any] = {
            "item": item["id"],
            "value": min(scale[-1], max(scale[0], round(value))),
        }
        if self.rng.random() < 0.1:
            answer["comment"] = self.rng.choice(COMMENTS)
        return answer

    def responders(self, share: float = 1.0) -> list[str]:
        """The given share of the people, who will answer; the rest stay non-responders."""
        return [p for p in self.people if random.Random(f"{p}-responds").random() < share]

    async def rate(self, campaign_id: str, raters: Iterable[str], advance: Advance) -> Ratings:
        """Each rater submits a final answer to everything assigned to them."""
        base = f"{self.urls.assessment}/campaigns/{campaign_id}"
        ratings = Ratings()

        async def rater(rater_id: str) -> None:
            who = self.as_(rater_id)
            mine = f"{base}/assignments/mine"
            assignments = await every_item_async(
                lambda params: self.call("GET", mine, who, params=params)
            )
            for assignment in assignments:
                subject = assignment["subject"]
                questionnaire = await self.call("GET", f"{base}/questionnaires/{subject}", who)
                scale = questionnaire["scale"]
                answers = [
                    self._answer(rater_id, subject, i, scale) for i in questionnaire["items"]
                ]
                body = {"answers": answers, "final": True}
                await self.call("PUT", f"{base}/submissions/{subject}", who, json=body)
                ratings.submissions += 1
                ratings.answers += len(answers)

        await self._all((rater(r) for r in raters), advance)
        return ratings

    # -- calibration ---------------------------------------------------------------------

    async def calibrate(self, session_id: str, max_adjustments: int = 5) -> Calibration:
        """HR reviews the session, pulls the most extreme outliers a step towards the
        population, each with a justification, and completes it."""
        hr = self.as_(HR, "hr_admin")
        url = f"{self.urls.assessment}/calibrations/{session_id}"

        async def every(route: str) -> list[Any]:
            return await every_item_async(
                lambda params: self.call("GET", f"{url}/{route}", hr, params=params)
            )

        outliers = sorted(await every("outliers"), key=lambda o: -abs(o["z_score"]))
        offsets = await every("rater-offsets")
        adjusted = 0
        for outlier in outliers[:max_adjustments]:
            subject = await self.call(
                "GET", f"{url}/scores", hr, params={"subject": outlier["subject"]}
            )
            current = next(
                (
                    s
                    for reviewed in subject["items"]
                    for s in reviewed["scores"]
                    if s["competency"] == outlier["competency"]
                ),
                None,
            )
            if current is None or current["calibrated"] is None:
                continue
            step = -1 if outlier["z_score"] > 0 else 1
            new = min(5.0, max(0.0, round(current["calibrated"]) + step))
            if new == current["calibrated"]:
                continue
            await self.call(
                "POST",
                f"{url}/adjustments",
                hr,
                json={
                    "subject": outlier["subject"],
                    "competency": outlier["competency"],
                    "new_value": new,
                    "justification": "Panel compared the evidence with peers at the same "
                    "level; the anchors support the adjusted score.",
                    "seen_value": current["calibrated"],
                },
            )
            adjusted += 1
        completed = await self.call("POST", f"{url}/complete", hr)
        # The final scores, a page of subjects at a time.
        averages: dict[str, float] = {}
        for reviewed in await every("scores"):
            average = competency_average(reviewed["scores"])
            if average is not None:
                averages[reviewed["subject"]] = average
        return Calibration(
            session_id=session_id,
            subjects=completed["subjects"],
            adjustments=adjusted,
            lenient_or_severe=sum(1 for r in offsets if r["tendency"] in ("lenient", "severe")),
            outliers=len(outliers),
            averages=averages,
        )

    # -- promotions ----------------------------------------------------------------------

    async def nominate_promotions(
        self,
        cycle_id: str,
        session_id: str,
        averages: dict[str, float],
        limit: int = 8,
        *,
        track: str = "ic",
    ) -> list[str]:
        """Managers nominate their strongest people of `track` (individual contributors
        unless told) below the top level; the manager endorses, HR records the calibration
        session's confirmation."""
        candidates = sorted(
            (
                p
                for p in self.people.values()
                if p.track == track and p.manager_id and p.employee_id in averages
            ),
            key=lambda p: -averages[p.employee_id],
        )
        cases: list[str] = []
        base = f"{self.urls.promotion}/cases"
        since = (date.today() - timedelta(days=200)).isoformat()
        for person in candidates:
            if len(cases) == limit:
                break
            manager = self.as_(person.manager_id, "manager")
            body = {
                "employee_id": person.employee_id,
                "cycle_id": cycle_id,
                "operating_since": since,
            }
            async with self.gate:
                response = await self.client.post(base, headers=manager, json=body)
            if response.status_code in (409, 422):
                continue  # at the top of their track, or already nominated: not a candidate
            if response.status_code != 201:
                raise SimulationFailed(f"POST {base}: {response.status_code} {response.text}")
            case = response.json()["case_id"]
            note = {"note": "Operating at the next level for two quarters."}
            await self.call("POST", f"{base}/{case}/endorsement", manager, json=note)
            confirmation = {"session_id": session_id, "confirmed": True, "note": "Panel agreed."}
            await self.call(
                "POST", f"{base}/{case}/confirmation", self.as_(HR, "hr_admin"), json=confirmation
            )
            cases.append(case)
        return cases

    async def decide(self, cases: Iterable[str]) -> Counter[str]:
        """The committee approves the ready and defers the others, saying why."""
        committee = self.as_(COMMITTEE, "promotion_committee")
        outcomes: Counter[str] = Counter()
        for case in cases:
            url = f"{self.urls.promotion}/cases/{case}"
            view = await self.call("GET", url, committee)
            if view["ready"]:
                body = {
                    "outcome": "approve",
                    "rationale": "Every criterion is met: calibrated average and floor, time at "
                    "the next level, endorsement and the panel's confirmation.",
                }
            else:
                unmet = _unmet(view)
                body = {
                    "outcome": "defer",
                    "rationale": "Not yet: "
                    + (", ".join(unmet) or "readiness not shown")
                    + ". To be revisited next cycle.",
                }
            decided = await self.call("POST", f"{url}/decision", committee, json=body)
            outcomes[decided["outcome"]] += 1
        return outcomes

    # -- the cycle -----------------------------------------------------------------------

    async def acknowledge(self, cycle: str, managers: Iterable[str], share: float) -> int:
        """A share of the managers acknowledge their reports' gaps; the others stay silent.
        Returns how many acknowledgements the cycle took: one that arrives after the review's
        deadline is refused with 409 (the cycle has moved on) and counts as silence."""
        url = f"{self.urls.cycles}/cycles/{cycle}/gap-review/acknowledgements"
        chosen = [m for m in sorted(managers) if self.rng.random() < share]
        taken = 0
        for manager in chosen:
            answer = await self.call(
                "POST", url, self.as_(manager, "manager"), ok=(202, 409), json={}
            )
            taken += "still_waiting_on" in answer
        return taken

    # -- development between cycles (docs/development.md) ----------------------------------

    async def develop(
        self, framework_id: str, completes: Completes | None, people: int = 2
    ) -> Journey:
        """After a calibration: the `people` strongest and weakest (by their true level)
        propose a goal due today, which their manager agrees and they check in on; as many
        others propose an action for their plan, which their manager approves, and mark it
        started and another action done; one more completes a course of their plan in the
        LMS (when `completes` reports it), and waits to see the course action closed."""
        journey = Journey(await self._framework_version(framework_id))
        ranked = sorted(
            (p for p in self.people.values() if p.manager_id),
            key=lambda p: (self.level[p.employee_id], p.employee_id),
        )
        goal_setters = [p.employee_id for p in ranked[-people:]] + [
            p.employee_id for p in ranked[:people]
        ]
        for employee in goal_setters:
            journey.goals.append(await self._set_goal(employee, framework_id, journey))
            journey.check_ins += 1
        planned = [
            employee
            for employee in sorted(self.people)
            if employee not in goal_setters and self.people[employee].manager_id
        ]
        for employee in planned:
            if len(journey.plans) == people:
                break
            if (plan := await self._plan_of(employee)) is not None:
                journey.plans[employee] = await self._work_on(employee, plan)
        if completes is not None:
            for employee in planned:
                if employee in journey.plans:
                    continue
                plan = await self._plan_of(employee) or {"actions": []}
                course = next((a for a in plan["actions"] if a["kind"] == "course"), None)
                if course is not None:
                    journey.plans[employee] = await self._complete(
                        employee, plan, course, completes
                    )
                    break
        return journey

    async def _framework_version(self, framework_id: str) -> int:
        """The latest version of the framework the development service holds."""
        url = f"{self.urls.development}/framework-versions"
        hr = self.as_(HR, "hr_admin")
        held = await every_item_async(lambda params: self.call("GET", url, hr, params=params))
        return max(v["version"] for v in held if v["framework_id"] == framework_id)

    async def _set_goal(self, employee: str, framework_id: str, journey: Journey) -> SetGoal:
        """The role's target on the competencies the person is furthest below (observed, and
        short of the scale's top): one for the strong, two for the weak, who have more to
        close."""
        strong = self.level[employee] > 0
        gaps = await self.call(
            "GET", f"{self.urls.development}/gaps/{employee}", self.as_(employee)
        )
        observed = sorted(
            (g for g in gaps["gaps"] if g["current"] is not None and 1 <= g["target"] <= 4),
            key=lambda g: (-(g["target"] - g["current"]), g["competency"]),
        )
        chosen = observed[: 1 if strong else 2]
        targets = {g["competency"]: g["target"] for g in chosen}
        body = {
            "employee_id": employee,
            "title": "Reach my role's level in " + ", ".join(sorted(targets)),
            "due": datetime.now(UTC).date().isoformat(),
            "framework_id": framework_id,
            "framework_version": journey.framework_version,
            "targets": [{"key": k, "level": v} for k, v in sorted(targets.items())],
        }
        who = self.as_(employee)
        proposed = await self.call("POST", f"{self.urls.development}/goals", who, json=body)
        url = f"{self.urls.development}/goals/{proposed['goal_id']}"
        manager = self.as_(self.people[employee].manager_id, "manager")
        await self.call("POST", f"{url}/agreement", manager, json={"agreed": True})
        check_in = {
            "note": "Practising on this quarter's projects.",
            "evidence": "Led two design reviews.",
            "estimates": dict.fromkeys(targets, max(targets.values()) - 1),
        }
        await self.call("POST", f"{url}/check-ins", who, json=check_in)
        return SetGoal(proposed["goal_id"], employee, targets)

    async def _plan_of(self, employee: str) -> dict[str, Any] | None:
        url = f"{self.urls.development}/plans/{employee}"
        plan: dict[str, Any] = await self.call("GET", url, self.as_(employee), ok=(200, 404))
        return plan if "plan_id" in plan else None

    async def _work_on(self, employee: str, plan: dict[str, Any]) -> PlanWork:
        """The employee proposes a stretch assignment on their first action's competency;
        their manager approves it; they start it and finish one of the generated actions."""
        work = PlanWork(plan["plan_id"], len(plan["actions"]))
        base = f"{self.urls.development}/plans/{employee}/actions"
        who, manager = self.as_(employee), self.as_(self.people[employee].manager_id, "manager")
        proposal = {
            "kind": "on_the_job",
            "competency": plan["actions"][0]["competency"],
            "description": "Take the lead on the next incident review.",
        }
        proposed = await self.call("POST", base, who, json=proposal)
        [action] = [
            t["action_id"]
            for t in proposed["statuses"]
            if t["state"] == "proposed" and t["proposed_by"] == employee
        ]
        decision = {"approved": True, "comment": "Good stretch; pair with the on-call lead."}
        await self.call("POST", f"{base}/{action}/decision", manager, json=decision)
        await self.call("POST", f"{base}/{action}/progress", who, json={"status": "started"})
        work.approved = work.started = action
        finished = next(a for a in plan["actions"] if a["kind"] != "course")["action_id"]
        done = {"status": "done", "evidence": "Shipped it; the review notes are in the wiki."}
        await self.call("POST", f"{base}/{finished}/progress", who, json=done)
        work.done = finished
        return work

    async def _complete(
        self,
        employee: str,
        plan: dict[str, Any],
        course: dict[str, Any],
        completes: Completes,
    ) -> PlanWork:
        """The LMS reports the course completed; the employee waits to see it on the plan."""
        await completes(employee, course["course_id"])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + COMPLETION_WAIT
        while not _done(await self._plan_of(employee) or {}, course["action_id"]):
            if loop.time() > deadline:
                raise SimulationFailed(
                    f"{employee}'s completion of {course['course_id']} did not reach their "
                    f"plan within {COMPLETION_WAIT:.0f}s"
                )
            await asyncio.sleep(0.25)
        return PlanWork(
            plan["plan_id"],
            len(plan["actions"]),
            completed=(course["action_id"], course["course_id"]),
        )


def _done(plan: dict[str, Any], action_id: str) -> bool:
    return any(
        t["action_id"] == action_id and t["state"] == "done" for t in plan.get("statuses", ())
    )


def _unmet(view: dict[str, Any]) -> list[str]:
    for entry in reversed(view["entries"]):
        readiness = entry["payload"].get("readiness")
        if readiness:
            return [r["name"] for r in readiness["results"] if not r["met"]]
    return []
