"""Campaign-wide tables written in the same transaction as the events they follow.

The event log stays the record; these tables answer the questions that span a whole campaign
(every submission, for aggregation and calibration; whom a peer rates) in one query, where
replaying the streams would read one stream per subject.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Sequence
from dataclasses import fields
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb
from pydantic import TypeAdapter

from services.assessment.application.ports import RecordedSubmission
from services.assessment.domain.aggregation import CompetencyResult
from services.assessment.domain.calibration_inputs import SignalKind, Signals
from services.assessment.domain.campaigns import SubmissionRecorded, submission_ratings
from services.assessment.domain.raters import Nomination
from services.assessment.domain.ratings import Rating
from services.assessment.domain.submissions import stored_answer

# Stored as JSON text: pydantic's encoder and parser, not one Python object per field.
_SIGNALS = TypeAdapter(Signals)


class CampaignTables:
    """The statements on one schema's tables, composed once."""

    def __init__(self, schema: str) -> None:
        # Each rendered once: psycopg renders a composed query again on each execution.
        def q(text: str) -> bytes:
            return (
                sql.SQL(text)
                .format(
                    submissions=sql.Identifier(schema, "submissions"),
                    nominations=sql.Identifier(schema, "peer_nominations"),
                    calibrated=sql.Identifier(schema, "calibration_subjects"),
                    frozen=sql.Identifier(schema, "frozen_campaigns"),
                    frozen_assignments=sql.Identifier(schema, "frozen_assignments"),
                    events=sql.Identifier(schema, "events"),
                    items=sql.Identifier(schema, "calibration_items"),
                    signals=sql.Identifier(schema, "calibration_signals"),
                )
                .as_bytes()
            )

        self.record_submission = q(
            "INSERT INTO {submissions} (campaign_id, subject, rater, rater_group, final, "
            "answers, stream_version) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (campaign_id, subject, rater) DO UPDATE SET "
            "rater_group = excluded.rater_group, final = excluded.final, "
            "answers = excluded.answers, stream_version = excluded.stream_version"
        )
        self.record_nomination = q(
            "INSERT INTO {nominations} (campaign_id, subject, peer, state) "
            "VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (campaign_id, subject, peer) DO UPDATE SET state = excluded.state"
        )
        self.submissions = q(
            "SELECT subject, rater, rater_group, answers FROM {submissions} "
            "WHERE campaign_id = %s AND (%s::text[] IS NULL OR subject = ANY(%s))"
        )
        self.finals = q("SELECT subject, rater FROM {submissions} WHERE campaign_id = %s AND final")
        self.claimed = q(
            "SELECT subject, session_id FROM {calibrated} "
            "WHERE campaign_id = %s AND subject = ANY(%s) FOR UPDATE"
        )
        self.claim = q(
            "INSERT INTO {calibrated} (campaign_id, subject, session_id) "
            "SELECT %s, unnest(%s::text[]), %s"
        )
        self.count = q("SELECT count(*) FROM {submissions} WHERE campaign_id = %s")
        self.freeze = q(
            "INSERT INTO {frozen} (campaign_id) VALUES (%s) ON CONFLICT DO NOTHING RETURNING 1"
        )
        self.freeze_assignments = q(
            "INSERT INTO {frozen_assignments} (campaign_id, subject, rater) "
            "SELECT %s, unnest(%s::text[]), unnest(%s::text[])"
        )
        self.is_frozen = q("SELECT 1 FROM {frozen} WHERE campaign_id = %s")
        self.frozen_assignments = q(
            "SELECT subject, rater FROM {frozen_assignments} "
            "WHERE campaign_id = %s AND (%s::text[] IS NULL OR subject = ANY(%s))"
        )
        self.approved = q(
            "SELECT subject, peer FROM {nominations} WHERE campaign_id = %s AND state = 'approved'"
        )
        self.submitted_by = q(
            "SELECT subject, final FROM {submissions} WHERE campaign_id = %s AND rater = %s"
        )
        self.rated_as_peer = q(
            "SELECT subject FROM {nominations} "
            "WHERE campaign_id = %s AND peer = %s AND state = 'approved' ORDER BY subject"
        )
        # About one person (an access or erasure request), each on an index of its own
        # (assessment_0005). Populations and nominations are in the log's payloads in clear:
        # they hold ids only.
        self.campaigns_assessing = q(
            "SELECT payload->>'campaign_id' FROM {events} WHERE event_type = 'CampaignOpened' "
            "AND payload->'population' ? %s ORDER BY global_position"
        )
        self.involving = q(
            "SELECT campaign_id, subject, rater, rater_group, final, answers FROM {submissions} "
            "WHERE rater = %(person)s OR subject = %(person)s ORDER BY campaign_id, subject, rater"
        )
        self.rewrite_answers = q(
            "UPDATE {submissions} SET answers = %s "
            "WHERE campaign_id = %s AND subject = %s AND rater = %s"
        )
        self.nominations_involving = q(
            "SELECT DISTINCT payload->>'campaign_id', payload->>'subject' FROM {events} "
            "WHERE event_type IN ('PeerNominated', 'PeerNominationDecided') AND "
            # The expression assessment_0005 indexes, as it is written there.
            "ARRAY[payload->>'subject', payload->>'peer', payload->>'nominated_by', "
            "payload->>'decided_by'] @> ARRAY[%(person)s::text] ORDER BY 1, 2"
        )
        self.calibrations_of = q(
            "SELECT session_id FROM {calibrated} WHERE subject = %s ORDER BY campaign_id"
        )
        # A repeat (two reviews preparing a session at once) writes the same rows again.
        self.record_items = q(
            "INSERT INTO {items} (session_id, ordinal, subject, competency, sub_skill, "
            "aggregated) SELECT %s, unnest(%s::int[]), unnest(%s::text[]), "
            "unnest(%s::text[]), unnest(%s::text[]), unnest(%s::float8[]) ON CONFLICT DO NOTHING"
        )
        self.items = q(
            "SELECT subject, competency, sub_skill, aggregated FROM {items} "
            "WHERE session_id = %s AND ordinal >= %s ORDER BY ordinal LIMIT %s"
        )
        self.items_of = q(
            "SELECT subject, competency, sub_skill, aggregated FROM {items} "
            "WHERE session_id = %s AND subject = ANY(%s) ORDER BY ordinal"
        )
        self.record_signals = q(
            "INSERT INTO {signals} (session_id, signals) VALUES (%s, %s::jsonb) "
            "ON CONFLICT DO NOTHING"
        )
        # Without the lists not asked for: PostgreSQL drops them, so no megabyte of rater
        # offsets is sent and parsed to read the outliers.
        self.signals = q("SELECT (signals - %s::text[])::text FROM {signals} WHERE session_id = %s")
        # Its key alone: the row's signals column is never read.
        self.prepared = q("SELECT EXISTS (SELECT 1 FROM {signals} WHERE session_id = %s)")


