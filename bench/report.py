"""The markdown report of a benchmark run."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from bench.appends import TARGET_RATIO, AppendResults, Throughput
from bench.latency import (
    CONSUMER_FETCH_BATCH,
    CONSUMER_FETCH_TIMEOUT,
    CONSUMING,
    RELAY_POLL_INTERVAL,
    TARGET_P99_MS,
    Latencies,
    LatencyResults,
    Pipeline,
)


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
        f"{results.events_per_run:,} events per run; best of {results.repeats} runs, in turns "
        "with the baseline, after a warm-up. Baseline: single-row INSERT transactions (plain "
        "psycopg, BEGIN / INSERT / COMMIT like the store) into a table with the same columns, "
        "types, unique keys and payload, without triggers. Writers are asyncio tasks in one "
        "process, one pooled connection each.",
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
        parts.append(f"- {ours.writers} writer(s): store {_runs(ours)}; raw {_runs(baseline)}")
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
            f"`subscribe` (pull, batch {CONSUMER_FETCH_BATCH}, {CONSUMER_FETCH_TIMEOUT:g} s fetch "
            "timeout), whose effect and inbox claim commit in one transaction. Measured with the "
            "consumer in its own process (as a consuming service runs) and on the appending "
            "process's event loop. Baselines: JetStream alone, same message size and rate, on a "
            "scratch stream, from the start of the (awaited) publish to receipt.",
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


def render(
    machine: Mapping[str, str],
    appends: AppendResults | None,
    latency: LatencyResults | None,
    command: str,
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
    return "\n".join(parts) + "\n"
