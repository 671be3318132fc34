"""How `talentledger privacy erase` and `privacy status` report an erasure that ended: a
refusal with its reason and exit code 1, an erasure with what each service erased."""

from __future__ import annotations

import pytest
import typer

from services.cycles.adapters.privacy_http import ErasureStatus
from talentledger import cli

HOLD = "legal hold H-1 on emp-ada: litigation 2026-114"
ENDED = {
    "request_ref": "REQ-7",
    "employee_id": "emp-ada",
    "requested_by": "olivia-privacy",
    "status": "COMPLETED",
    "step": "done",
}


def test_a_refusal_is_printed_with_its_reason_and_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    refused = ErasureStatus(**ENDED, outcome="refused", reason=HOLD)
    with pytest.raises(typer.Exit) as ended:
        cli._report_erasure(refused)
    assert ended.value.exit_code == 1
    printed = capsys.readouterr().out
    assert "REQ-7: refused: emp-ada was not erased" in printed
    assert f"reason: {HOLD}" in printed


def test_an_erasure_reports_the_keys_and_each_services_counts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    erased = ErasureStatus(
        **ENDED,
        outcome="erased",
        keys_destroyed=1,
        confirmed=["assessment", "framework"],
        erased={"assessment": {"comments": 3, "names": 1}, "framework": {}},
    )
    cli._report_erasure(erased)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "REQ-7: erased emp-ada (data keys destroyed: 1)"
    assert lines[1].split() == ["assessment", "comments", "3,", "names", "1"]
    assert lines[2].split() == ["framework", "confirmed"]


def test_a_failed_erasure_says_why_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    failed = {**ENDED, "status": "FAILED", "step": None}
    with pytest.raises(typer.Exit) as ended:
        cli._report_erasure(ErasureStatus(**failed, failure="ErasureNotAuthorised: forged"))
    assert ended.value.exit_code == 1
    assert "REQ-7: FAILED: ErasureNotAuthorised: forged" in capsys.readouterr().err
