"""Exports of the decision log for audits and legal review (docs/domain.md §6: "Anyone can verify
the log has not been altered; an auditor can reconstruct any decision with the exact inputs it
used, and export an employee's or a cycle's history for legal review"), as
services/promotion/domain/audit_report.py describes them: JSON lines anyone can check without
this software, and a report an employment lawyer can read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, date, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

from services.promotion.domain.audit_report import intact, json_lines, report
from services.promotion.domain.cases import Case, nominate
from services.promotion.domain.decision_log import (
    GENESIS_HASH,
    HASHED_FIELDS,
    EntryKind,
    LogEntry,
    canonical,
    next_entry,
)
from services.promotion.domain.payloads import EntryPayload, Nomination
from services.promotion.domain.readiness import Readiness
from tests.support.readiness import L3_TO_L4, LEAD, ready_case

EMPLOYEE, MANAGER = "ann", "mgr-1"
DECIDER, SECOND_DECIDER = "committee-1", "committee-2"
CAMPAIGN = "campaign-7"
START = datetime(2025, 6, 1, 9, tzinfo=UTC)
GENERATED = datetime(2025, 7, 1, 12, 30, tzinfo=UTC)
DENIAL = "Evidence for the cross-team project is missing.\nThe calibration has not confirmed it."
OVERTURNED = "The evidence was filed on time; the committee missed it."


def not_ready() -> Readiness:
    """Evidence missing and no calibration confirmation: two criteria unmet."""
    return ready_case(evidence={}, confirmed_in_session=None)


def append(
    log: list[LogEntry],
    kind: EntryKind,
    actor: str,
    payload: EntryPayload,
    case_id: str = "case-1",
    employee_id: str = EMPLOYEE,
    recorded_at: datetime | None = None,
) -> Case:
    """Append the entry a case command asked for; the case as the entries leave it."""
    log.append(
        next_entry(
            log[-1] if log else None,
            kind=kind,
            case_id=case_id,
            employee_id=employee_id,
            actor=actor,
            recorded_at=recorded_at or START + timedelta(hours=len(log)),
            payload=payload.record(),
        )
    )
    return Case.replay(e for e in log if e.case_id == case_id)


def nomination(cycle_id: str = "2025-h1") -> Nomination:
    return nominate(
        cycle_id=cycle_id,
        framework_id="fw-eng",
        framework_version=2,
        transition=L3_TO_L4,
        operating_since=None,
        note="",
        open_cases=[],
    )


def denied_then_overturned() -> list[LogEntry]:
    """Nominated, endorsed, denied on unmet criteria, appealed, approved on appeal."""
    log: list[LogEntry] = []
    case = append(log, "nomination", MANAGER, nomination())
    case = append(log, "endorsement", MANAGER, case.endorse(MANAGER, MANAGER, "Ready."))
    case = append(
        log, "decision", DECIDER, case.decide(DECIDER, "deny", DENIAL, not_ready(), CAMPAIGN, True)
    )
    case = append(log, "appeal", EMPLOYEE, case.lodge_appeal(EMPLOYEE, "My evidence was filed."))
    payload = case.decide_appeal(
        SECOND_DECIDER, "overturned", "approve", OVERTURNED, ready_case(), CAMPAIGN
    )
    append(log, "appeal_outcome", SECOND_DECIDER, payload)
    return log


def without_bodies(entries: list[LogEntry]) -> list[LogEntry]:
    """The entries as storage that keeps no body column gives them back."""
    return [dataclasses.replace(e, body=None) for e in entries]


def tampered(entry: LogEntry, **payload: Any) -> LogEntry:
    """The entry with payload values changed and its hash (and body) kept."""
    return dataclasses.replace(entry, payload={**entry.payload, **payload})


def criteria_rows(text: str, heading: str) -> list[str]:
    """The rows of the criteria table under the basis heading that starts with `heading`."""
    section = text.split(heading, 1)[1]
    table = section.split(
        "| Criterion | Required | Found | Met | Evidence |\n|---|---|---|---|---|\n"
    )
    rows = table[1].split("\n\n", 1)[0]
    return rows.splitlines()


# -- JSON lines --------------------------------------------------------------------------------


def test_each_json_line_is_the_entrys_hashed_fields_plus_its_hash_written_canonically() -> None:
    """audit_report.py: "one entry per line, each the entry's hashed fields plus its `hash`,
    written canonically. Anyone can check a line without this software: drop `hash`,
    serialise the rest with RFC 8785 (JCS), and its SHA-256 is `hash`"."""
    entries = denied_then_overturned()
    lines = list(json_lines(entries))
    assert len(lines) == len(entries)
    for line, entry in zip(lines, entries, strict=True):
        assert line.endswith(b"\n")
        assert line.count(b"\n") == 1
        fields = json.loads(line)
        assert set(fields) == {*HASHED_FIELDS, "hash"}
        assert canonical(fields) + b"\n" == line, "already in canonical form"
        stated = fields.pop("hash")
        assert stated == entry.hash
        assert hashlib.sha256(canonical(fields)).hexdigest() == stated
        assert fields["payload"] == json.loads(canonical(entry.payload))


