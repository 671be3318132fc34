"""`talentledger`: the one command line for running, operating and integrating TalentLedger."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from libs.platform.settings import Settings

app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_show_locals=False)
events_app = typer.Typer(
    help="The event backbone: AsyncAPI, dead letters, relays.", no_args_is_help=True
)
app.add_typer(events_app, name="events")
console = Console()
err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(1)


@app.command()
def up() -> None:
    """Start the embedded stack (servers not given by environment) and every service."""
    from talentledger.stack.servers import ServerError
    from talentledger.stack.supervisor import Stack

    stack = Stack(Settings())
    with console.status("starting") as spinner:
        try:
            state = stack.up(progress=lambda part: spinner.update(f"starting {part}"))
        except ServerError as error:
            raise _fail(str(error)) from None
    _print_status(stack)
    console.print(f"\nPostgreSQL  {state.database_url}")
    console.print(f"NATS        {state.nats_url}  monitoring: {state.nats_monitor_url or '-'}")
    console.print(f"Temporal    {state.temporal_address}  UI: {state.temporal_ui_url or '-'}")
    console.print(f"Data        {stack.home}")
    console.print("Token       talentledger token --role hr_admin --sub alice")


@app.command()
def demo() -> None:
    """Start the embedded stack and run a review cycle through the real APIs and events."""
    from talentledger import demo as main_job
    from talentledger.stack.servers import ServerError

    try:
        main_job.run(Settings(), console)
    except (ServerError, main_job.DemoFailed) as error:
        raise _fail(str(error)) from None


@app.command()
def down() -> None:
    """Stop every service and the embedded servers. Data is kept."""
    from talentledger.stack.supervisor import Stack

    Stack(Settings()).down()
    console.print("stopped")


@app.command()
def status() -> None:
    """Show what runs and where."""
    from talentledger.stack.supervisor import Stack

    _print_status(Stack(Settings()))


def _print_status(stack: object) -> None:
    from rich.table import Table

    table = Table("component", "state", "where")
    for row in stack.status():  # type: ignore[attr-defined]
        table.add_row(*row)
    console.print(table)


@app.command()
def token(
    role: Annotated[list[str], typer.Option(help="a role to grant; repeat for several")],
    sub: Annotated[str, typer.Option(help="the subject: who the token speaks for")],
    hours: Annotated[float, typer.Option(min=0.01, help="validity")] = 12,
) -> None:
    """Mint a development bearer token signed by the embedded stack's key."""
    from datetime import timedelta

    from libs.platform.auth import ensure_dev_keypair, mint_token

    settings = Settings()
    private, _ = ensure_dev_keypair(settings.home.absolute() / "keys")
    try:
        print(
            mint_token(
                private,
                sub,
                role,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                ttl=timedelta(hours=hours),
            )
        )
    except ValueError as error:
        raise _fail(str(error)) from None


@events_app.command("asyncapi")
def asyncapi(
    output: Annotated[Path, typer.Option("--output", "-o", help="file to write")] = Path(
        "asyncapi.yaml"
    ),
) -> None:
    """Write the AsyncAPI document of every integration event."""
    from libs.events.asyncapi import as_yaml

    output.write_text(as_yaml(), encoding="utf-8")
    console.print(f"wrote {output}")


@events_app.command("replay-dead-letters")
def replay_dead_letters(
    consumer: Annotated[str | None, typer.Option(help="only this consumer's dead letters")] = None,
) -> None:
    """Re-drive dead-lettered events to the consumers that gave up on them."""
    from libs.events.broker import make_broker
    from libs.events.consumer import replay_dead_letters as replay

    settings = _stack_settings()

    async def run() -> int:
        broker = make_broker(settings.require_nats_url(), client_name="replay-dead-letters")
        await broker.connect()
        try:
            return await replay(broker, consumer)
        finally:
            await broker.stop()

    console.print(f"replayed {asyncio.run(run())} dead letter(s)")


@events_app.command("relay")
def relay(
    schema: Annotated[str, typer.Option(help="the service schema whose event log to relay")],
    batch_size: Annotated[int, typer.Option(min=1)] = 500,
) -> None:
    """Run one service's outbox relay on its own (services also run it in-process)."""
    from libs.platform.runtime import run_relay

    asyncio.run(run_relay(_stack_settings(), schema, batch_size))


def _stack_settings() -> Settings:
    """Settings, with server addresses taken from a running embedded stack when not set."""
    settings = Settings()
    from talentledger.stack.supervisor import with_stack_addresses

    return with_stack_addresses(settings)


if __name__ == "__main__":
    app()
