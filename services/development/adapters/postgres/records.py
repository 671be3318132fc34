"""The development service's tables: what it received (calibrated scores, the catalog,
completions) and what it decided (gaps, plans), written in the transaction of the event that
caused them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import date, datetime
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb

from libs.events.schemas.assessment import CalibrationCompleted
from libs.events.schemas.development import ActionKind, PlannedAction
from libs.events.schemas.lms import Course
from services.development.application.ports import HeldAbout, Scores
from services.development.domain import goals as goal_rules
from services.development.domain import plan_ownership
from services.development.domain.gaps import Gap, stored_gap
from services.development.domain.goals import Goal, GoalState
from services.development.domain.heatmap import GapRow
from services.development.domain.plan_ownership import ActionTrack, day_of
from services.development.domain.plans import DevelopmentPlan

# Rows per round trip when gap rows are streamed: a batch held at a time, not the population.
_BATCH = 5_000
# Rows of a fetched result converted between two turns of the event loop.
_CONVERTED = 10_000
# The reports' population: people (`p`, the org chart replica's `people`, which lives in this
# schema: libs/replicas/org_chart.py) active in a department, or in `%(department)s` when set.
_ACTIVE_IN_DEPARTMENT = (
    "p.hired_on IS NOT NULL AND p.left_on IS NULL AND p.department IS NOT NULL "
    "AND (%(department)s::text IS NULL OR p.department = %(department)s)"
)


# Advisory lock keys of planning (`hold_planning`): arbitrary, the same in every replica.
_PLANNING = 0x7D_0001
_PERSON_PLANNING = 0x7D_0002


class DevelopmentRecords:
    """The `Records` port, read and written through one connection (its transaction)."""

    def __init__(self, conn: AsyncConnection[Any], schema: str) -> None:
        self.conn = conn
        self.schema = schema

    def _t(self, table: str) -> sql.Identifier:
        return sql.Identifier(self.schema, table)

    async def _run(self, query: str, params: Any = None) -> Any:
        names = (
            "calibrations",
            "scores",
            "gaps",
            "plans",
            "courses",
            "completions",
            "goals",
            "people",
        )
        composed = sql.SQL(query).format(**{n: self._t(n) for n in names})
        return await self.conn.execute(composed, params)

    # -- calibrations and scores --------------------------------------------------------

    async def record_calibration(self, event: CalibrationCompleted, at: datetime) -> bool:
        """Record the session and its scores; False when the session was recorded before."""
        cur = await self._run(
            "INSERT INTO {calibrations} VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (event.session_id, event.campaign_id, event.framework_id, event.framework_version, at),
        )
        if cur.rowcount == 0:
            return False
        # Sub-skill scores under their `competency/sub-skill` key, beside the competencies'.
        rows = [
            (event.session_id, s.subject, key, score, at)
            for s in event.scores
            for key, score in (*s.scores.items(), *s.sub_skills.items())
        ]
        async with self.conn.cursor() as cur:
            query = sql.SQL(
                "COPY {} (session_id, employee_id, competency, score, completed_at) FROM STDIN"
            ).format(self._t("scores"))
            async with cur.copy(query) as copy:
                for row in rows:
                    await copy.write_row(row)
        return True

    async def latest_scores(self) -> Scores:
        """Everyone's latest calibrated score per competency: who the experts are."""
        cur = await self._run(
            "SELECT DISTINCT ON (employee_id, competency) employee_id, competency, score "
            "FROM {scores} ORDER BY employee_id, competency, completed_at DESC",
        )
        found: Scores = {}
        # The population's scores (83,660 rows at 10,000 people) are converted a batch at a
        # time, the loop let run between two: all at once, they and the catalog read next
        # held it 141 to 153 ms.
        while rows := await cur.fetchmany(_CONVERTED):
            for employee, competency, score in rows:
                found.setdefault(employee, {})[competency] = score
            await asyncio.sleep(0)
        return found

    async def two_latest_scores(self) -> tuple[Scores, Scores, dict[str, str]]:
        """Per person: the scores of their previous and latest calibration, and the session
        of the previous one (whose gaps were the plan's starting point)."""
        cur = await self._run(
            "SELECT employee_id, competency, score, session_id, rank FROM ("
            "  SELECT s.*, dense_rank() OVER (PARTITION BY employee_id "
            "                                  ORDER BY completed_at DESC) AS rank"
            "  FROM {scores} s) ranked WHERE rank <= 2",
        )
        before: Scores = {}
        after: Scores = {}
        previous: dict[str, str] = {}
        for employee, competency, score, session, rank in await cur.fetchall():
            (after if rank == 1 else before).setdefault(employee, {})[competency] = score
            if rank == 2:
                previous[employee] = session
        return before, {e: after[e] for e in before}, previous

    # -- gaps ---------------------------------------------------------------------------

    async def record_gaps(
        self,
        session_id: str,
        at: datetime,
        found: Iterable[tuple[str, str, Sequence[Gap]]],
    ) -> None:
        """`found`: (employee, role, gaps) per person."""
        async with self.conn.cursor() as cur:
            query = sql.SQL(
                "COPY {} (session_id, employee_id, competency, role, nature, target, current, "
                "completed_at) FROM STDIN"
            ).format(self._t("gaps"))
            async with cur.copy(query) as copy:
                for employee, role, gaps in found:
                    for g in gaps:
                        await copy.write_row(
                            (
                                session_id,
                                employee,
                                g.key,
                                role,
                                g.nature,
                                g.target,
                                g.current,
                                at,
                            )
                        )

    async def latest_gaps(
        self, employees: Sequence[str] | None = None
    ) -> dict[str, tuple[str, str, list[Gap]]]:
        """Per employee: (session, role, gaps) of their latest calibration."""
        cur = await self._run(
            "SELECT employee_id, session_id, role, competency, nature, target, current FROM ("
            "  SELECT g.*, dense_rank() OVER (PARTITION BY employee_id "
            "                                  ORDER BY completed_at DESC) AS rank"
            "  FROM {gaps} g WHERE %(all)s OR employee_id = ANY(%(ids)s)) ranked "
            "WHERE rank = 1 ORDER BY employee_id",
            {"all": employees is None, "ids": list(employees or [])},
        )
        found: dict[str, tuple[str, str, list[Gap]]] = {}
        for employee, session, role, competency, nature, target, current in await cur.fetchall():
            entry = found.setdefault(employee, (session, role, []))
            entry[2].append(stored_gap(competency, nature, target, current))
        return found

    async def gaps_of_sessions(self, sessions: dict[str, str]) -> dict[str, list[Gap]]:
        """Per employee, their gaps in the given session (employee -> session)."""
        cur = await self._run(
            "SELECT employee_id, competency, nature, target, current FROM {gaps} g "
            "JOIN unnest(%s::text[], %s::text[]) AS w(employee_id, session_id) "
            "USING (employee_id, session_id)",
            (list(sessions), list(sessions.values())),
        )
        found: dict[str, list[Gap]] = {}
        for employee, competency, nature, target, current in await cur.fetchall():
            found.setdefault(employee, []).append(stored_gap(competency, nature, target, current))
        return found

    async def latest_session(self, department: str | None) -> str | None:
        # Newest first, stopping at the first session with a gap row of the population.
        cur = await self._run(
            "SELECT c.session_id FROM {calibrations} c WHERE EXISTS ("
            "  SELECT 1 FROM {gaps} g JOIN {people} p USING (employee_id)"
            "  WHERE g.session_id = c.session_id AND " + _ACTIVE_IN_DEPARTMENT + ") "
            "ORDER BY c.completed_at DESC, c.session_id DESC LIMIT 1",
            {"department": department},
        )
        row = await cur.fetchone()
        return None if row is None else row[0]

    async def gap_rows(self, session_id: str, department: str | None) -> AsyncIterator[GapRow]:
        # The org chart joined here: departments come with the rows, not a person at a time.
        # Per competency: a person's sub-skill gaps rolled up into one, their current score
        # the mean of the scored ones (NULL when none is), as domain.gaps.per_competency does.
        query = sql.SQL(
            "SELECT p.department, split_part(g.competency, '/', 1), max(g.target), "
            "avg(g.current) "
            "FROM {gaps} g JOIN {people} p USING (employee_id) "
            "WHERE g.session_id = %(session)s AND " + _ACTIVE_IN_DEPARTMENT + " "
            "GROUP BY g.employee_id, p.department, split_part(g.competency, '/', 1)"
        ).format(gaps=self._t("gaps"), people=self._t("people"))
        # A server-side cursor: PostgreSQL hands the rows over a batch at a time.
        async with self.conn.cursor(name="gap_rows") as cur:
            cur.itersize = _BATCH
            await cur.execute(query, {"session": session_id, "department": department})
            async for department_name, competency, target, current in cur:
                yield GapRow(department_name, competency, target, current)

    async def plan_action_counts(
        self, department: str | None
    ) -> list[tuple[str, ActionKind, int, int, int]]:
        cur = await self._run(
            "WITH latest AS ("
            "  SELECT DISTINCT ON (employee_id) employee_id, actions, tracking, completed_at"
            "  FROM {plans} ORDER BY employee_id, completed_at DESC) "
            "SELECT p.department, a->>'kind', count(DISTINCT l.employee_id), count(*),"
            # Done as the plan tracks it (by the employee, or by the LMS's completion, which
            # closes a course action whichever came first): what the plan's progress counts.
            "       count(*) FILTER (WHERE a->>'action_id' = ANY(d.done)) "
            "FROM latest l JOIN {people} p USING (employee_id) "
            # The plan's done action ids, read from its tracks once rather than per action:
            # a third less time over 10,000 plans of 10 actions.
            "CROSS JOIN LATERAL (SELECT array_agg(t->>'action_id') AS done"
            "  FROM jsonb_array_elements(l.tracking) t WHERE t->>'state' = 'done') d "
            "CROSS JOIN LATERAL jsonb_array_elements(l.actions) a "
            "WHERE " + _ACTIVE_IN_DEPARTMENT + " GROUP BY 1, 2 ORDER BY 1, 2",
            {"department": department},
        )
        return [(d, kind, n, actions, done) for d, kind, n, actions, done in await cur.fetchall()]

    async def goal_state_counts(self, department: str | None) -> list[tuple[str, GoalState, int]]:
        cur = await self._run(
            "SELECT p.department, g.state, count(*) FROM {goals} g "
            "JOIN {people} p USING (employee_id) "
            "WHERE " + _ACTIVE_IN_DEPARTMENT + " GROUP BY 1, 2 ORDER BY 1, 2",
            {"department": department},
        )
        return [(d, state, goals) for d, state, goals in await cur.fetchall()]

    # -- plans --------------------------------------------------------------------------

    async def record_plans(self, plans: Iterable[DevelopmentPlan], at: datetime) -> None:
        async with self.conn.cursor() as cur:
            query = sql.SQL(
                "COPY {} (plan_id, employee_id, session_id, actions, stream_version, "
                "completed_at, target_role) FROM STDIN"
            ).format(self._t("plans"))
            async with cur.copy(query) as copy:
                for plan in plans:
                    actions = Jsonb([a.model_dump(mode="json") for a in plan.actions])
                    await copy.write_row(
                        (
                            plan.plan_id,
                            plan.employee_id,
                            plan.session_id,
                            actions,
                            0,
                            at,
                            plan.target_role,
                        )
                    )

    # -- the catalog and completions --------------------------------------------------------

    async def record_courses(self, courses: Iterable[Course], at: datetime) -> None:
        for course in courses:
            await self._run(
                "INSERT INTO {courses} VALUES (%s, %s, %s) ON CONFLICT (course_id) DO UPDATE "
                "SET course = excluded.course, updated_at = excluded.updated_at "
                "WHERE courses.updated_at <= excluded.updated_at",
                (course.course_id, Jsonb(course.model_dump(mode="json")), at),
            )

    async def catalog(self) -> list[Course]:
        cur = await self._run("SELECT course FROM {courses} ORDER BY course_id")
        return [Course.model_validate(c) for (c,) in await cur.fetchall()]

    async def hold_planning(self, employee_id: str | None) -> None:
        # Transaction-level advisory locks: a calibration's planning takes the service-wide
        # one alone; a person's completion or aimed plan shares it and takes theirs. Two
        # locks whatever the population (PostgreSQL's lock table is small), always in
        # this order.
        if employee_id is None:
            await self._run("SELECT pg_advisory_xact_lock(%s)", (_PLANNING,))
            return
        await self._run("SELECT pg_advisory_xact_lock_shared(%s)", (_PLANNING,))
        await self._run(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_PERSON_PLANNING, employee_id)
        )

    async def record_completion(self, employee_id: str, course_id: str, on: date) -> None:
        # The latest completion of a course is kept: a course retaken for a later plan
        # counts from its new day (completions_since).
        await self._run(
            "INSERT INTO {completions} VALUES (%s, %s, %s) ON CONFLICT (employee_id, course_id) "
            "DO UPDATE SET completed_on = excluded.completed_on "
            "WHERE completions.completed_on < excluded.completed_on",
            (employee_id, course_id, on),
        )

    async def completions(self) -> list[tuple[str, str]]:
        cur = await self._run("SELECT employee_id, course_id FROM {completions}")
        return [(e, c) for e, c in await cur.fetchall()]

    async def completions_since(
        self, employees: Sequence[str], since: date
    ) -> dict[str, dict[str, date]]:
        cur = await self._run(
            "SELECT employee_id, course_id, min(completed_on) FROM {completions} "
            "WHERE employee_id = ANY(%s) AND completed_on >= %s GROUP BY 1, 2",
            (list(employees), since),
        )
        found: dict[str, dict[str, date]] = {}
        for employee, course_id, on in await cur.fetchall():
            found.setdefault(employee, {})[course_id] = on
        return found

    async def plan_day(self, plan_id: str) -> date:
        cur = await self._run("SELECT completed_at FROM {plans} WHERE plan_id = %s", (plan_id,))
        row = await cur.fetchone()
        if row is None:
            raise LookupError(f"plan {plan_id!r} was never recorded")
        return day_of(row[0])

    async def calibration(self, session_id: str) -> tuple[str, int]:
        """(framework id, version) a recorded session was calibrated on."""
        cur = await self._run(
            "SELECT framework_id, framework_version FROM {calibrations} WHERE session_id = %s",
            (session_id,),
        )
        row = await cur.fetchone()
        if row is None:
            raise LookupError(f"calibration session {session_id!r} was never recorded")
        return row[0], row[1]

    async def recorded(self, session_id: str) -> bool:
        """The session's CalibrationCompleted has been processed here (scores, gaps and plans
        are written in its transaction)."""
        cur = await self._run("SELECT 1 FROM {calibrations} WHERE session_id = %s", (session_id,))
        return await cur.fetchone() is not None

    async def session_scores(self, session_id: str) -> Scores:
        """Everyone's calibrated scores in one session, per person and competency."""
        cur = await self._run(
            "SELECT employee_id, competency, score FROM {scores} WHERE session_id = %s",
            (session_id,),
        )
        found: Scores = {}
        for employee, competency, score in await cur.fetchall():
            found.setdefault(employee, {})[competency] = score
        return found

    async def session_gaps(self, session_id: str) -> dict[str, list[Gap]]:
        """Per employee, their gaps as one session's calibration left them."""
        cur = await self._run(
            "SELECT employee_id, competency, nature, target, current FROM {gaps} "
            "WHERE session_id = %s",
            (session_id,),
        )
        found: dict[str, list[Gap]] = {}
        for employee, competency, nature, target, current in await cur.fetchall():
            found.setdefault(employee, []).append(stored_gap(competency, nature, target, current))
        return found

    async def plan_count(self, session_id: str) -> int:
        """How many plans one session's calibration generated."""
        cur = await self._run("SELECT count(*) FROM {plans} WHERE session_id = %s", (session_id,))
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def scores_of(self, session_id: str, employee_id: str) -> dict[str, float | None]:
        cur = await self._run(
            "SELECT competency, score FROM {scores} WHERE session_id = %s AND employee_id = %s",
            (session_id, employee_id),
        )
        return dict(await cur.fetchall())

    async def plan_state(
        self, employee_id: str, *, for_edit: bool = False
    ) -> tuple[str, str, list[PlannedAction], int] | None:
        """(plan id, session, actions, edit stream version) of the employee's latest plan;
        `for_edit`: the row locked until the transaction ends (erase_plan_text locks it too)."""
        cur = await self._run(
            "SELECT plan_id, session_id, actions, stream_version FROM {plans} "
            "WHERE employee_id = %s ORDER BY completed_at DESC LIMIT 1"
            + (" FOR UPDATE" if for_edit else ""),
            (employee_id,),
        )
        row = await cur.fetchone()
        if row is None:
            return None
        plan_id, session, actions, version = row
        return plan_id, session, [PlannedAction.model_validate(a) for a in actions], version

    async def update_plan(
        self,
        plan_id: str,
        actions: Sequence[PlannedAction],
        stream_version: int,
    ) -> None:
        await self._run(
            "UPDATE {plans} SET actions = %s, stream_version = %s WHERE plan_id = %s",
            (Jsonb([a.model_dump(mode="json") for a in actions]), stream_version, plan_id),
        )

    async def plan_tracking(self, plan_id: str) -> dict[str, ActionTrack]:
        cur = await self._run("SELECT tracking FROM {plans} WHERE plan_id = %s", (plan_id,))
        row = await cur.fetchone()
        return _tracks(row[0] if row else [])

    async def mentor_loads(self, excluding: str) -> dict[str, int]:
        cur = await self._run(
            "WITH latest AS ("
            "  SELECT DISTINCT ON (employee_id) employee_id, actions FROM {plans}"
            "  ORDER BY employee_id, completed_at DESC) "
            "SELECT a->>'mentor', count(*) FROM latest l, jsonb_array_elements(l.actions) a "
            "WHERE l.employee_id <> %s AND a->>'kind' = 'mentoring' AND a->>'mentor' IS NOT NULL "
            "GROUP BY 1",
            (excluding,),
        )
        return {mentor: n for mentor, n in await cur.fetchall()}

    async def plan_target(self, plan_id: str) -> str | None:
        cur = await self._run("SELECT target_role FROM {plans} WHERE plan_id = %s", (plan_id,))
        row = await cur.fetchone()
        return row[0] if row else None

    async def save_tracking(self, plan_id: str, tracks: Iterable[ActionTrack]) -> None:
        await self._run(
            "UPDATE {plans} SET tracking = %s WHERE plan_id = %s",
            (Jsonb([t.model_dump(mode="json") for t in tracks]), plan_id),
        )

    async def latest_plans(
        self, employees: Sequence[str]
    ) -> dict[str, tuple[str, list[PlannedAction], dict[str, ActionTrack]]]:
        cur = await self._run(
            "SELECT DISTINCT ON (employee_id) employee_id, plan_id, actions, tracking "
            "FROM {plans} WHERE employee_id = ANY(%s) ORDER BY employee_id, completed_at DESC",
            (list(employees),),
        )
        return {
            employee: (plan_id, [PlannedAction.model_validate(a) for a in actions], _tracks(t))
            for employee, plan_id, actions, t in await cur.fetchall()
        }

    # -- requests about a person (docs/privacy.md, Requests) -------------------------------

    async def held_about(self, employee_id: str) -> HeldAbout:
        async def rows(query: str) -> list[dict[str, Any]]:
            cur = await self._run(query, {"employee": employee_id})
            names = [column.name for column in cur.description]
            return [_plain(dict(zip(names, row, strict=True))) for row in await cur.fetchall()]

        return HeldAbout(
            scores=await rows(
                "SELECT session_id, competency, score, completed_at FROM {scores} "
                "WHERE employee_id = %(employee)s ORDER BY completed_at, competency"
            ),
            gaps=await rows(
                "SELECT session_id, role, competency, target, current, completed_at "
                "FROM {gaps} WHERE employee_id = %(employee)s ORDER BY completed_at, competency"
            ),
            plans=await rows(
                "SELECT plan_id, session_id, target_role, actions, tracking, completed_at "
                "FROM {plans} "
                "WHERE employee_id = %(employee)s ORDER BY completed_at"
            ),
            completions=await rows(
                "SELECT course_id, completed_on FROM {completions} "
                "WHERE employee_id = %(employee)s ORDER BY completed_on, course_id"
            ),
            mentoring=await rows(
                "SELECT p.plan_id, a->>'action_id' AS action_id, a->>'competency' AS competency "
                "FROM {plans} p, jsonb_array_elements(p.actions) a "
                # The plans naming them, by containment (development_0002's index).
                "WHERE p.actions @> jsonb_build_array(jsonb_build_object('mentor', "
                "%(employee)s::text)) AND a->>'mentor' = %(employee)s "
                "ORDER BY p.completed_at, p.plan_id"
            ),
            goals=[goal.model_dump(mode="json") for goal in await self.goals_of(employee_id)],
        )

    async def erase_plan_text(self, employee_id: str, erased: str) -> int:
        # The plans are locked before they are read: an edit in progress (plan_state
        # for_edit) is waited for and its actions scrubbed too, and an edit that comes
        # after waits for this transaction and reads the plans scrubbed.
        cur = await self._run(
            "WITH locked AS ("
            "  SELECT plan_id, actions FROM {plans} WHERE employee_id = %(employee)s FOR UPDATE),"
            " scrubbed AS ("
            "  SELECT p.plan_id,"
            "         jsonb_agg(jsonb_set(a, '{{description}}', to_jsonb(%(erased)s::text)) "
            "                   ORDER BY n) AS actions,"
            "         count(*) FILTER (WHERE a->>'description' IS DISTINCT FROM %(erased)s) "
            "           AS replaced"
            "  FROM locked p, jsonb_array_elements(p.actions) WITH ORDINALITY AS x(a, n)"
            "  GROUP BY p.plan_id) "
            "UPDATE {plans} p SET actions = s.actions FROM scrubbed s "
            "WHERE p.plan_id = s.plan_id AND s.replaced > 0 RETURNING s.replaced",
            {"employee": employee_id, "erased": erased},
        )
        replaced = sum(n for (n,) in await cur.fetchall())
        # The tracks' texts (proposals, decisions, evidence, comments): the rows are locked
        # by the statement above.
        cur = await self._run(
            "SELECT plan_id, tracking FROM {plans} WHERE employee_id = %s ORDER BY plan_id",
            (employee_id,),
        )
        for plan_id, tracking in await cur.fetchall():
            tracks, count = plan_ownership.scrub(_tracks(tracking), erased)
            if count:
                replaced += count
                await self.save_tracking(plan_id, tracks.values())
        return replaced

    # -- goals --------------------------------------------------------------------------

    async def goal(self, goal_id: str, *, for_edit: bool = False) -> tuple[Goal, int] | None:
        cur = await self._run(
            "SELECT goal, stream_version FROM {goals} WHERE goal_id = %s"
            + (" FOR UPDATE" if for_edit else ""),
            (goal_id,),
        )
        row = await cur.fetchone()
        return None if row is None else (Goal.model_validate(row[0]), row[1])

    async def save_goal(self, goal: Goal, stream_version: int) -> None:
        await self._run(
            "INSERT INTO {goals} VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (goal_id) DO "
            "UPDATE SET state = excluded.state, goal = excluded.goal, "
            "stream_version = excluded.stream_version",
            (
                goal.goal_id,
                goal.employee_id,
                goal.state,
                goal.due,
                Jsonb(goal.model_dump(mode="json")),
                stream_version,
            ),
        )

    async def goals_of(self, employee_id: str) -> list[Goal]:
        cur = await self._run(
            "SELECT goal FROM {goals} WHERE employee_id = %s ORDER BY due, goal_id",
            (employee_id,),
        )
        return [Goal.model_validate(g) for (g,) in await cur.fetchall()]

    async def goals_in_force(self, employees: Sequence[str]) -> list[tuple[Goal, int]]:
        cur = await self._run(
            "SELECT goal, stream_version FROM {goals} WHERE employee_id = ANY(%s) "
            "AND state = ANY(%s) ORDER BY goal_id FOR UPDATE",
            (list(employees), sorted(goal_rules.IN_FORCE)),
        )
        return [(Goal.model_validate(g), v) for g, v in await cur.fetchall()]

    async def erase_goal_text(self, employee_id: str, erased: str) -> int:
        # Locked before read, as erase_plan_text: a change in progress is waited for.
        cur = await self._run(
            "SELECT goal FROM {goals} WHERE employee_id = %s ORDER BY goal_id FOR UPDATE",
            (employee_id,),
        )
        replaced = 0
        for (document,) in await cur.fetchall():
            goal, count = goal_rules.scrub(Goal.model_validate(document), erased)
            if count:
                replaced += count
                await self._run(
                    "UPDATE {goals} SET goal = %s WHERE goal_id = %s",
                    (Jsonb(goal.model_dump(mode="json")), goal.goal_id),
                )
        return replaced


def _tracks(tracking: list[Any]) -> dict[str, ActionTrack]:
    found = (ActionTrack.model_validate(t) for t in tracking)
    return {t.action_id: t for t in found}


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A row as plain JSON: dates as ISO text."""
    return {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in row.items()}