def test_each_json_line_names_the_entry_before_it() -> None:
    """audit_report.py: "each line's `previous_hash` names the entry before it in the whole
    log"; the first entry of the log follows the genesis hash."""
    lines = [json.loads(line) for line in json_lines(denied_then_overturned())]
    assert lines[0]["previous_hash"] == GENESIS_HASH
    for before, after in pairwise(lines):
        assert after["previous_hash"] == before["hash"]
        assert after["sequence"] == before["sequence"] + 1


def test_json_lines_are_the_same_from_stored_bodies_or_from_columns_alone() -> None:
    """audit_report.py: the hashed fields "as they were hashed: from the stored body when
    there is one", else re-serialised from the columns: the same bytes either way."""
    entries = denied_then_overturned()
    from_bodies = b"".join(json_lines(entries))
    from_columns = b"".join(json_lines(without_bodies(entries)))
    read_back = [LogEntry.from_body(e.body or b"", e.hash) for e in entries]
    assert from_bodies == from_columns == b"".join(json_lines(read_back))


def test_the_line_of_an_entry_altered_after_it_was_hashed_no_longer_checks_out() -> None:
    """docs/domain.md §6: "Anyone can verify the log has not been altered": a payload value changed
    in storage without a body, hash kept, fails the line's own check."""
    entries = without_bodies(denied_then_overturned())
    entries[2] = tampered(entries[2], outcome="approve")
    fields = json.loads(next(iter(json_lines(entries[2:3]))))
    stated = fields.pop("hash")
    assert fields["payload"]["outcome"] == "approve"
    assert hashlib.sha256(canonical(fields)).hexdigest() != stated


# -- intact ----------------------------------------------------------------------------------


def test_recorded_entries_are_intact_with_or_without_their_body() -> None:
    """`intact`: "The entry's hash matches its content"."""
    entries = denied_then_overturned()
    assert all(intact(e) for e in entries)
    assert all(intact(e) for e in without_bodies(entries))


def test_an_entry_changed_after_it_was_hashed_is_not_intact() -> None:
    """docs/domain.md §6: the log is tamper-evident. A changed payload value (hash kept), a
    changed actor, an edited body or a replaced hash each break the entry."""
    decision = denied_then_overturned()[2]
    bare = dataclasses.replace(decision, body=None)
    assert not intact(tampered(bare, outcome="approve"))
    assert not intact(tampered(bare, rationale="Meets every criterion."))
    assert not intact(dataclasses.replace(bare, actor=SECOND_DECIDER))
    edited_body = (decision.body or b"").replace(b'"outcome":"deny"', b'"outcome":"approve"')
    assert edited_body != decision.body
    assert not intact(dataclasses.replace(decision, body=edited_body))
    assert not intact(dataclasses.replace(decision, hash="0" * 64))


def test_a_payload_edited_beside_its_stored_body_is_not_intact() -> None:
    """docs/domain.md §6: "Anyone can verify the log has not been altered"; decision_log.py: "an
    auditor reading a column must be told it was edited". Storage gives entries back with
    their body and their columns; the report reads the columns, so `intact` must vouch for
    them, not for the body alone."""
    decision = denied_then_overturned()[2]
    assert decision.body is not None
    assert not intact(tampered(decision, outcome="approve"))


# -- the report --------------------------------------------------------------------------------


def test_the_report_quotes_each_rationale_verbatim_under_its_decision() -> None:
    """docs/domain.md §6: a decision is recorded "with a written rationale"; audit_report.py: for
    each decision, what it was judged on. The rationale is quoted as written, every line."""
    text = report("case case-1", denied_then_overturned(), GENERATED)
    assert "#### Decision of 2025-06-01 11:00 UTC: deny, by committee-1" in text
    assert "#### Appeal outcome of 2025-06-01 13:00 UTC: approve, by committee-2" in text
    denial = text.split("#### Decision of", 1)[1].split("####", 1)[0]
    assert (
        "Rationale, as written:\n\n"
        "> Evidence for the cross-team project is missing.\n"
        "> The calibration has not confirmed it.\n"
    ) in denial
    assert f"> {OVERTURNED}\n" in text.split("#### Appeal outcome of", 1)[1]


