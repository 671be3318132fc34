"""Exports of the decision log for audits and legal review (docs/domain.md §6).

Two forms of the same entries:

- JSON lines (`json_lines`): one entry per line, each the entry's hashed fields plus its
  `hash`, written canonically. Anyone can check a line without this software: drop `hash`
  (and `personal`), serialise the rest with RFC 8785 (JCS), and its SHA-256 is `hash`; each
  line's `previous_hash` names the entry before it in the whole log. An entry of payload
  version 2 also carries `personal`: for each committed field, the text and its salt (hex),
  whose SHA-256 (salt bytes, then the text's UTF-8) is the commitment; or `[erased]`.
- A report an employment lawyer can read (`report`): per case, the move (named a lateral move
  when it is one), the timeline of every step with who took it and when, and for each decision
  the criteria it was judged on, with the evidence for each, under the framework and criteria
  versions named; for a lateral move, the competencies its path names to acquire, which alone
  were judged, and those carried over.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from libs.events.schemas.promotion import Move
from services.promotion.domain.criteria import kind_of
from services.promotion.domain.decision_log import (
    ERASED,
    LogEntry,
    canonical,
    committed_fields,
    hashed_fields,
)
from services.promotion.domain.holds import is_person_record

STEP_NAMES = {
    "nomination": "Nomination",
    "endorsement": "Manager endorsement",
    "evidence": "Evidence attached",
    "readiness_evaluated": "Readiness evaluated",
    "calibration_confirmation": "Calibration confirmation",
    "decision": "Decision",
    "appeal": "Appeal lodged",
    "appeal_outcome": "Appeal outcome",
    "erasure": "Personal text erased",
    "legal_hold": "Legal hold placed",
    "legal_hold_lifted": "Legal hold lifted",
    "erasure_refused": "Erasure refused under legal hold",
    "erasure_cleared": "Erasure cleared",
}


def json_lines(entries: Iterable[LogEntry]) -> Iterable[bytes]:
    """Each entry as one canonical JSON line: its hashed fields and `hash`."""
    for entry in entries:
        line = {**_fields(entry), "hash": entry.hash}
        personal = _personal(entry)
        if personal:
            line["personal"] = personal
        yield canonical(line) + b"\n"


def _personal(entry: LogEntry) -> dict[str, Any]:
    """The text and salt of each committed field, for checking against its commitment."""
    held = entry.personal or {}
    shown: dict[str, Any] = {}
    for name in committed_fields(entry.payload):
        text = held.get(name)
        shown[name] = ERASED if text is None else {"salt": text.salt.hex(), "text": text.text}
    return shown


def _fields(entry: LogEntry) -> dict[str, Any]:
    """The hashed fields as they were hashed: from the stored body when there is one."""
    if entry.body is not None:
        return LogEntry.from_body(entry.body, entry.hash).hashed_fields()
    return hashed_fields(entry)


def intact(entry: LogEntry) -> bool:
    """The entry's hash matches its content, and its columns (what the report prints) match
    the hashed body. Chain links need the whole log: `verify`."""
    columns = canonical(hashed_fields(entry))
    if entry.body is not None and entry.body != columns:
        return False
    return hashlib.sha256(columns).hexdigest() == entry.hash


def _when(at: datetime) -> str:
    if at.utcoffset() is None:
        return str(at)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _move(move: Mapping[str, str]) -> str:
    into = f"{move['to_family']} " if move.get("to_family") else ""
    lateral = " (a lateral move)" if kind_of(Move.model_validate(move)) == "lateral" else ""
    return (
        f"{move['family']}: {move['from_track']} {move['from_level']} to "
        f"{into}{move['to_track']} {move['to_level']}{lateral}"
    )


def _lateral_path(transition: Mapping[str, Any]) -> list[str]:
    """What a lateral move was judged on, and what it carried over unjudged."""
    acquire = transition.get("to_acquire")
    if not acquire:
        return []
    carried = ", ".join(transition.get("transferable") or ()) or "none named"
    return [
        f"- Lateral move: judged only on the competencies its lateral path names to acquire "
        f"({', '.join(acquire)}); carried over and not judged again: {carried}."
    ]


def _quote(text: str) -> str:
    return "> " + "\n> ".join(text.splitlines() or [""])


def _cell(value: Any) -> str:
    text = (
        "not found" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
    )
    return text.replace("|", "\\|").replace("\n", " ")


def _step(entry: LogEntry) -> list[str]:
    p = entry.disclosed()
    step, when = STEP_NAMES[entry.kind], _when(entry.recorded_at)
    lines = [f"{entry.sequence}. **{step}**, {when}, by {entry.actor}"]
    if entry.kind == "nomination":
        lines.append(f"   - move: {_move(p['move'])}; cycle {p['cycle_id']}")
        if p.get("operating_since"):
            # Neutral on purpose: earlier nominations gave when the person began operating at
            # the target level; later ones when their current level began.
            lines.append(f"   - operating since {p['operating_since']}, as the nomination gives it")
    elif entry.kind == "evidence":
        lines.append(f"   - item: {p['item']}")
        lines.append(f"   - {p['note']}")
    elif entry.kind == "calibration_confirmation":
        verdict = "confirmed" if p["confirmed"] else "rejected"
        lines.append(f"   - {verdict} in calibration session {p['session_id']}")
    elif entry.kind == "readiness_evaluated":
        r = p["readiness"]
        verdict = "ready" if r["ready"] else "not ready"
        unmet = [x["name"] for x in r["results"] if not x["met"]]
        lines.append(
            f"   - {verdict} under criteria version {r['criteria_version']}"
            + (f"; not met: {', '.join(unmet)}" if unmet else "")
        )
    elif entry.kind in ("decision", "appeal_outcome"):
        result = f" (appeal {p['result']})" if entry.kind == "appeal_outcome" else ""
        lines.append(f"   - outcome: **{p['outcome'].upper()}**{result}")
    elif entry.kind == "appeal":
        lines.append("   - grounds:")
        lines.append("     " + _quote(p["grounds"]).replace("\n", "\n     "))
    elif entry.kind == "erasure":
        lines.append(
            f"   - under request {p['request_ref']}: {len(p['erased'])} field(s) of earlier entries"
        )
    elif entry.kind in ("legal_hold", "legal_hold_lifted"):
        lines.append(f"   - hold {p['hold_id']}: {p['reason']}")
    elif entry.kind == "erasure_refused":
        lines.append(f"   - request {p['request_ref']} of {p['requested_by']}: {p['reason']}")
    elif entry.kind == "erasure_cleared":
        lines.append(f"   - request {p['request_ref']} of {p['requested_by']}")
    note = p.get("note")
    if note and entry.kind != "evidence":
        lines.append(f"   - note: {note}")
    return lines


def _basis(entry: LogEntry) -> list[str]:
    """What a decision was judged on: versions, scores, and every criterion."""
    p = entry.disclosed()
    r = p["readiness"]
    calibration = r["calibration"]
    title = "Appeal outcome" if entry.kind == "appeal_outcome" else "Decision"
    lines = [
        "",
        f"#### {title} of {_when(entry.recorded_at)}: {p['outcome']}, by {entry.actor}",
        "",
        "Rationale, as written:",
        "",
        _quote(p["rationale"]),
        "",
        f"- Framework {calibration['framework_id']} version {calibration['framework_version']}; "
        f"promotion criteria version {r['criteria_version']} (scale {r['scale']}).",
        f"- Scores from calibration session {calibration['session_id']}"
        f" (campaign {p.get('campaign_id', 'not recorded')}), as they were at the decision.",
        f"- Judged as of {r['as_of']}; overall: "
        + ("every criterion met." if r["ready"] else "criteria not met."),
        *_lateral_path(r["transition"]),
        "",
        "| Criterion | Required | Found | Met | Evidence |",
        "|---|---|---|---|---|",
    ]
    for result in r["results"]:
        lines.append(
            f"| {_cell(result['name'])} | {_cell(result['expected'])} | "
            f"{_cell(result['actual'])} | {'yes' if result['met'] else 'no'} | "
            f"{_cell(_evidence(result))} |"
        )
    return lines


def _evidence(result: dict[str, Any]) -> str:
    """A result's evidence and, where its sources disagreed, what they said."""
    disagreement = result.get("disagreement")
    return result["evidence"] + (f" (disagreement: {disagreement})" if disagreement else "")


