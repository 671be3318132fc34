"""OpenTelemetry setup: spans to a JSON-lines file per service, and to OTLP when configured."""

from __future__ import annotations

from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

from libs.platform.settings import Settings


def setup_tracing(service: str, settings: Settings) -> TracerProvider:
    """Install the global tracer provider for this process and return it.

    Spans go to `<trace dir>/<service>.jsonl`, one JSON object a line, so a trace can be
    followed across services with nothing but the files; `OTEL_EXPORTER_OTLP_ENDPOINT`
    adds an OTLP/HTTP exporter for a collector (Jaeger, Tempo, ...).
    """
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    settings.traces.mkdir(parents=True, exist_ok=True)
    spans = (settings.traces / f"{service}.jsonl").open("a", encoding="utf-8", buffering=1)
    provider.add_span_processor(
        BatchSpanProcessor(
            ConsoleSpanExporter(
                service_name=service, out=spans, formatter=lambda s: s.to_json(indent=None) + "\n"
            ),
            schedule_delay_millis=500,
        )
    )
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def read_spans(trace_dir: Path) -> list[dict[str, object]]:
    """Every span recorded in `trace_dir` (for tests and the demo's summary)."""
    import json

    spans: list[dict[str, object]] = []
    for file in sorted(trace_dir.glob("*.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                spans.append(json.loads(line))
    return spans
