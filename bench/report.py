"""The markdown report of a benchmark run."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence

from bench.appends import TARGET_RATIO, AppendResults, Throughput
from bench.assessment import AssessmentResults, Delivery, Rate
from bench.events import APPENDS_SCHEMA, LATENCY_SCHEMA
from bench.framework import FrameworkResults, Written
from bench.framework_model import REWORDED_PER_VERSION
from bench.latency import (
    CONSUMER_FETCH_BATCH,
    CONSUMER_IDLE_WAIT,
    CONSUMING,
    RELAY_POLL_INTERVAL,
    TARGET_P99_MS,
    Latencies,
    LatencyResults,
    Pipeline,
)
from libs.events.migrations.roles import service_role
from libs.events.store import MAX_PAYLOAD_BYTES


def table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str = "") -> str:
    """A markdown table; `align` has one letter per column (l or r), default l."""
    align = align.ljust(len(header), "l")
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = [header, rule, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def _runs(result: Throughput) -> str:
    return ", ".join(_rate(r) for r in result.rates)


def _ratio(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def _target(met: bool) -> str:
    return "met" if met else "**not met**"


def _cpu(result: Throughput) -> str:
    best = result.best_run
    return f"{best.client_cpu_us:,.0f}" if best else "-"


def _busy(result: Throughput) -> str:
    best = result.best_run
    return f"{best.machine_busy:.0%}" if best else "-"


def appends_section(results: AppendResults) -> str:
    rows = []
    for ours, baseline in results.configs:
        ratio = results.ratio(ours.writers)
        target = "" if ours.writers == 1 else f"≥ {TARGET_RATIO}: {_target(ratio >= TARGET_RATIO)}"
        rows.append(
            [
                str(ours.writers),
                _rate(ours.best),
                _rate(baseline.best),
                f"**{ratio:.2f}**",
                target,
                f"{_cpu(ours)} / {_cpu(baseline)}",
                f"{_busy(ours)} / {_busy(baseline)}",
            ]
        )
    parts = [
        "## 1. Appends, one event per transaction",
        "",
        f"{results.events_per_run:,} events per run; {results.repeats} rounds, each a run of "
        "the store and one of the baseline back to back (in turns: the order reverses each "
        "round), after a warm-up. Rates: the best run of each. Ratio: the median over the "
        "rounds of the store's rate against the baseline's in the same round, so that both "
        "sides of each pair share the machine's speed of the moment. Baseline: single-row "
        "INSERT transactions (plain psycopg, in autocommit like the store's own) into a "
        "table with the same columns, types, unique keys and payload, without triggers. "
        "Writers are asyncio tasks in one process, one pooled connection each. Both write "
        f"as the log's own role (`{service_role(APPENDS_SCHEMA)}`: neither owner nor superuser).",
        "",
        table(
            [
                "Writers",
                "EventStore.append (events/s)",
                "Raw INSERT (events/s)",
                "Ratio",
                "Target",
                "Client CPU µs/event (store / raw)",
                "Machine busy (store / raw)",
            ],
            rows,
            "rrrrlrr",
        ),
        "",
        "All runs (events/s):",
        "",
    ]
    for ours, baseline in results.configs:
        pairs = ", ".join(
            f"{o / b:.2f}" for o, b in zip(ours.rates, baseline.rates, strict=True) if b
        )
        parts.append(
            f"- {ours.writers} writer(s): store {_runs(ours)}; raw {_runs(baseline)}; "
            f"ratio by round {pairs}"
        )
    parts += ["", "Gap-free check:", ""]
    parts += [f"- {'✅' if c.ok else '❌'} {c.summary()}" for c in results.checks]
    return "\n".join(parts)


def _ms(value: float) -> str:
    return f"{value:.1f}"


def _latency_row(r: Latencies, *, stage: bool = False) -> list[str]:
    return [
        f"↳ {r.label}" if stage else r.label,
        _ms(r.p50),
        _ms(r.p95),
        _ms(r.p99),
        _ms(r.max),
        f"{r.received:,} / {r.sent:,}",
        _rate(r.offered_rate),
    ]


def latency_section(results: LatencyResults) -> str:
    base = results.baseline
    rows = []
    for pipeline in results.pipelines:
        rows.append(_latency_row(pipeline.total))
        rows += [_latency_row(s, stage=True) for s in pipeline.stages]
    rows += [_latency_row(b) for b in results.baselines]
    ratios = [
        [
            pipeline.setup,
            f"**{_ratio(pipeline.total.p50 / base.p50)}**",
            f"**{_ratio(pipeline.total.p99 / base.p99)}**",
        ]
        for pipeline in results.pipelines
    ]
    ours = results.ours
    once = all(p.applied_once for p in results.pipelines)
    return "\n".join(
        [
            "## 2. Latency, append committed → consumer's effect committed",
            "",
            f"{results.rate:,.0f} events/s for {results.seconds:g} s on an absolute schedule, "
            f"after a 1 s warm-up. OutboxRelay task (poll interval {RELAY_POLL_INTERVAL} s, woken "
            "by NOTIFY) in the appending process → JetStream → consumer registered with "
            f"`subscribe` (pull: the next event, waited for up to {CONSUMER_IDLE_WAIT:g} s, and "
            f"what is already there behind it, up to {CONSUMER_FETCH_BATCH}), whose effect and "
            "inbox claim commit in one transaction. Measured with the consumer in its own "
            "process (as a consuming service runs) and on the appending process's event loop. "
            "Baselines: JetStream alone, same message size and rate, on a scratch stream, from "
            "the start of the (awaited) publish to receipt. The log and the effects are written "
            f"as the log's own role (`{service_role(LATENCY_SCHEMA)}`); "
            "every NATS client connects as the identity the machine table names.",
            "",
            table(
                ["Path", "p50 ms", "p95 ms", "p99 ms", "max ms", "received / sent", "rate/s"],
                rows,
                "lrrrrrr",
            ),
            "",
            table(["Ratio to JetStream push", "p50", "p99"], ratios, "lrr"),
            "",
            "CPU time per event while measuring (µs; from the first measured append until the "
            "last effect committed):",
            "",
            cpu_table(results.pipelines),
            "",
            f"Target p99 < {TARGET_P99_MS:g} ms ({results.pipelines[0].setup}): "
            f"{_target(ours.p99 < TARGET_P99_MS)} (p99 {_ms(ours.p99)} ms). Every event's effect "
            f"applied exactly once: {'yes' if once else '**no**'}.",
        ]
    )


def cpu_table(pipelines: Sequence[Pipeline]) -> str:
    groups = list(pipelines[0].cpu.seconds)
    rows = []
    for pipeline in pipelines:
        cells = []
        for group in groups:
            seconds = pipeline.cpu.seconds.get(group)
            if seconds is not None:
                cells.append(f"{seconds / pipeline.events * 1e6:,.0f}")
            elif group == CONSUMING:
                cells.append("(in the appending process)")
            else:
                cells.append("(not observable)")
        rows.append([pipeline.setup, *cells, f"{pipeline.cpu.machine_busy:.0%}"])
    return table(["Setup", *groups, "Machine busy"], rows, "l" + "r" * (len(groups) + 1))


def _kb(value: int) -> str:
    return f"{value / 1024:,.0f} KiB" if value < 1024**2 else f"{value / 1024**2:,.1f} MiB"


def _fms(value: float) -> str:
    return f"{value:,.1f}"


def _x(value: float) -> str:
    return f"{value:.2f}"


def framework_section(results: FrameworkResults) -> str:
    ours, raw = results.best_import, results.best_baseline
    import_rows = [
        [
            "parse",
            "`formats.read` (YAML, line map, model validation)",
            _fms(ours.parse * 1000),
            "`yaml.load` (same loader)",
            _fms(raw.parse * 1000),
            _x(ours.parse / raw.parse),
        ],
        [
            "write",
            "replace the draft, then publish version 1",
            _fms((ours.replace + ours.publish) * 1000),
            "one transaction: document row + a row per role",
            _fms(raw.store * 1000),
            _x((ours.replace + ours.publish) / raw.store),
        ],
        ["↳ replace", "`Frameworks.execute(… replace …)`", _fms(ours.replace * 1000), "", "", ""],
        ["↳ publish", "`Frameworks.publish`", _fms(ours.publish * 1000), "", "", ""],
        [
            "**total**",
            "",
            f"**{_fms(ours.total * 1000)}**",
            "",
            f"**{_fms(raw.total * 1000)}**",
            f"**{_x(results.ratio)}**",
        ],
    ]
    runs = ", ".join(_fms(r.total * 1000) for r in results.imports)
    baseline_runs = ", ".join(_fms(r.total * 1000) for r in results.baselines)
    written_rows = [
        [w.what, f"{w.rows:,}", f"{w.json_bytes:,}", f"{w.stored_bytes:,}"] for w in results.written
    ]
    written_rows.append(_written_total("**service, total**", results.written))
    written_rows += [
        [f"baseline: {w.what}", f"{w.rows:,}", f"{w.json_bytes:,}", f"{w.stored_bytes:,}"]
        for w in results.baseline_written
    ]
    written_rows.append(_written_total("**baseline, total**", results.baseline_written))
    wal_ours = statistics.median(r.wal_bytes for r in results.imports)
    wal_raw = statistics.median(r.wal_bytes for r in results.baselines)
    events = sum(w.rows for w in results.written if w.what.startswith("event "))
    domain = "; ".join(f"{name} {_fms(s * 1000)} ms" for name, s in results.domain.items())
    event_type, event_bytes = results.largest_event
    parts = [
        "## 3. Framework service: import, publish, as-of",
        "",
        "A generated framework (bench/framework_model.py), valid by `rules.validate` (warnings "
        f"only: {', '.join(results.warnings) or 'none'}):",
        "",
        table(["Framework", ""], [[k, f"{v:,}"] for k, v in results.shape.items()], "lr"),
        "",
        f"Its YAML export (`formats.write`) is {results.yaml_bytes:,} bytes.",
        "",
        "### Import and publish version 1",
        "",
        f"Best of {len(results.imports)} runs each, in turns with the baseline (order reversed "
        "every round), after a warm-up; each run on a fresh framework id. Ratio = service time / "
        "baseline time (how many times the baseline's time; lower is better). The baseline is "
        "plain PyYAML and psycopg, with no validation, no events and no read model.",
        "",
        table(
            ["Step", "Service", "ms", "Baseline", "ms", "Ratio"],
            import_rows,
            "llrlrr",
        ),
        "",
        f"All runs (ms): service {runs}; baseline {baseline_runs}; the machine "
        f"{results.busy.get('import', 0):.0%} busy.",
        "",
        f"CPU-only steps inside publish (no database, best of 3): {domain}.",
        "",
        f"Longest event-loop stall during the service's import and publish: "
        f"{_fms(ours.stall * 1000)} ms (the whole process serves nothing else meanwhile).",
        "",
        f"Written by one import and publish ({events} events, one transaction for the draft and "
        "one for the publication):",
        "",
        table(
            ["Rows", "Count", "JSON bytes", "Stored bytes (pg_column_size)"], written_rows, "lrrr"
        ),
        "",
        f"WAL per run (median): service {_kb(int(wal_ours))}, baseline {_kb(int(wal_raw))}: "
        f"ratio **{_x(wal_ours / wal_raw)}**.",
        "",
        f"FrameworkPublished payload: {results.published_bytes:,} bytes, "
        f"**{results.published_bytes / MAX_PAYLOAD_BYTES:.1%}** of `MAX_PAYLOAD_BYTES` "
        f"({MAX_PAYLOAD_BYTES:,}); the largest event is {event_type} at {event_bytes:,} bytes.",
        "",
        _history_part(results),
    ]
    return "\n".join(parts)


def _written_total(label: str, written: Sequence[Written]) -> list[str]:
    return [
        label,
        f"{sum(w.rows for w in written):,}",
        f"{sum(w.json_bytes for w in written):,}",
        f"{sum(w.stored_bytes for w in written):,}",
    ]


def _history_part(results: FrameworkResults) -> str:
    n = results.versions
    history = results.history
    as_of, by_key = results.as_of, results.by_key
    assert as_of is not None
    assert by_key is not None
    revisions = ", ".join(f"{count} {kind}" for kind, count in sorted(results.revisions.items()))
    query_rows = [
        [
            label,
            f"{spread.samples:,}",
            _fms(spread.p50),
            _fms(spread.p99),
            _fms(spread.max),
            _fms(spread.mean),
        ]
        for label, spread in (
            ("`Frameworks.published(id, as_of=t)`", as_of),
            ("baseline: `SELECT framework … WHERE framework_id, version` (PK)", by_key),
        )
    ]
    milestones = sorted({2, *range(10, n, 10), n})
    loads = sorted(results.loads, key=lambda r: r.total)
    best = loads[0]
    median = statistics.median(r.total for r in loads)
    return "\n".join(
        [
            f"### History of {n} versions, as-of queries and the aggregate's load",
            "",
            f"Versions 2 to {n} of one framework, each a draft replace then publish through the "
            f"same commands, rewording {REWORDED_PER_VERSION} anchors (revisions found: "
            f"{revisions}); {sum(history):,.1f} s in all, the machine "
            f"{results.busy.get('history', 0):.0%} busy. The framework's stream then holds "
            f"{results.stream_events:,} events, {_kb(results.stream_json_bytes)} of payload "
            "JSON (as jsonb text).",
            "",
            table(
                ["Version", *(str(v) for v in milestones)],
                [
                    [
                        "replace + publish, ms",
                        *(f"{history[v - 2] * 1000:,.0f}" for v in milestones),
                    ]
                ],
                "l" + "r" * len(milestones),
            ),
            "",
            "As-of queries at random instants spread over the history (and a little past it), "
            "each checked against the version in force; in turns with the baseline, which "
            "fetches the same row by primary key through the same pool. Ratio = ours / baseline.",
            "",
            table(
                ["Query", "Samples", "p50 ms", "p99 ms", "max ms", "mean ms"], query_rows, "lrrrrr"
            ),
            "",
            f"Ratio: p50 **{_x(as_of.p50 / by_key.p50)}**, p99 **{_x(as_of.p99 / by_key.p99)}**. "
            f"Longest event-loop stall while querying: {_fms(results.as_of_stall * 1000)} ms; "
            f"machine {results.busy.get('as-of', 0):.0%} busy.",
            "",
            f"`Frameworks.draft` at version {n} (absolute; every draft command and every publish "
            f"loads the aggregate first): best {_fms(best.total * 1000)} ms, median "
            f"{_fms(median * 1000)} ms of {len(loads)}. Baseline: replaying the whole stream "
            f"from its start (what a load without whole-document events would do), "
            f"`read_stream` {_fms(best.read * 1000)} ms + decoding and applying every event "
            f"{_fms(best.decode * 1000)} ms; ratio "
            f"**{_x(best.total / (best.read + best.decode))}**. With Python's cyclic garbage "
            f"collector paused, the same load takes {_fms(min(r.without_gc for r in loads) * 1000)}"
            f" ms (best). Longest event-loop stall: {_fms(max(r.stall for r in loads) * 1000)} ms.",
        ]
    )


def _per_s(rate: Rate) -> str:
    return f"{rate.rate:,.0f}"


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _s(value: float) -> str:
    return f"{value:,.2f}"


def _mib(value: int) -> str:
    return f"{value / 2**20:,.0f} MiB"


def _machine(rate: Rate | Delivery, cores: int) -> str:
    """How busy the machine was, and the share of it no measured process accounts for:
    other work on a shared machine, which the figures of that row carry as noise."""
    if rate.cpu is None:
        return "-"
    wall = rate.seconds if isinstance(rate, Rate) else rate.delivered
    measured = sum(s for s in rate.cpu.seconds.values() if s is not None) / (wall * cores)
    return f"{rate.cpu.machine_busy:.0%} ({max(0.0, rate.cpu.machine_busy - measured):.0%})"


# CPU groups of the ingest measurements (bench.assessment).
HERE, POSTGRES = "benchmark process", "PostgreSQL"


def _seeding_row(what: str, rate: Rate | None, cores: int) -> list[str]:
    assert rate is not None
    return [
        what,
        f"{rate.count:,}",
        _s(rate.seconds),
        f"**{_per_s(rate)}**",
        _us(rate.cpu_us(HERE)),
        _us(rate.cpu_us(POSTGRES)),
        _machine(rate, cores),
    ]


def _ingest_row(
    what: str, runs: Sequence[Rate], best: Rate, per_submission: int, cores: int
) -> list[str]:
    return [
        what,
        f"**{_per_s(best)}**",
        f"{best.rate * per_submission:,.0f}",
        ", ".join(_per_s(r) for r in runs),
        _us(best.cpu_us(HERE)),
        _us(best.cpu_us(POSTGRES)),
        _machine(best, cores),
    ]


def assessment_section(results: AssessmentResults) -> str:
    api, raw, seeded, health = results.api_best, results.raw_best, results.seeded, results.health
    assert seeded is not None
    assert health is not None
    per_submission = results.ratings // max(results.submissions, 1)
    cores = results.cores
    groups = ", ".join(f"{group} {count:,}" for group, count in sorted(results.groups.items()))
    command_header = [
        "Through the application modules (8 tasks)",
        "Commands",
        "Seconds",
        "Commands/s",
        "µs CPU here each",
        "µs PostgreSQL each",
        "Machine busy (others)",
    ]
    parts = [
        "## 4. Assessment: a 360 campaign, from submissions to results",
        "",
        f"{results.people:,} people x 6 raters x 10 competencies: {results.submissions:,} "
        f"submissions, {results.ratings:,} ratings (by group: {groups}; the peers nominated "
        "by their subject and approved by their manager). Everything runs through the "
        "assessment service's code in this process, on a pool configured as the service's, "
        "in the schema `bench_assessment`. Machine busy, in every table: all cores; in "
        "brackets, the share no measured process accounts for (other work on the machine). "
        "Setup, not compared with anything: "
        + "; ".join(f"{name} {_s(seconds)} s" for name, seconds in results.setup.items())
        + ".",
        "",
        table(
            command_header,
            [
                _seeding_row("nominate, then approve, every peer", results.nominations, cores),
                _seeding_row("submissions outside the API sample (`submit`)", seeded, cores),
            ],
            "lrrrrrr",
        ),
        "",
        "### Submission ingest through the API",
        "",
        f"{sum(r.count for r in results.api):,} submissions (a random sample of the "
        f"campaign's) as `PUT /campaigns/{{id}}/submissions/{{subject}}`, in "
        f"{len(results.api)} parts taking turns with the baseline (the order reversed every "
        "round); 8 concurrent clients; the outbox relay not running. The app is the service's "
        "FastAPI app (`build`) behind httpx's ASGI transport in this process, with an RS256 "
        "token per rater. Baseline: the same submissions as plain psycopg INSERTs into a "
        "table shaped like `submissions` (the service's upsert, answers as JSONB), one "
        "transaction each, 8 tasks. Ratio = API rate / baseline rate, best parts (higher is "
        "better).",
        "",
        table(
            [
                "Path",
                "Submissions/s",
                "Ratings/s",
                "All parts",
                "µs CPU here each",
                "µs PostgreSQL each",
                "Machine busy (others)",
            ],
            [
                _ingest_row("HTTP API", results.api, api, per_submission, cores),
                _ingest_row("baseline: raw INSERT", results.raw, raw, per_submission, cores),
                _ingest_row(
                    "`rating.submit` (seeding, no HTTP)", [seeded], seeded, per_submission, cores
                ),
            ],
            "lrrrrrr",
        ),
        "",
        f"Ratio API / raw INSERT: **{api.rate / raw.rate:.3f}** (1 to "
        f"{raw.rate / api.rate:,.1f}); `rating.submit` / raw INSERT: "
        f"{seeded.rate / raw.rate:.3f}. The HTTP stack alone, `GET /health` through the same "
        f"client and app (no database, no token): {_per_s(health)} requests/s, about "
        f"{1e6 / health.rate:,.0f} µs of this process per request.",
        "",
        _events_part(results),
        "",
        _aggregation_part(results),
    ]
    return "\n".join(parts)


def _delivery_row(label: str, delivery: Delivery, cores: int) -> list[str]:
    return [
        label,
        f"{delivery.events:,}",
        _s(delivery.published),
        f"{delivery.publish_rate:,.0f}",
        _s(delivery.delivered),
        f"**{delivery.rate:,.0f}**",
        _machine(delivery, cores),
    ]


def _cpu_per_event(delivery: Delivery) -> str:
    seconds = delivery.cpu.seconds.items() if delivery.cpu else []
    return ", ".join(
        f"{group} {_us(None if s is None else s / delivery.events * 1e6)}" for group, s in seconds
    )


def _events_part(results: AssessmentResults) -> str:
    events, jetstream = results.events, results.jetstream
    assert events is not None
    assert jetstream is not None
    return "\n".join(
        [
            "### Submission ingest through events",
            "",
            "The API sample's `AssessmentSubmitted` events, waiting in the log (each beside the "
            "private `SubmissionRecorded`, which the relay reads and skips): from the start of "
            "an `OutboxRelay` in this process, as `runtime.serve` runs it, until a consumer "
            "process registered with `subscribe` has committed the last one (a row per event "
            "in a response-rate table, with its inbox claim). Baseline: JetStream alone, as "
            f"many {results.message_bytes:,}-byte messages (the envelope's size) published "
            "500 at a time without waiting for each acknowledgement, as the relay does, on a "
            "scratch stream, and pulled by a process of its own in batches of 10, each "
            "acknowledged, as the consumers do. Ratio = ours / baseline (rates; higher is "
            "better).",
            "",
            table(
                [
                    "Path",
                    "Events",
                    "Published after s",
                    "Published/s",
                    "Consumed after s",
                    "Consumed/s",
                    "Machine busy (others)",
                ],
                [
                    _delivery_row("relay → JetStream → consumer", events, results.cores),
                    _delivery_row("baseline: JetStream alone", jetstream, results.cores),
                ],
                "lrrrrrr",
            ),
            "",
            f"Ratio: **{events.rate / jetstream.rate:.2f}** publish to consumed, "
            f"{events.publish_rate / jetstream.publish_rate:.2f} for publishing alone. CPU "
            f"per event (µs): {_cpu_per_event(events)}; baseline: {_cpu_per_event(jetstream)}.",
        ]
    )


def _aggregation_part(results: AssessmentResults) -> str:
    steps, baseline, memory = results.steps, results.baseline, results.memory
    assert memory is not None
    best = {name: min(values) for name, values in steps.items()}
    floor = {name: min(values) for name, values in baseline.items()}
    ours_total = best["read"] + best["aggregate"]
    raw_total = floor["read"] + floor["aggregate"]
    extra = {
        "subject_view": "every subject's anonymised view",
        "rater_offsets": "calibration: each rater's leniency",
        "inconsistent_anchors": "calibration: raters far apart, per competency",
        "outliers": "calibration: z-scores against the population",
    }
    rows = [
        [
            "read",
            "`results.ratings`: the campaign, the query, a `Rating` per rating",
            _s(best["read"]),
            "the same query, a tuple per rating",
            _s(floor["read"]),
            _x(best["read"] / floor["read"]),
        ],
        [
            "aggregate",
            "`aggregate`: group means and responses, comments, weighted overall",
            _s(best["aggregate"]),
            "a mean per (subject, competency) in a dict",
            _s(floor["aggregate"]),
            _x(best["aggregate"] / floor["aggregate"]),
        ],
        [
            "**read + aggregate**",
            "",
            f"**{_s(ours_total)}**",
            "",
            f"**{_s(raw_total)}**",
            f"**{_x(ours_total / raw_total)}**",
        ],
        *([name, text, _s(best[name]), "", "", ""] for name, text in extra.items()),
    ]
    runs = "; ".join(f"{name} {', '.join(_s(v) for v in values)}" for name, values in steps.items())
    floor_runs = "; ".join(
        f"{name} {', '.join(_s(v) for v in values)}" for name, values in baseline.items()
    )
    found = ", ".join(f"{name} {count:,}" for name, count in results.found.items())
    seconds, size = results.results_http
    return "\n".join(
        [
            f"### Aggregating {results.ratings:,} ratings",
            "",
            f"After closing the campaign (`closing.close`, {_s(results.close)} s). Best of "
            f"{results.sizes.aggregation_runs} runs, in turns with the baseline, the garbage "
            "collected before each; seconds. Ratio = service / baseline (lower is better).",
            "",
            table(["Step", "Service", "s", "Baseline", "s", "Ratio"], rows, "llrlrr"),
            "",
            f"All runs (s): {runs}; baseline {floor_runs}. The machine was "
            f"{results.busy.get('aggregation', 0):.0%} busy. Found: {found}.",
            "",
            f"HR's `GET /campaigns/{{id}}/results` for everyone, every page of 500 subjects "
            f"(`results.results`, then FastAPI's response model): {_s(seconds)} s, "
            f"{size / 2**20:,.1f} MiB of JSON.",
            "",
            "Memory: Python allocations traced with tracemalloc, in a run of its own (tracing "
            "slows the code down). Ratio = size / the raw tuples' size.",
            "",
            table(
                ["What", "Size", "Ratio"],
                [
                    [
                        "peak while reading, aggregating and viewing everything",
                        f"**{_mib(memory.peak)}**",
                        f"**{_x(memory.peak / memory.raw_tuples)}**",
                    ],
                    [
                        "kept: the `Rating` list",
                        _mib(memory.ratings),
                        _x(memory.ratings / memory.raw_tuples),
                    ],
                    [
                        "kept: the results and subject views",
                        _mib(memory.results),
                        _x(memory.results / memory.raw_tuples),
                    ],
                    ["baseline: the ratings as plain tuples", _mib(memory.raw_tuples), "1.00"],
                ],
                "lrr",
            ),
            "",
            f"The process's maximum resident set rose by {_mib(memory.maxrss_delta)} during the "
            f"first (untraced) aggregation run; {_mib(memory.maxrss)} at the end of the run.",
        ]
    )


def render(
    machine: Mapping[str, str],
    appends: AppendResults | None,
    latency: LatencyResults | None,
    framework: FrameworkResults | None,
    assessment: AssessmentResults | None,
    command: str,
    sections: Sequence[str] = (),
) -> str:
    parts = [
        "# TalentLedger benchmarks",
        "",
        f"`{command}`",
        "",
        table(["Machine", ""], [[k, v] for k, v in machine.items()]),
    ]
    if appends is not None:
        parts += ["", appends_section(appends)]
    if latency is not None:
        parts += ["", latency_section(latency)]
    if framework is not None:
        parts += ["", framework_section(framework)]
    if assessment is not None:
        parts += ["", assessment_section(assessment)]
    for section in sections:
        parts += ["", section]
    return "\n".join(parts) + "\n"