def report(title: str, entries: Sequence[LogEntry], generated_at: datetime) -> str:
    """A Markdown report of the entries, grouped by case in the order cases began."""
    by_case: dict[str, list[LogEntry]] = {}
    for entry in entries:
        by_case.setdefault(entry.case_id, []).append(entry)
    whole = sum(intact(e) for e in entries)
    lines = [
        f"# Promotion decision record: {title}",
        "",
        f"Generated {_when(generated_at)} from the promotion decision log: {len(entries)} "
        f"entries in {len(by_case)} case(s). Entries are append-only and hash-chained; "
        f"{whole} of {len(entries)} entries match their recorded hash here, and the whole "
        "chain is checked with `talentledger audit verify`.",
    ]
    for case_id, steps in by_case.items():
        first = steps[0]
        move = first.payload.get("move") if first.kind == "nomination" else None
        title = "Record of" if is_person_record(case_id) else f"Case {case_id}:"
        lines += ["", f"## {title} {first.employee_id}"]
        if move:
            lines += ["", f"Move: {_move(move)}. Cycle: {first.payload['cycle_id']}."]
        lines += ["", "### Timeline", ""]
        for entry in steps:
            lines += _step(entry)
        decisions = [e for e in steps if e.kind in ("decision", "appeal_outcome")]
        if decisions:
            lines += ["", "### What each decision was based on"]
            for entry in decisions:
                lines += _basis(entry)
    lines += [
        "",
        "## Entry hashes",
        "",
        "| Sequence | Kind | Hash (SHA-256) | Previous hash |",
        "|---|---|---|---|",
    ]
    lines += [f"| {e.sequence} | {e.kind} | `{e.hash}` | `{e.previous_hash}` |" for e in entries]
    return "\n".join(lines) + "\n"