class CampaignRecords:
    """The records on one connection, in its transaction if it has one (the application's
    `CampaignRecords` port)."""

    def __init__(self, tables: CampaignTables, conn: AsyncConnection[Any]) -> None:
        self._tables = tables
        self._conn = conn

    async def claim_for_calibration(
        self, campaign_id: str, session_id: str, subjects: list[str]
    ) -> dict[str, str]:
        """Give the subjects to this session; those another session already has, and which."""
        cur = await self._conn.execute(self._tables.claimed, (campaign_id, subjects))
        taken = {subject: session for subject, session in await cur.fetchall()}
        await self._conn.execute(
            self._tables.claim, (campaign_id, [s for s in subjects if s not in taken], session_id)
        )
        return taken

    async def record_submission(self, recorded: SubmissionRecorded, stream_version: int) -> None:
        s = recorded.submission
        answers = [[a.item, a.value, a.comment, a.not_relevant] for a in s.answers]
        await self._conn.execute(
            self._tables.record_submission,
            (
                s.campaign,
                s.subject,
                s.rater,
                recorded.group,
                s.final,
                Jsonb(answers),
                stream_version,
            ),
        )

    async def record_nomination(self, campaign_id: str, nomination: Nomination) -> None:
        await self._conn.execute(
            self._tables.record_nomination,
            (campaign_id, nomination.subject, nomination.peer, nomination.state),
        )

    async def ratings(
        self,
        campaign_id: str,
        subjects: Iterable[str] | None = None,
    ) -> list[Rating]:
        """Every rating of the campaign's latest submissions, or only of these subjects'."""
        wanted = None if subjects is None else list(subjects)
        cur = await self._conn.execute(self._tables.submissions, (campaign_id, wanted, wanted))
        return [
            rating
            for subject, rater, group, answers in await cur.fetchall()
            for rating in submission_ratings(subject, rater, group, answers)
        ]

    async def freeze_assignments(
        self, campaign_id: str, assignments: Iterable[tuple[str, str]]
    ) -> None:
        """Record who counts for each subject, once: a campaign frozen before keeps its own."""
        cur = await self._conn.execute(self._tables.freeze, (campaign_id,))
        if await cur.fetchone() is None:
            return
        pairs = list(assignments)
        await self._conn.execute(
            self._tables.freeze_assignments,
            (campaign_id, [s for s, _ in pairs], [r for _, r in pairs]),
        )

    async def frozen_assignments(
        self, campaign_id: str, subjects: Iterable[str] | None = None
    ) -> set[tuple[str, str]] | None:
        """(subject, rater) of the assignments frozen at close; None if it never was."""
        cur = await self._conn.execute(self._tables.is_frozen, (campaign_id,))
        if await cur.fetchone() is None:
            return None
        wanted = None if subjects is None else list(subjects)
        cur = await self._conn.execute(
            self._tables.frozen_assignments, (campaign_id, wanted, wanted)
        )
        return {(subject, rater) for subject, rater in await cur.fetchall()}

    async def submission_count(self, campaign_id: str) -> int:
        cur = await self._conn.execute(self._tables.count, (campaign_id,))
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def finalised(self, campaign_id: str) -> set[tuple[str, str]]:
        """(subject, rater) of every final submission."""
        cur = await self._conn.execute(self._tables.finals, (campaign_id,))
        return {(subject, rater) for subject, rater in await cur.fetchall()}

    async def approved_peers(self, campaign_id: str) -> list[Nomination]:
        cur = await self._conn.execute(self._tables.approved, (campaign_id,))
        return [
            Nomination(subject, peer, nominated_by="", state="approved")
            for subject, peer in await cur.fetchall()
        ]

    async def rated_as_peer(self, campaign_id: str, peer: str) -> list[str]:
        """Subjects whose manager approved `peer` to rate them."""
        cur = await self._conn.execute(self._tables.rated_as_peer, (campaign_id, peer))
        return [subject for (subject,) in await cur.fetchall()]

    async def submitted_by(self, campaign_id: str, rater: str) -> dict[str, bool]:
        cur = await self._conn.execute(self._tables.submitted_by, (campaign_id, rater))
        return {subject: final for subject, final in await cur.fetchall()}

    async def campaigns_assessing(self, person: str) -> list[str]:
        cur = await self._conn.execute(self._tables.campaigns_assessing, (person,))
        return [campaign_id for (campaign_id,) in await cur.fetchall()]

    async def submissions_involving(
        self, person: str, *, for_erasure: bool = False
    ) -> list[RecordedSubmission]:
        query = self._tables.involving
        if for_erasure:  # a revision arriving meanwhile waits for the erasure
            query += b" FOR UPDATE"
        cur = await self._conn.execute(query, {"person": person})
        return [
            RecordedSubmission(
                campaign_id,
                subject,
                rater,
                group,
                final,
                [stored_answer(row) for row in answers],
            )
            for campaign_id, subject, rater, group, final, answers in await cur.fetchall()
        ]

    async def rewrite_answers(self, submission: RecordedSubmission) -> None:
        s = submission
        await self._conn.execute(
            self._tables.rewrite_answers,
            (Jsonb([list(a) for a in s.answers]), s.campaign_id, s.subject, s.rater),
        )

    async def nominations_involving(self, person: str) -> list[tuple[str, str]]:
        cur = await self._conn.execute(self._tables.nominations_involving, {"person": person})
        return [(campaign_id, subject) for campaign_id, subject in await cur.fetchall()]

    async def calibrations_of(self, person: str) -> list[str]:
        cur = await self._conn.execute(self._tables.calibrations_of, (person,))
        return [session_id for (session_id,) in await cur.fetchall()]

    async def record_calibration_items(
        self, session_id: str, first: int, items: list[CompetencyResult]
    ) -> None:
        await self._conn.execute(
            self._tables.record_items,
            (
                session_id,
                list(range(first, first + len(items))),
                [i.subject for i in items],
                [i.competency for i in items],
                [i.sub_skill for i in items],
                [i.overall for i in items],
            ),
        )

    async def calibration_items(
        self,
        session_id: str,
        subjects: Sequence[str] | None = None,
        first: int = 0,
        limit: int = 0,
    ) -> list[CompetencyResult]:
        if subjects is None:
            query, params = self._tables.items, (session_id, first, limit or None)
        else:
            query, params = self._tables.items_of, (session_id, list(subjects))
        cur = await self._conn.execute(query, params)
        return [
            CompetencyResult(subject, competency, (), aggregated, sub_skill)
            for subject, competency, sub_skill, aggregated in await cur.fetchall()
        ]

    async def record_calibration_signals(self, session_id: str, signals: Signals) -> None:
        text = await asyncio.to_thread(_SIGNALS.dump_json, signals)
        await self._conn.execute(self._tables.record_signals, (session_id, text.decode()))

    async def calibration_prepared(self, session_id: str) -> bool:
        cur = await self._conn.execute(self._tables.prepared, (session_id,))
        row = await cur.fetchone()
        assert row is not None
        return bool(row[0])

    async def calibration_signals(
        self, session_id: str, kinds: Collection[SignalKind]
    ) -> Signals | None:
        left_out = [f.name for f in fields(Signals) if f.name not in kinds]
        cur = await self._conn.execute(self._tables.signals, (left_out, session_id))
        row = await cur.fetchone()
        # In a thread: a population's rater offsets are a megabyte of JSON at 10,000 people.
        return None if row is None else await asyncio.to_thread(_SIGNALS.validate_json, row[0])