def test_the_report_names_the_framework_and_criteria_versions_and_the_scores_used() -> None:
    """docs/domain.md §6: the decision "records the framework version, the criteria version, the
    calibration it relied on and the scores as they were"; audit_report.py: "under the
    framework and criteria versions named"."""
    text = report("case case-1", denied_then_overturned(), GENERATED)
    versions = "- Framework fw-eng version 2; promotion criteria version 3 (scale 0..5)."
    scores = (
        "- Scores from calibration session cal-2025-q2 (campaign campaign-7), as they were at "
        "the decision."
    )
    assert text.count(versions) == 2, "under the decision and under the appeal outcome"
    assert text.count(scores) == 2
    assert "- Judged as of 2025-06-30; overall: criteria not met." in text
    assert "- Judged as of 2025-06-30; overall: every criterion met." in text


def test_the_report_has_a_row_for_each_criterion_with_met_yes_or_no() -> None:
    """docs/domain.md §6 readiness: "which criteria are met and which are not, with the evidence
    for each"; audit_report.py: "for each decision the criteria it was judged on, with the
    evidence for each"."""
    text = report("case case-1", denied_then_overturned(), GENERATED)
    denial = criteria_rows(text, "#### Decision of")
    assert len(denial) == len(not_ready().results) == 9
    assert denial[0] == (
        "| average | 3.5 | 3.5 | yes | mean of 4 calibrated scores in calibration session "
        "'cal-2025-q2' (fw-eng v2): communication 3, collaboration 4, delivery 3.5, design 3.5 |"
    )
    assert denial[1].startswith("| competency_floor:communication | 3 | 3 | yes | calibrated 3")
    assert denial[5] == "| time_at_level | 1 | 1 | yes | " + (
        "the HRIS dates the current level from 2025-03-30: 1 whole quarter(s) by 2025-06-30 |"
    )
    assert denial[6] == f"| evidence:{LEAD} | provided | not found | no | " + (
        "no evidence recorded for this item |"
    )
    assert denial[7] == "| endorsement | manager endorsement | mgr-1 | yes | endorsed by mgr-1 |"
    assert denial[8] == (
        "| calibration_confirmation | confirmed in a calibration session | not found | no | "
        "no calibration session has confirmed the nomination |"
    )
    on_appeal = criteria_rows(text, "#### Appeal outcome of")
    assert [row.split(" | ")[3] for row in on_appeal] == ["yes"] * 9
    assert on_appeal[6].startswith(f"| evidence:{LEAD} | provided | mgr-1 | yes | provided by")


def test_a_nomination_date_the_hris_contradicts_is_in_the_criterion_row() -> None:
    """docs/domain.md §6, Readiness: the HRIS date is judged, the nomination's is shown."""
    log: list[LogEntry] = []
    case = append(log, "nomination", MANAGER, nomination())
    case = append(log, "endorsement", MANAGER, case.endorse(MANAGER, MANAGER, "Ready."))
    readiness = ready_case(level_since=date(2025, 4, 15), nominated_since=date(2024, 6, 30))
    append(
        log, "decision", DECIDER, case.decide(DECIDER, "deny", DENIAL, readiness, CAMPAIGN, True)
    )
    [row] = [
        r
        for r in criteria_rows(report("case case-1", log, GENERATED), "#### Decision of")
        if r.startswith("| time_at_level ")
    ]
    assert row == "| time_at_level | 1 | 0 | no | " + (
        "the HRIS dates the current level from 2025-04-15: 0 whole quarter(s) by 2025-06-30 "
        "(disagreement: the nomination dates the current level from 2024-06-30 (4 whole "
        "quarter(s) by 2025-06-30), but the HRIS dates the current level from 2025-04-15; only "
        "the HRIS is judged) |"
    )


def test_the_timeline_lists_every_step_with_who_took_it_and_when() -> None:
    """audit_report.py: "per case, the move, the timeline of every step with who took it and
    when"."""
    entries = denied_then_overturned()
    text = report("case case-1", entries, GENERATED)
    assert text.startswith("# Promotion decision record: case case-1\n")
    assert "\n## Case case-1: ann\n\nMove: eng: ic L3 to ic L4. Cycle: 2025-h1.\n" in text
    timeline = text.split("### Timeline\n\n", 1)[1].split("\n\n", 1)[0]
    assert timeline.splitlines() == [
        "1. **Nomination**, 2025-06-01 09:00 UTC, by mgr-1",
        "   - move: eng: ic L3 to ic L4; cycle 2025-h1",
        "2. **Manager endorsement**, 2025-06-01 10:00 UTC, by mgr-1",
        "   - note: Ready.",
        "3. **Decision**, 2025-06-01 11:00 UTC, by committee-1",
        "   - outcome: **DENY**",
        "4. **Appeal lodged**, 2025-06-01 12:00 UTC, by ann",
        "   - grounds:",
        "     > My evidence was filed.",
        "5. **Appeal outcome**, 2025-06-01 13:00 UTC, by committee-2",
        "   - outcome: **APPROVE** (appeal overturned)",
    ]


