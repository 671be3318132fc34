"""`python -m bench` (`./tl bench`): run the benchmarks and print a markdown report."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import signal
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType

from rich.console import Console

from bench import (
    appends,
    assessment,
    calibration,
    cycle,
    decision_log,
    development,
    framework,
    heatmap,
    idle,
    latency,
    pipeline,
    sealed_appends,
)
from bench.report import render
from bench.stack import bench_stack, machine_info


@dataclass(frozen=True)
class Sizes:
    events: int
    """Appends per timed run."""
    repeats: int
    """Rounds of timed runs per configuration: each a run of every way compared."""
    seconds: float
    """Duration of each latency measurement."""
    framework: framework.FrameworkSizes
    assessment: assessment.AssessmentSizes
    decision_log: decision_log.DecisionLogSizes
    development: development.DevelopmentSizes
    heatmap: heatmap.HeatmapSizes
    pipeline: pipeline.PipelineSizes
    cycle: cycle.CycleSizes
    idle: idle.IdleSizes
    calibration: calibration.CalibrationSizes


FULL = Sizes(
    events=8000,
    repeats=5,
    seconds=10.0,
    framework=framework.FULL,
    assessment=assessment.FULL,
    decision_log=decision_log.FULL,
    development=development.FULL,
    heatmap=heatmap.FULL,
    pipeline=pipeline.FULL,
    cycle=cycle.FULL,
    idle=idle.FULL,
    calibration=calibration.FULL,
)
QUICK = Sizes(
    events=400,
    repeats=3,
    seconds=2.0,
    framework=framework.QUICK,
    assessment=assessment.QUICK,
    decision_log=decision_log.QUICK,
    development=development.QUICK,
    heatmap=heatmap.QUICK,
    pipeline=pipeline.QUICK,
    cycle=cycle.QUICK,
    idle=idle.QUICK,
    calibration=calibration.QUICK,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark event appends, append-to-consumer latency, the framework "
        "service on a large framework, the assessment service on a 10,000-person campaign, "
        "whole review cycles on the embedded stack, a calibration session at 10,000 people, "
        "appends of events with a personal field "
        "sealed against appends without, and the CPU an idle stack burns. Uses DATABASE_URL "
        "and NATS_URL when set, else starts embedded servers for the run (review cycles and "
        "the idle stack: always embedded).",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a short smoke run (400 events per run, 2 s, framework history of 5 versions, "
        "a campaign of 300 people, review cycles of 300 and 1,000 people, idle windows of 20 s, "
        "a calibration session of 1,000 people)",
    )
    parser.add_argument(
        "--output", type=Path, metavar="PATH", help="also write the markdown report here"
    )
    parser.add_argument(
        "--only",
        choices=(
            "appends",
            "latency",
            "framework",
            "assessment",
            "decision_log",
            "development",
            "heatmap",
            "pipeline",
            "cycle",
            "sealed_appends",
            "idle",
            "calibration",
        ),
        help="run one benchmark instead of all twelve",
    )
    parser.add_argument(
        "--people",
        type=int,
        nargs="+",
        metavar="N",
        help="head counts of the review-cycle benchmark, instead of its default sizes, or "
        "the one head count of the assessment or calibration benchmark's campaign (at least "
        "300: below, the assessment benchmark's generated departments are too small)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="assessment benchmark: also profile people's requests with cProfile (apart "
        "from the timed ones) and print each endpoint's top costs",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=latency.RATE,
        metavar="N",
        help=f"events per second for the latency benchmark (default {latency.RATE:g})",
    )
    args = parser.parse_args(argv)
    if args.people and min(args.people) < 300:
        parser.error(f"--people: {min(args.people)} is too few; give 300 or more")
    if args.people and args.only not in ("cycle", "assessment", "calibration"):
        parser.error(
            "--people sizes the review-cycle, assessment or calibration benchmark: add --only"
        )
    if args.people and args.only in ("assessment", "calibration") and len(args.people) > 1:
        parser.error(f"--people: the {args.only} benchmark takes one head count")
    if args.profile and args.only != "assessment":
        parser.error("--profile profiles the assessment benchmark: add --only assessment")
    return args


async def main(args: argparse.Namespace, console: Console) -> str:
    sizes = QUICK if args.quick else FULL
    command = shlex.join(["./tl", "bench", *sys.argv[1:]])
    if args.only == "cycle":
        # Each size starts a whole stack of its own: no shared benchmark servers.
        people = tuple(args.people) if args.people else sizes.cycle.people
        machine, section = await cycle.run(console, cycle.CycleSizes(people=people))
        return render(machine, None, None, None, None, command, [section])
    if args.only == "idle":
        machine, section = await idle.run(console, sizes.idle)
        return render(machine, None, None, None, None, command, [section])
    without_nats = args.only in (
        "framework",
        "decision_log",
        "development",
        "heatmap",
        "pipeline",
        "sealed_appends",
        "calibration",
    )
    with bench_stack(console, with_nats=not without_nats) as stack:
        machine = await machine_info(
            stack.database_url,
            stack.postgres_origin,
            stack.nats_url,
            stack.nats_origin,
            stack.nats_credentials,
        )
        append_results = latency_results = framework_results = assessment_results = None
        sections: list[str] = []
        if args.only in (None, "appends"):
            append_results = await appends.run(
                stack.roles, console, events=sizes.events, repeats=sizes.repeats
            )
        if args.only in (None, "sealed_appends"):
            sections.append(
                await sealed_appends.run(
                    stack.roles, console, events=sizes.events, repeats=sizes.repeats
                )
            )
        if args.only in (None, "latency"):
            assert stack.nats_url is not None
            latency_results = await latency.run(
                stack.roles,
                stack.nats_url,
                stack.nats_credentials,
                console,
                seconds=sizes.seconds,
                rate=args.rate,
            )
        if args.only in (None, "framework"):
            framework_results = await framework.run(stack.database_url, console, sizes.framework)
        if args.only in (None, "assessment"):
            assert stack.nats_url is not None
            chosen = sizes.assessment
            if args.people:
                people = args.people[0]
                chosen = replace(
                    chosen, people=people, api_submissions=min(chosen.api_submissions, people)
                )
            if args.profile:
                chosen = replace(chosen, profile=True)
            assessment_results = await assessment.run(
                stack.roles, stack.nats_url, stack.nats_credentials, console, chosen
            )
        if args.only in (None, "development"):
            sections.append(await development.run(stack.database_url, console, sizes.development))
        if args.only in (None, "heatmap"):
            sections.append(await heatmap.run(stack.database_url, console, sizes.heatmap))
        if args.only in (None, "pipeline"):
            sections.append(await pipeline.run(stack.database_url, console, sizes.pipeline))
        if args.only in (None, "decision_log"):
            sections.append(await decision_log.run(stack.database_url, console, sizes.decision_log))
        if args.only in (None, "calibration"):
            chosen_size = (
                calibration.CalibrationSizes(people=args.people[0])
                if args.people
                else sizes.calibration
            )
            sections.append(await calibration.run(stack.database_url, console, chosen_size))
    if args.only is None:
        # After the shared servers are gone, so that they take no memory or CPU from it.
        sections.append((await cycle.run(console, sizes.cycle))[1])
        sections.append((await idle.run(console, sizes.idle))[1])
    return render(
        machine,
        append_results,
        latency_results,
        framework_results,
        assessment_results,
        command,
        sections,
    )


def _interrupted(signum: int, _: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run() -> int:
    args = parse_args()
    # stdout carries the report alone: progress goes to stderr, and so does whatever a
    # library writes to stdout (FastStream's access logger does).
    report_out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    console = Console(stderr=True)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # SIGTERM ends the run as Ctrl-C does, so the servers and the database are cleaned up.
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        report = asyncio.run(main(args, console))
    except KeyboardInterrupt:
        console.print("[red]interrupted; servers and the benchmark database were cleaned up[/]")
        return 130
    with report_out:
        report_out.write(report)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report)
        console.print(f"report written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(run())
