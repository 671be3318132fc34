"""What span files keep (libs/platform/telemetry.py): no caller address or browser, paths as
route templates so no span names the person a request was about, files only their owner
reads, rotated (docs/privacy.md)."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from libs.platform.telemetry import Scrubbed, SpanFile, read_spans

SUBJECT = "emp-subject-4711"


def test_a_rater_request_leaves_no_subject_or_caller_in_the_span_file(tmp_path: Path) -> None:
    app = FastAPI()

    @app.get("/campaigns/{campaign_id}/subjects/{subject}/questionnaire")
    async def questionnaire(campaign_id: str, subject: str) -> dict[str, str]:
        return {"ok": "yes"}

    provider = TracerProvider()
    path = tmp_path / "traces" / "assessment.jsonl"
    provider.add_span_processor(SimpleSpanProcessor(Scrubbed(SpanFile(path, 7))))
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    with TestClient(app) as client:
        response = client.get(
            f"/campaigns/c-1/subjects/{SUBJECT}/questionnaire?as={SUBJECT}",
            headers={"User-Agent": "Firefox/140 on the rater's laptop"},
        )
    assert response.status_code == 200
    provider.shutdown()

    text = path.read_text()
    assert text.strip(), "spans were written"
    for secret in (SUBJECT, "testclient", "Firefox"):
        assert secret not in text
    [server] = [s for s in read_spans(path.parent) if s["kind"] == "SpanKind.SERVER"]
    attributes = server["attributes"]
    assert isinstance(attributes, dict)
    assert attributes["http.target"] == "/campaigns/{campaign_id}/subjects/{subject}/questionnaire"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_span_files_rotate_and_keep_only_the_configured_days(tmp_path: Path) -> None:
    path = tmp_path / "cycles.jsonl"
    path.write_text("{}\n")
    path.chmod(0o644)
    for day in ("2026-11-30", "2026-12-01", "2026-12-02"):
        (tmp_path / f"cycles.jsonl.{day}").write_text("{}\n")
    exporter = SpanFile(path, retention_days=2)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, "an older, wider file is narrowed"
    handler = exporter._handler
    handler.rolloverAt = int(datetime(2026, 12, 4, tzinfo=UTC).timestamp())  # midnight passed
    handler.doRollover()
    exporter.shutdown()
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == ["cycles.jsonl", "cycles.jsonl.2026-12-02", "cycles.jsonl.2026-12-03"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, "the new day's file is private too"
