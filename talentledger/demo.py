"""The main job: a review cycle on the embedded stack, through the real APIs and events.

So far the cycle runs its first stage (the framework version every service pins to); the
stages after it arrive with the services' domains.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from libs.platform.auth import ensure_dev_keypair, mint_token
from libs.platform.settings import Settings
from libs.platform.telemetry import read_spans
from talentledger.framework_files import FrameworkRequestFailed, import_file
from talentledger.stack.supervisor import SERVICES, Stack, StackState

FRAMEWORK_ID = "product-engineering"
SAMPLE = "engineering-framework.yaml"
CONSUMERS = ("assessment", "development", "promotion")


class DemoFailed(RuntimeError):
    pass


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise DemoFailed(f"timed out after {timeout:.0f}s waiting for {what}")


def run(settings: Settings, console: Console) -> None:
    stack = Stack(settings)
    steps = ["PostgreSQL", "NATS JetStream", "Temporal", *(f"{s} service" for s in SERVICES)]
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        starting = progress.add_task("starting the stack", total=len(steps))
        state = stack.up(
            progress=lambda part: progress.update(
                starting, advance=1, description=f"starting {part}"
            )
        )
        progress.update(starting, completed=len(steps), description="stack is up")
        private_key, _ = ensure_dev_keypair(stack.home / "keys")
        token = mint_token(
            private_key,
            "demo-hr",
            ["hr_admin"],
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=15) as http:
            outcome, version = _cycle(state, http, progress)
    _summary(console, stack, state, outcome, version)


def _url(state: StackState, service: str) -> str:
    return state.services[service].url


def _cycle(state: StackState, http: httpx.Client, progress: Progress) -> tuple[dict[str, Any], int]:
    task = progress.add_task("publishing the sample framework", total=3 + len(CONSUMERS))
    with resources.as_file(resources.files("talentledger.samples") / SAMPLE) as sample:
        try:
            imported = import_file(
                http, _url(state, "framework"), sample, FRAMEWORK_ID, publish=True
            )
        except FrameworkRequestFailed as error:
            raise DemoFailed(str(error)) from None
    version = imported.version
    assert version is not None
    progress.update(task, advance=1, description=f"framework v{version} in force")
    for service in CONSUMERS:
        _wait(
            lambda s=service: any(
                v["framework_id"] == FRAMEWORK_ID and v["version"] == version
                for v in http.get(f"{_url(state, s)}/framework-versions").json()
            ),
            60,
            f"{service} to receive FrameworkPublished",
        )
        progress.update(task, advance=1, description=f"{service} holds v{version}")
    started = http.post(
        f"{_url(state, 'cycles')}/cycles",
        json={"framework": {"framework_id": FRAMEWORK_ID, "version": version}},
    )
    if started.status_code != 202:
        raise DemoFailed(f"starting the cycle failed: {started.text}")
    cycle_id = started.json()["cycle_id"]
    progress.update(task, advance=1, description=f"{cycle_id} running")

    def finished() -> dict[str, Any] | None:
        status = http.get(f"{_url(state, 'cycles')}/cycles/{cycle_id}").json()
        progress.update(task, description=f"cycle: {status.get('stage') or status['status']}")
        return status if status["status"] != "RUNNING" else None

    outcome = _wait(finished, 120, "the review cycle")
    if outcome["status"] != "COMPLETED":
        raise DemoFailed(f"the cycle ended {outcome['status']}: {outcome.get('failure')}")
    progress.update(task, advance=1, description="cycle completed")
    return outcome, version


def _summary(
    console: Console, stack: Stack, state: StackState, outcome: dict[str, Any], version: int
) -> None:
    console.rule("Review cycle")
    console.print(f"cycle            {outcome['cycle_id']}: {outcome['status']}")
    console.print(f"framework        {FRAMEWORK_ID} v{version}")
    confirmed = ", ".join(c["service"] for c in outcome["outcome"]["confirmations"])
    console.print(f"pinned by        {confirmed}")
    time.sleep(1)  # spans are exported in batches every half second
    traces: dict[str, set[str]] = {}
    for span in read_spans(stack.settings.traces.absolute()):
        trace_id = str(span["context"]["trace_id"])  # type: ignore[index]
        traces.setdefault(trace_id, set()).add(span["resource"]["attributes"]["service.name"])  # type: ignore[index]
    widest = max(traces.items(), key=lambda item: len(item[1]), default=("-", set()))
    console.print(f"widest trace     {widest[0]} across {', '.join(sorted(widest[1]))}")
    console.print(f"spans            {stack.settings.traces.absolute()}/<service>.jsonl")
    table = Table("where", "address")
    for service in SERVICES:
        table.add_row(f"{service} API", f"{state.services[service].url}/docs")
    table.add_row("Temporal UI", state.temporal_ui_url or state.temporal_address)
    table.add_row("NATS monitoring", state.nats_monitor_url or state.nats_url)
    table.add_row("data", str(stack.home))
    console.print(table)
    console.print("The stack keeps running: `./tl status`, `./tl token --role hr_admin --sub you`,")
    console.print("`./tl down` to stop it (data is kept).")
