"""Spans and logs: spans to a JSON-lines file per service (and to OTLP when configured), logs
to stderr or, under the embedded stack, to a file per service.

Spans are operational data, not a second record of who did what to whom: before any exporter
sees a span, the client's address and user agent are dropped and a request's path and query
(which name the person a rater rates) are replaced by the route's template. Span and log files
are readable by their owner only and rotate daily, the oldest deleted after the configured
number of days (docs/privacy.md).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from logging.handlers import TimedRotatingFileHandler
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from libs.platform.settings import Settings

# Who called: an address and a browser identify a person as well as a name does.
_CALLER = frozenset(
    {
        "client.address",
        "client.port",
        "net.peer.ip",
        "net.peer.port",
        "net.sock.peer.addr",
        "net.sock.peer.port",
        "network.peer.address",
        "network.peer.port",
        "http.client_ip",
        "http.user_agent",
        "user_agent.original",
    }
)
# Where to: a path holds the ids of the people it is about; the route template does not.
_PATH = frozenset({"http.target", "http.url", "url.path", "url.full", "url.query"})
ROUTE = "http.route"


def setup_tracing(service: str, settings: Settings) -> TracerProvider:
    """Install the global tracer provider for this process and return it.

    Spans go to `<trace dir>/<service>.jsonl` (a replica after the first: `<service>-<n>`,
    `Settings.file_stem`), one JSON object a line, so a trace can be followed across services
    with nothing but the files; `OTEL_EXPORTER_OTLP_ENDPOINT` adds an OTLP/HTTP exporter for
    a collector (Jaeger, Tempo, ...). Both get scrubbed spans.
    """
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    files = SpanFile(
        settings.traces / f"{settings.file_stem(service)}.jsonl", settings.trace_retention_days
    )
    provider.add_span_processor(BatchSpanProcessor(Scrubbed(files), schedule_delay_millis=500))
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )

        provider.add_span_processor(BatchSpanProcessor(Scrubbed(OTLPSpanExporter())))
    trace.set_tracer_provider(provider)
    return provider


def scrub(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """`attributes` without the caller's identity, and with paths as route templates."""
    kept = {k: v for k, v in attributes.items() if k not in _CALLER and k not in _PATH}
    if ROUTE in attributes:
        kept["http.target"] = attributes[ROUTE]
    return kept


class Scrubbed(SpanExporter):
    """Hands `inner` each span with `scrub`bed attributes (its events' attributes too)."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([_scrubbed(span) for span in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def _scrubbed(span: ReadableSpan) -> ReadableSpan:
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=scrub(span.attributes or {}),
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def setup_logging(settings: Settings, service: str) -> None:
    """Log records at INFO and above to stderr, or to `<log dir>/<service>.log` (a
    `PrivateDailyFile`) when a log directory is configured, as the embedded stack does."""
    handler: logging.Handler
    if settings.log_dir is None:
        handler = logging.StreamHandler()
    else:
        handler = PrivateDailyFile(
            settings.log_dir / f"{settings.file_stem(service)}.log", settings.log_retention_days
        )
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


class SpanFile(SpanExporter):
    """Spans as JSON lines in a `PrivateDailyFile`."""

    def __init__(self, path: Path, retention_days: int) -> None:
        self._handler = PrivateDailyFile(path, retention_days)
        self._handler.setFormatter(logging.Formatter("%(message)s"))

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for span in spans:
            self._handler.handle(_line(span.to_json(indent=None)))
        self._handler.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._handler.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self._handler.flush()
        return True


class PrivateDailyFile(TimedRotatingFileHandler):
    """A file only its owner may read (in a directory only its owner may enter), rotated at
    midnight UTC, keeping `retention_days` earlier files."""

    def __init__(self, path: Path, retention_days: int) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        super().__init__(
            path, when="midnight", backupCount=retention_days, encoding="utf-8", utc=True
        )

    def _open(self) -> Any:
        # Created 0600 whatever the umask; a file left by an older release is narrowed too.
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding)


def _line(text: str) -> logging.LogRecord:
    return logging.LogRecord("spans", logging.INFO, "", 0, text, None, None)


def read_spans(trace_dir: Path) -> list[dict[str, object]]:
    """Every span recorded in `trace_dir`, rotated files included (for tests and the demo's
    summary)."""
    spans: list[dict[str, object]] = []
    for file in sorted(trace_dir.glob("*.jsonl*")):
        for line in file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                spans.append(json.loads(line))
    return spans