def test_the_report_lists_every_entry_hash_and_the_hash_before_it() -> None:
    """docs/domain.md §6: "Anyone can verify the log has not been altered": the report carries each
    entry's hash and the hash it links to, and says how many entries match their hash."""
    entries = denied_then_overturned()
    text = report("case case-1", entries, GENERATED)
    assert (
        "Generated 2025-07-01 12:30 UTC from the promotion decision log: 5 entries in 1 case(s)"
        in text
    )
    assert "5 of 5 entries match their recorded hash" in text
    table = text.split("## Entry hashes\n\n", 1)[1].splitlines()
    assert table[:2] == [
        "| Sequence | Kind | Hash (SHA-256) | Previous hash |",
        "|---|---|---|---|",
    ]
    assert table[2:] == [
        f"| {e.sequence} | {e.kind} | `{e.hash}` | `{e.previous_hash}` |" for e in entries
    ]
    assert table[2].endswith(f"`{GENESIS_HASH}` |")


def test_cases_are_reported_in_the_order_they_began_with_their_own_steps() -> None:
    """audit_report.py: "grouped by case in the order cases began", as for a cycle's export."""
    log: list[LogEntry] = []
    append(log, "nomination", MANAGER, nomination(), case_id="case-b", employee_id="ben")
    case_a = append(log, "nomination", MANAGER, nomination(), case_id="case-a")
    payload = case_a.decide(DECIDER, "defer", "Next cycle.", not_ready(), CAMPAIGN, False)
    append(log, "decision", DECIDER, payload, case_id="case-a")
    text = report("cycle 2025-h1", log, GENERATED)
    assert "3 entries in 2 case(s)" in text
    first, second = text.index("## Case case-b: ben"), text.index("## Case case-a: ann")
    assert first < second
    assert "What each decision was based on" not in text[first:second]
    assert "#### Decision of 2025-06-01 11:00 UTC: defer, by committee-1" in text[second:]


def test_a_tampered_entry_is_counted_as_not_intact_in_the_report() -> None:
    """docs/domain.md §6: "Anyone can verify the log has not been altered": a payload value changed
    with its hash kept is not counted among the entries that match their hash."""
    entries = without_bodies(denied_then_overturned())
    entries[2] = tampered(entries[2], rationale="Meets every criterion.")
    text = report("case case-1", entries, GENERATED)
    assert "4 of 5 entries match their recorded hash" in text


def test_a_tampered_entry_read_back_with_its_body_is_counted_as_not_intact_in_the_report() -> None:
    """docs/domain.md §6: "Anyone can verify the log has not been altered". Storage gives entries
    back with body and columns; the report prints the columns, so a payload column edited
    under an untouched body must not be counted as matching its hash."""
    entries = denied_then_overturned()
    entries[2] = tampered(entries[2], rationale="Meets every criterion.")
    text = report("case case-1", entries, GENERATED)
    assert "> Meets every criterion." in text, "the report shows the edited column"
    assert "4 of 5 entries match their recorded hash" in text


def test_a_pipe_or_a_line_break_in_a_value_does_not_break_the_criteria_table() -> None:
    """audit_report.py: a report an employment lawyer can read: one row per criterion, with
    the evidence in its cell, whatever the evidence note says."""
    log: list[LogEntry] = []
    case = append(log, "nomination", MANAGER, nomination())
    readiness = ready_case(
        evidence={
            LEAD: ready_case().evidence[LEAD].model_copy(update={"note": "payments | legal\nQ2"})
        }
    )
    append(log, "decision", DECIDER, case.decide(DECIDER, "approve", "Ok.", readiness, "c", False))
    rows = criteria_rows(report("case case-1", log, GENERATED), "#### Decision of")
    assert len(rows) == len(readiness.results)
    assert rows[6].endswith(r": payments \| legal Q2 |")
    assert all(row.count(" | ") == 4 for row in rows)


def test_times_are_reported_in_utc_whatever_offset_they_were_recorded_with() -> None:
    """audit_report.py: the timeline says when each step was taken, labelled UTC; the log
    records instants (decision_log.py: datetimes are written in UTC)."""
    paris = timezone(timedelta(hours=2))
    log: list[LogEntry] = []
    append(
        log, "nomination", MANAGER, nomination(), recorded_at=datetime(2025, 6, 1, 11, tzinfo=paris)
    )
    text = report("case case-1", log, datetime(2025, 7, 1, 14, 30, tzinfo=paris))
    assert "1. **Nomination**, 2025-06-01 09:00 UTC, by mgr-1" in text
    assert "Generated 2025-07-01 12:30 UTC" in text
