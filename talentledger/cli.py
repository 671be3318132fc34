"""`talentledger`: the one command line for running, operating and integrating TalentLedger."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from libs.platform.settings import Settings

if TYPE_CHECKING:
    from faststream.nats import NatsBroker

    from services.cycles.adapters.privacy_http import ErasureStatus
    from talentledger.csv_rows import BadRow

app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_show_locals=False)
events_app = typer.Typer(
    help="The event backbone: AsyncAPI, dead letters, relays.", no_args_is_help=True
)
app.add_typer(events_app, name="events")
framework_app = typer.Typer(
    help="Career frameworks: import, export and publish files.", no_args_is_help=True
)
app.add_typer(framework_app, name="framework")
hris_app = typer.Typer(help="The HRIS integration: the org chart as events.", no_args_is_help=True)
app.add_typer(hris_app, name="hris")
lms_app = typer.Typer(help="The LMS integration: the L&D catalog as events.", no_args_is_help=True)
app.add_typer(lms_app, name="lms")
audit_app = typer.Typer(
    help="The promotion decision log: verify it, and sign checkpoints of its head.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")
db_app = typer.Typer(
    help="The database: roles for an external PostgreSQL, and migrations as the owner.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")
cycle_app = typer.Typer(
    help="Review cycles on Temporal: start, follow and steer them.", no_args_is_help=True
)
app.add_typer(cycle_app, name="cycle")
privacy_app = typer.Typer(
    help="Requests about a person's data: export everything held, or erase it.",
    no_args_is_help=True,
)
app.add_typer(privacy_app, name="privacy")
report_app = typer.Typer(
    help="HR's reports from the development and promotion services, by department, as CSV or JSON.",
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")
console = Console()
err = Console(stderr=True)
T = TypeVar("T")
# `up --replicas`: every process of every service on one machine, the stack's servers too.
MAX_REPLICAS = 16
Item = TypeVar("Item")


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(1)


@app.command()
def up(
    replicas: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_REPLICAS,
            help="processes of each service, all on the service's one address (SO_REUSEPORT); "
            "default: as many as each ran before, 1 at first",
        ),
    ] = None,
) -> None:
    """Start the embedded stack (servers not given by environment) and every service."""
    from talentledger.stack.servers import ServerError
    from talentledger.stack.supervisor import Stack

    stack = Stack(Settings())
    with console.status("starting") as spinner:
        try:
            state = stack.up(
                progress=lambda part: spinner.update(f"starting {part}"), replicas=replicas
            )
        except ServerError as error:
            raise _fail(str(error)) from None
    _print_status(stack)
    console.print(f"\nPostgreSQL  {state.database_url}")
    console.print(f"NATS        {state.nats_url}  monitoring: {state.nats_monitor_url or '-'}")
    console.print(f"Temporal    {state.temporal_address}  UI: {state.temporal_ui_url or '-'}")
    console.print(f"Data        {stack.home}")
    console.print("Token       talentledger token --role hr_admin --sub alice")


@app.command()
def demo(
    people: Annotated[
        int,
        typer.Option(min=20, max=100_000, help="how many people the generated organisation has"),
    ] = 240,
) -> None:
    """Start the embedded stack and run a review cycle through the real APIs and events."""
    from talentledger import demo as main_job
    from talentledger.cycle_driver import CycleFailed
    from talentledger.simulation import SimulationFailed
    from talentledger.stack.servers import ServerError

    try:
        main_job.run(Settings(), console, people)
    except (ServerError, main_job.DemoFailed, CycleFailed, SimulationFailed) as error:
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
    if settings.environment == "production":
        raise _fail("TALENTLEDGER_ENVIRONMENT=production: tokens come from the identity provider")
    if hours * 3600 > settings.jwt_max_lifetime_seconds:
        raise _fail(
            f"the services refuse tokens living over {settings.jwt_max_lifetime_seconds:,}s "
            "(TALENTLEDGER_JWT_MAX_LIFETIME_SECONDS): ask for fewer --hours"
        )
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
    from libs.events.consumer import replay_dead_letters as replay
    from libs.platform.runtime import broker_for

    settings = _stack_settings()

    async def run() -> int:
        broker = broker_for(settings, "replay-dead-letters")
        await broker.connect()
        try:
            return await replay(broker, consumer)
        finally:
            await broker.stop()

    console.print(f"replayed {asyncio.run(run())} dead letter(s)")


@events_app.command("ensure-streams")
def create_streams() -> None:
    """Create the event streams and the payload store, or bring their settings up to date.

    Run as the operator identity (NATS_CREDENTIALS) before the services start: they may
    only read the streams. `talentledger up` does it for the embedded NATS.
    """
    from talentledger.stack.broker_identities import setup_streams

    setup_streams(_stack_settings())
    console.print("streams ready")


@events_app.command("identities")
def identities(
    directory: Annotated[
        Path, typer.Argument(file_okay=False, help="where the seeds and accounts.conf go")
    ],
) -> None:
    """Create the NATS identities of a cluster and the account that grants their rights.

    One NKey seed per service, integration (hris, lms) and the operator, `<name>.nk`, mode
    0600 (existing ones are kept), and `accounts.conf`: their public keys and permissions,
    derived from the code, for the servers' configuration to include (see deploy/nats).
    Give each process only its own seed, as NATS_CREDENTIALS.
    """
    from libs.events.identities import accounts
    from talentledger.stack.broker_identities import broker_users
    from talentledger.stack.supervisor import SERVICES

    users = broker_users(directory.absolute(), SERVICES, Settings())
    (directory / "accounts.conf").write_text(accounts(users), encoding="utf-8")
    console.print(f"wrote {len(users)} identities and {directory / 'accounts.conf'}")


@events_app.command("relay")
def relay(
    schema: Annotated[str, typer.Option(help="the service schema whose event log to relay")],
    batch_size: Annotated[int, typer.Option(min=1)] = 500,
) -> None:
    """Run one service's outbox relay on its own (services also run it in-process)."""
    from libs.events.relay import UnpublishableEvent
    from libs.platform.runtime import run_relay

    # Importing the services registers their private event types, which the relay withholds.
    from talentledger.stack.supervisor import import_services

    import_services()

    try:
        asyncio.run(
            run_relay(_stack_settings(service=schema, nats_identity=schema), schema, batch_size)
        )
    except UnpublishableEvent as error:
        raise _fail(str(error)) from None


ActorOption = Annotated[
    str,
    typer.Option(
        "--as",
        envvar="USER",
        help="who you are: recorded as the actor of every change (development tokens only; "
        "with TALENTLEDGER_TOKEN the token's subject is the actor)",
    ),
]
FrameworkUrl = Annotated[
    str | None,
    typer.Option(
        envvar="TALENTLEDGER_FRAMEWORK_URL",
        help="the framework service; default: the running embedded stack's",
    ),
]


def _service_client(
    service: str, actor: str, url: str | None, role: str = "hr_admin"
) -> tuple[httpx.Client, str]:
    """An HTTP client for a service, authenticated as `actor` holding `role` with a
    development token, or with TALENTLEDGER_TOKEN when it is set."""
    import os

    from libs.platform.auth import ensure_dev_keypair, mint_token
    from talentledger.stack.supervisor import StackState

    settings = Settings()
    if url is None:
        state = StackState.load(settings.home.absolute())
        if state is None or service not in state.services:
            raise _fail("no running stack found: start one with `talentledger up`, or pass --url")
        url = state.services[service].url
    token = os.environ.get("TALENTLEDGER_TOKEN")
    if token is None:
        private, _ = ensure_dev_keypair(settings.home.absolute() / "keys")
        token = mint_token(
            private,
            actor,
            [role],
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    return httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=120), url


def _framework_client(actor: str, url: str | None) -> tuple[httpx.Client, str]:
    return _service_client("framework", actor, url)


@framework_app.command("import")
def framework_import(
    path: Annotated[Path, typer.Argument(exists=True, help="a file, or a directory of files")],
    actor: ActorOption,
    framework_id: Annotated[
        str | None,
        typer.Option("--id", help="framework id (one file only); default: what the file names"),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help="yaml, json, csv, monzo or engineering-ladders; default: detected"
        ),
    ] = None,
    publish: Annotated[bool, typer.Option(help="publish each imported draft")] = False,
    url: FrameworkUrl = None,
) -> None:
    """Import framework files as drafts (and publish them), reporting what could not be mapped."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    from talentledger.framework_files import (
        FrameworkRequestFailed,
        format_issues,
        framework_files,
        import_file,
    )

    files, skipped = framework_files(path)
    if framework_id and len(files) != 1:
        raise _fail("--id names one framework: import a single file with it")
    http, base_url = _framework_client(actor, url)
    failures = 0
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn())
    with http, Progress(*columns, console=console) as progress:
        total = progress.add_task("importing", total=sum(f.stat().st_size for f in files))
        for file in files:
            progress.update(total, description=file.name)
            try:
                imported = import_file(
                    http,
                    base_url,
                    file,
                    framework_id,
                    fmt=fmt,
                    publish=publish,
                    advance=lambda n: progress.advance(total, n),
                )
            except FrameworkRequestFailed as error:
                failures += 1
                progress.console.print(f"[red]✗[/] {escape(str(error))}", soft_wrap=True)
                continue
            version = f" v{imported.version} ({imported.revision})" if imported.version else ""
            progress.console.print(
                f"[green]✓[/] {file} -> {imported.framework_id}{version}", soft_wrap=True
            )
            for line in format_issues(imported.issues):
                progress.console.print(line, soft_wrap=True, markup=False)
    for file in skipped:
        console.print(f"[yellow]-[/] {file}: skipped, not a framework file", soft_wrap=True)
    if failures:
        raise _fail(f"{failures} of {len(files)} file(s) could not be imported")


@framework_app.command("export")
def framework_export(
    framework_id: Annotated[str, typer.Argument(help="the framework's id")],
    actor: ActorOption,
    fmt: Annotated[str, typer.Option("--format", help="yaml, json or csv")] = "yaml",
    version: Annotated[int | None, typer.Option(min=1, help="a published version")] = None,
    as_of: Annotated[
        str | None, typer.Option(help="the version in force at this ISO 8601 instant")
    ] = None,
    draft: Annotated[bool, typer.Option(help="export the draft instead")] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write; default: stdout")
    ] = None,
    url: FrameworkUrl = None,
) -> None:
    """Export a framework: the latest published version unless told otherwise."""
    from talentledger.framework_files import FrameworkRequestFailed, export

    http, base_url = _framework_client(actor, url)
    try:
        with http:
            text = export(
                http, base_url, framework_id, fmt, version=version, as_of=as_of, draft=draft
            )
    except FrameworkRequestFailed as error:
        raise _fail(str(error)) from None
    if output is None:
        print(text, end="")
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}")


@framework_app.command("publish")
def framework_publish(
    framework_id: Annotated[str, typer.Argument(help="the framework's id")],
    actor: ActorOption,
    major: Annotated[bool, typer.Option(help="declare the revision major")] = False,
    url: FrameworkUrl = None,
) -> None:
    """Publish a framework's draft as its next version."""
    from talentledger.framework_files import FrameworkRequestFailed, publish_draft

    http, base_url = _framework_client(actor, url)
    try:
        with http:
            version, revision = publish_draft(
                http, base_url, framework_id, "major" if major else None
            )
    except FrameworkRequestFailed as error:
        raise _fail(str(error)) from None
    console.print(f"{framework_id} v{version} ({revision}) is in force")


@hris_app.command("load")
def hris_load(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="people CSV export")],
    actor: ActorOption,
) -> None:
    """Publish an HRIS export as EmployeeHired events: the first load of the org chart.

    Columns: employee_id, name, department, job_family, track, level, manager_id, hired_on.
    Bad rows are reported with their line and column; the good ones are published anyway.
    Loading the same file again publishes nothing new.
    """
    from talentledger.hris_load import publish_hires, read_people

    people = read_people(path.read_text(encoding="utf-8"))
    published = _publish_with_progress("hris", actor, "hires", people.hires, publish_hires)
    _print_rows(path, people.warnings, people.bad_rows)
    console.print(f"published {published} hire(s); {len(people.bad_rows)} row(s) refused")
    if people.bad_rows:
        raise typer.Exit(1)


@lms_app.command("load")
def lms_load(
    path: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="course catalog CSV export")
    ],
    actor: ActorOption,
) -> None:
    """Publish an LMS export as CourseCatalogUpdated events: the first load of the catalog.

    One row per course and competency it builds, with the columns course_id, title, format,
    duration_hours, competency, from_level, to_level and optionally retired (true/false).
    A course building two competencies has two rows repeating its course fields. format is
    one of classroom, online, blended, workshop, self_paced; duration_hours a number above
    0; levels whole numbers, to_level (1-5) above from_level (0-5).

    Bad rows are reported with their line and column; a course with any bad row is left
    out, the good ones are published anyway, 200 courses per event. Loading the same file
    again publishes nothing new. Fails only when the file is unreadable or no course is good.
    """
    from talentledger.lms_load import CatalogUnreadable, publish_catalog, read_catalog

    try:
        catalog = read_catalog(path)
    except CatalogUnreadable as error:
        raise _fail(str(error)) from None

    def report() -> None:
        _print_rows(path, catalog.warnings, catalog.bad_rows)
        if catalog.left_out:
            left_out = catalog.left_out
            shown = ", ".join(left_out[:20]) + (" …" if len(left_out) > 20 else "")
            console.print(
                f"left out {len(left_out)} course(s) with bad rows: {escape(shown)}",
                soft_wrap=True,
            )

    if not catalog.courses:
        report()
        raise _fail(f"{path.name}: no course to publish; fix the rows above and load it again")
    published = _publish_with_progress("lms", actor, "courses", catalog.courses, publish_catalog)
    report()
    console.print(
        f"published {published.items} course(s) in {published.events} event(s), "
        f"{published.new} new; {len(catalog.bad_rows)} row(s) refused"
    )


def _publish_with_progress(
    identity: str,
    actor: str,
    noun: str,
    items: list[Item],
    publish: Callable[[NatsBroker, list[Item], str, Callable[[int], None]], Awaitable[T]],
) -> T:
    """Publish a load's `items` on the stack's NATS as an outside system (`identity`: hris,
    lms), its events' actor `<identity>-load:<actor>`, with a progress bar of the items
    acknowledged."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from libs.platform.settings import MissingSetting
    from talentledger.inbound import BrokerUnreachable, integration_broker

    settings = _stack_settings(nats_identity=identity)
    try:
        settings.require_nats_url()
    except MissingSetting as error:
        raise _fail(str(error)) from None

    async def run() -> T:
        try:
            async with integration_broker(settings, f"{identity}-load") as broker:
                columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
                with Progress(*columns, console=console) as progress:
                    task = progress.add_task(f"publishing {noun}", total=len(items))
                    return await publish(
                        broker,
                        items,
                        f"{identity}-load:{actor}",
                        lambda n: progress.advance(task, n),
                    )
        except BrokerUnreachable as error:
            raise _fail(str(error)) from None

    return asyncio.run(run())


def _print_rows(path: Path, warnings: list[BadRow], bad_rows: list[BadRow]) -> None:
    """A load's report on its file's rows: warnings, then the rows refused."""
    for warning in warnings:
        console.print(f"[yellow]![/] {path.name} {escape(str(warning))}", soft_wrap=True)
    for bad in bad_rows:
        console.print(f"[red]✗[/] {path.name} {escape(str(bad))}", soft_wrap=True)


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="check against this checkpoint file instead of the sink's latest"),
    ] = None,
    chain_only: Annotated[
        bool,
        typer.Option(
            help="verify the chain alone, without a checkpoint: shows edits, but not a log "
            "rewritten with recomputed hashes nor its last entries removed"
        ),
    ] = False,
    schema: Annotated[str, typer.Option(help="the promotion service's schema")] = "promotion",
) -> None:
    """Verify every entry of the decision log (its hash, its link to the one before, every
    column against what was hashed, the personal text held beside it against its commitment)
    and the log against the latest checkpoint the promotion service signed, with the pinned
    key. Names the first entry that fails, the entries whose personal text was erased, and
    how many entries the last checkpoint does not cover yet."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from services.promotion.adapters.audit import count_entries, verify_stored_log
    from services.promotion.adapters.checkpoints import (
        CheckpointDirectory,
        CheckpointSetupError,
        pinned_fingerprint,
    )
    from services.promotion.domain import decision_log

    settings = _stack_settings()
    url = settings.require_database_url()
    sink = CheckpointDirectory(settings.checkpoints)
    signed: decision_log.Checkpoint | None = None
    pin = ""
    if not chain_only:
        try:
            pin = pinned_fingerprint(settings)
            if checkpoint is None:
                signed = sink.latest()
            else:
                signed = decision_log.Checkpoint.from_json(checkpoint.read_bytes())
        except CheckpointSetupError as error:
            raise _fail(str(error)) from None
        except (OSError, ValueError) as error:
            raise _fail(f"{checkpoint} is not a checkpoint: {error}") from None
    columns = (TextColumn("verifying"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("verify", total=count_entries(url, schema))
        audit = verify_stored_log(
            url, schema, signed, pin, lambda n: progress.update(task, completed=n)
        )
    against = audit.against
    if against is not None and not against.ok:
        raise _fail(f"the log does not match the checkpoint: {against.problem}: {against.detail}")
    result = audit.chain
    assert result is not None
    if not result.ok:
        assert result.failure is not None
        failure = result.failure
        raise _fail(
            f"entry {failure.sequence} ({failure.entry_id}) fails: {failure.reason}: "
            f"{failure.detail}"
        )
    head = f"; head {result.head.sequence} {result.head.hash}" if result.head else ""
    console.print(f"verified {result.entries} entries{head}", soft_wrap=True)
    if result.erased:
        # Erased text verifies through its commitment: the entries are named, not failed.
        console.print(
            f"{len(result.erased)} entries verified with their personal text erased:",
            soft_wrap=True,
        )
        for erased in result.erased:
            console.print(f"  {escape(str(erased))}", soft_wrap=True)
    if chain_only:
        console.print("chain only: no checkpoint was checked", soft_wrap=True)
    elif against is not None and signed is not None:
        console.print(
            f"entries 1 to {signed.sequence} match the checkpoint of "
            f"{decision_log.instant(signed.created_at)} signed with the pinned key {pin}; "
            f"{against.after} entries after the last checkpoint",
            soft_wrap=True,
        )
    elif result.entries:
        raise _fail(
            f"no checkpoint in {sink.path}: none of the {result.entries} entries is anchored "
            "outside the database. The promotion service signs one after each promotion stage "
            "and on its schedule; check TALENTLEDGER_CHECKPOINT_DIR, or sign one now with "
            "`talentledger audit checkpoint`"
        )


@audit_app.command("checkpoint")
def audit_checkpoint(
    schema: Annotated[str, typer.Option(help="the promotion service's schema")] = "promotion",
) -> None:
    """Sign the head of the verified decision log now, as the promotion service does after
    each stage and on its schedule: with its key, into its checkpoint sink."""
    from services.promotion.adapters.audit import sign_now
    from services.promotion.adapters.checkpoints import CheckpointSetupError
    from services.promotion.application.checkpoints import CheckpointRefused

    settings = _stack_settings()
    url = settings.require_database_url()
    try:
        signed = asyncio.run(sign_now(url, schema, settings))
    except (CheckpointRefused, CheckpointSetupError) as error:
        raise _fail(str(error)) from None
    sink = settings.checkpoints
    if signed is None:
        console.print(f"nothing to sign: the log is empty or its head is in {sink} already")
    else:
        console.print(f"signed entry {signed.sequence} ({signed.head_hash}) into {sink}")


@audit_app.command("fingerprint")
def audit_fingerprint() -> None:
    """Print the fingerprint of the checkpoint signing key, to pin it where logs are verified
    (TALENTLEDGER_CHECKPOINT_KEY_FINGERPRINT)."""
    from services.promotion.adapters.checkpoints import CheckpointSetupError, load_signing_key
    from services.promotion.domain.decision_log import key_fingerprint

    try:
        print(key_fingerprint(load_signing_key(_stack_settings().checkpoint_key)))
    except CheckpointSetupError as error:
        raise _fail(str(error)) from None


@db_app.command("roles")
def db_roles(
    database: Annotated[str, typer.Option(help="the database the services use")] = "talentledger",
    apply: Annotated[
        str | None,
        typer.Option(
            "--apply",
            envvar="DATABASE_ADMIN_URL",
            help="create the roles through this URL (a role allowed to create roles) instead "
            "of printing the SQL; passwords are generated into TALENTLEDGER_HOME/keys",
        ),
    ] = None,
) -> None:
    """Print (or apply) the SQL that creates the owner role and one login role per service."""
    from libs.events.migrations.roles import (
        OWNER_ROLE,
        PasswordFile,
        provision,
        role_statements,
        service_role,
    )
    from talentledger.stack.supervisor import SERVICES

    if apply is None:
        # Plain output: the script is meant to be piped into psql or saved.
        typer.echo("-- Run as a role allowed to create roles, connected to the database; then")
        typer.echo("-- give each role a password (psql: \\password <role>).")
        for statement in role_statements(database, SERVICES, {}):
            typer.echo(f"{statement};")
        return
    passwords = PasswordFile(Settings().home.absolute() / "keys" / "postgres.pgpass")
    provision(apply, SERVICES, passwords)
    console.print(f"roles created; passwords in {passwords.path}")
    for role in (OWNER_ROLE, *(service_role(name) for name in SERVICES)):
        console.print(f"{role:28} {passwords.url(apply, role)}", soft_wrap=True)


@db_app.command("migrate")
def db_migrate() -> None:
    """Migrate every service's schema as the owner role (DATABASE_OWNER_URL) and bring each
    service role's privileges in step; services wait for this before they serve."""
    from talentledger.stack.database import migrate_services
    from talentledger.stack.supervisor import SERVICES

    owner_url = _stack_settings().require_database_owner_url()
    migrate_services(owner_url, SERVICES)
    console.print(f"migrated {', '.join(SERVICES)}")


def _stack_settings(service: str | None = None, nats_identity: str | None = None) -> Settings:
    """Settings, with server addresses taken from a running embedded stack when not set: as
    `service`'s own database role when one is named, and on the stack's own NATS as
    `nats_identity` (default: operator)."""
    settings = Settings()
    from talentledger.stack.supervisor import with_stack_addresses

    return with_stack_addresses(settings, service=service, nats_identity=nats_identity)


CyclesUrl = Annotated[
    str | None,
    typer.Option(
        envvar="TALENTLEDGER_CYCLES_URL",
        help="the cycles service; default: the running embedded stack's",
    ),
]
CYCLE_SIGNALS = (
    "pause",
    "resume",
    "close-campaign",
    "start-next-cycle",
    "acknowledge-gaps",
    "calibration-completed",
)


def _answer(response: httpx.Response) -> dict[str, object]:
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise _fail(f"{response.request.method} {response.request.url.path}: {detail}")
    return dict(response.json())


@cycle_app.command("start")
def cycle_start(
    framework_id: Annotated[str, typer.Option("--framework", help="the framework to pin")],
    actor: ActorOption,
    version: Annotated[int | None, typer.Option(help="default: the latest published")] = None,
    department: Annotated[str | None, typer.Option(help="only this department")] = None,
    job_family: Annotated[str | None, typer.Option(help="only this job family")] = None,
    cycles: Annotated[
        int | None, typer.Option(min=1, help="stop after this many cycles; default: recur")
    ] = None,
    url: CyclesUrl = None,
) -> None:
    """Start a review cycle for everyone active (or a department / job family)."""
    client, base = _service_client("cycles", actor, url)
    body = {
        "framework": {"framework_id": framework_id, "version": version},
        "population": {"department": department, "job_family": job_family},
        "last_number": cycles,
    }
    with client:
        started = _answer(client.post(f"{base}/cycles", json=body))
    console.print(f"started {started['cycle_id']}")


@cycle_app.command("status")
def cycle_status(cycle_id: str, actor: ActorOption, url: CyclesUrl = None) -> None:
    """Where a cycle is, whom it waits on, and what it counted."""
    client, base = _service_client("cycles", actor, url)
    with client:
        status = _answer(client.get(f"{base}/cycles/{cycle_id}"))
    console.print(f"{cycle_id}: {status['status']}, stage {status.get('stage') or '-'}")
    progress = status.get("progress")
    if isinstance(progress, dict):
        console.print(f"cycle {progress['number']} ({progress['round_id']})")
        if progress["paused"]:
            console.print("[yellow]paused[/]: resume with `talentledger cycle signal ID resume`")
        for name, count in sorted(progress["counts"].items()):
            console.print(f"  {name:<18} {count}")
        for waiting in progress["waiting_on"]:
            console.print(f"  waiting on {escape(waiting)}", soft_wrap=True)
    if status.get("failure"):
        console.print(f"[red]failed[/]: {escape(str(status['failure']))}", soft_wrap=True)


@cycle_app.command("signal")
def cycle_signal(
    cycle_id: str,
    signal: Annotated[str, typer.Argument(help=f"one of: {', '.join(CYCLE_SIGNALS)}")],
    actor: ActorOption,
    manager: Annotated[str | None, typer.Option(help="acknowledge-gaps: for this manager")] = None,
    session: Annotated[str | None, typer.Option(help="calibration-completed: the session")] = None,
    url: CyclesUrl = None,
) -> None:
    """Steer a running cycle: pause, resume, close the campaign early, start the next cycle
    now, acknowledge a manager's gap review, or report a completed calibration."""
    if signal not in CYCLE_SIGNALS:
        raise _fail(f"unknown signal {signal!r}; choose from {', '.join(CYCLE_SIGNALS)}")
    client, base = _service_client("cycles", actor, url)
    path, body = f"{base}/cycles/{cycle_id}/{signal}", None
    if signal == "acknowledge-gaps":
        path, body = f"{base}/cycles/{cycle_id}/gap-review/acknowledgements", {"manager": manager}
    elif signal == "calibration-completed":
        if session is None:
            raise _fail("calibration-completed needs --session")
        body = {"session_id": session}
    with client:
        _answer(client.post(path, json=body))
    console.print(f"{cycle_id}: {signal} sent")


@cycle_app.command("cancel")
def cycle_cancel(cycle_id: str, actor: ActorOption, url: CyclesUrl = None) -> None:
    """Cancel a running cycle; the cancellation is recorded as its last stage."""
    client, base = _service_client("cycles", actor, url)
    with client:
        _answer(client.delete(f"{base}/cycles/{cycle_id}"))
    console.print(f"{cycle_id}: cancellation requested")


# -- HR's reports (the development and promotion services' /reports routes) --------------------

DevelopmentUrl = Annotated[
    str | None,
    typer.Option(
        envvar="TALENTLEDGER_DEVELOPMENT_URL",
        help="the development service; default: the running embedded stack's",
    ),
]
PromotionUrl = Annotated[
    str | None,
    typer.Option(
        envvar="TALENTLEDGER_PROMOTION_URL",
        help="the promotion service; default: the running embedded stack's",
    ),
]
# Each service's --url option, for the reports it serves.
SERVICE_URLS = {"development": DevelopmentUrl, "promotion": PromotionUrl}
# Each report: its route under /reports, the service serving it, and what it says. One
# command each, built alike.
REPORTS = {
    "gaps": (
        "development",
        "The latest calibration's gaps by department and competency: people, observed, "
        "mean gap and share below target.",
    ),
    "plans": (
        "development",
        "Each person's latest plan by department and action kind: actions, and those "
        "completed (marked done by the employee, or courses the LMS closed).",
    ),
    "goals": ("development", "Goals per state by department."),
    "readiness": (
        "promotion",
        "The latest calibration's readiness pipeline by department and position: ready for "
        "the next level, awaiting a case, not ready and the criterion they miss most.",
    ),
}


def _report_command(name: str, service: str, summary: str) -> None:
    def command(
        actor: ActorOption,
        department: Annotated[str | None, typer.Option(help="only this department")] = None,
        fmt: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="file to write; default: stdout")
        ] = None,
        url: str | None = None,
    ) -> None:
        if fmt not in ("csv", "json"):
            raise _fail(f"--format {fmt!r}: give csv or json")
        client, base = _service_client(service, actor, url)
        params = {"format": fmt, **({"department": department} if department else {})}
        with client:
            response = client.get(f"{base}/reports/{name}", params=params)
        if response.status_code >= 400:
            _answer(response)  # says what went wrong, and exits
        if output is None:
            print(response.text, end="" if response.text.endswith("\n") else "\n")
        else:
            output.write_text(response.text, encoding="utf-8")
            err.print(f"wrote {escape(str(output))}")

    # The serving service's own --url (and environment variable): typer reads the options
    # from the annotations when the command is registered, so it is set before.
    command.__annotations__["url"] = SERVICE_URLS[service]
    report_app.command(name, help=f"{summary} (hr_admin)")(command)


for _name, (_service, _summary) in REPORTS.items():
    _report_command(_name, _service, _summary)


# -- requests about a person's data (docs/privacy.md, Requests) ------------------------------

PRIVACY_OFFICER = "privacy_officer"
RequestOption = Annotated[
    str,
    typer.Option(
        "--request",
        help="the request's reference, e.g. the ticket it was filed under: 1-64 letters, "
        "digits, '.', '_' or '-', starting with a letter or digit",
    ),
]


def _request_ref(ref: str) -> str:
    """The reference, or a clear refusal before anything is asked of the service."""
    from pydantic import TypeAdapter, ValidationError

    from libs.workflows.messages import RequestRef

    try:
        return TypeAdapter(RequestRef).validate_python(ref)
    except ValidationError:
        raise _fail(
            f"request reference {ref!r}: use 1-64 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit"
        ) from None


@privacy_app.command("export")
def privacy_export(
    employee_id: Annotated[str, typer.Argument(help="the person, by employee id")],
    actor: ActorOption,
    out: Annotated[
        Path | None, typer.Option(help="write the export (JSON) to this file, readable by you")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="write the export (JSON) to stdout")
    ] = False,
    url: CyclesUrl = None,
) -> None:
    """Everything every service holds about a person (an access request, privacy_officer):
    a summary, and the whole export as JSON. A person nobody knows gets an empty export."""
    if out is not None and as_json:
        raise _fail("give --out FILE or --json, not both")
    if not employee_id.strip():
        raise _fail("give the employee id of the person the request is about")
    client, base = _service_client("cycles", actor, url, PRIVACY_OFFICER)
    body = {"kind": "access", "employee_id": employee_id}
    with client:
        export = _answer(client.post(f"{base}/privacy/requests", json=body))
    from libs.privacy.records import PersonalDataExport

    readable = PersonalDataExport.model_validate(export)
    document = readable.model_dump_json(indent=2)
    summary = err if as_json else console  # stdout carries the JSON alone
    for line in readable.summary():
        summary.print(escape(line), soft_wrap=True)
    if as_json:
        typer.echo(document)
    elif out is not None:
        import os

        # Personal data: the file is its owner's alone from the moment it exists.
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(document + "\n")
        console.print(f"export written to {escape(str(out))}")


@privacy_app.command("erase")
def privacy_erase(
    employee_id: Annotated[str, typer.Argument(help="the person, by employee id")],
    request_ref: RequestOption,
    actor: ActorOption,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="start the erasure and return at once")
    ] = False,
    url: CyclesUrl = None,
) -> None:
    """Erase everything held about a person (an erasure request, privacy_officer), unless a
    legal hold refuses it; by default follow it until every service confirmed. The same
    reference again follows the same request."""
    ref = _request_ref(request_ref)
    if not employee_id.strip():
        raise _fail("give the employee id of the person the request is about")
    client, base = _service_client("cycles", actor, url, PRIVACY_OFFICER)
    body = {"kind": "erasure", "employee_id": employee_id, "request_ref": ref}
    with client:
        status = _erasure_status(client.post(f"{base}/privacy/requests", json=body))
        if status.status == "RUNNING" and not no_wait:
            status = _follow_erasure(client, f"{base}/privacy/requests/{ref}", status)
    if status.status == "RUNNING":
        console.print(
            f"erasure {ref} of {escape(employee_id)} is running: follow it with "
            f"`talentledger privacy status {ref}`",
            soft_wrap=True,
        )
        return
    _report_erasure(status)


@privacy_app.command("status")
def privacy_status(
    request_ref: Annotated[str, typer.Argument(help="the request's reference")],
    actor: ActorOption,
    url: CyclesUrl = None,
) -> None:
    """Where an erasure request is, or how it ended."""
    ref = _request_ref(request_ref)
    client, base = _service_client("cycles", actor, url, PRIVACY_OFFICER)
    with client:
        status = _erasure_status(client.get(f"{base}/privacy/requests/{ref}"))
    _report_erasure(status)


def _erasure_status(response: httpx.Response) -> ErasureStatus:
    from services.cycles.adapters.privacy_http import ErasureStatus

    return ErasureStatus.model_validate(_answer(response))


def _follow_erasure(client: httpx.Client, status_url: str, status: ErasureStatus) -> ErasureStatus:
    """Poll the request until its workflow is no longer running, showing its step and the
    services that confirmed. Ctrl-C stops following, not the erasure."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from libs.workflows.contracts import HOLDING_PERSONAL_DATA

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("starting", total=len(HOLDING_PERSONAL_DATA))
        while status.status == "RUNNING":
            step = status.step or status.failure or "waiting"
            confirmed = ", ".join(status.confirmed) or "none yet"
            progress.update(
                task,
                description=f"{escape(step)}; confirmed: {confirmed}",
                completed=len(status.confirmed),
            )
            time.sleep(1)
            status = _erasure_status(client.get(status_url))
    return status


def _report_erasure(status: ErasureStatus) -> None:
    """The request's state, then what each service erased; a refusal or a failure exits 1."""
    ref, person = status.request_ref, escape(status.employee_id)
    if status.status == "RUNNING":
        console.print(f"{ref}: erasing {person}, step {status.step or '-'}")
        console.print(f"  confirmed: {', '.join(status.confirmed) or 'none yet'}")
        if status.failure:
            console.print(f"  [yellow]{escape(status.failure)}[/]", soft_wrap=True)
    elif status.outcome == "refused":
        console.print(f"{ref}: [red]refused[/]: {person} was not erased", soft_wrap=True)
        console.print(f"  reason: {escape(status.reason)}", soft_wrap=True)
        raise typer.Exit(1)
    elif status.outcome == "erased":
        keys = "-" if status.keys_destroyed is None else status.keys_destroyed
        console.print(f"{ref}: [green]erased[/] {person} (data keys destroyed: {keys})")
        for service in status.confirmed:
            counts = status.erased.get(service, {})
            done = ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))
            console.print(f"  {service:<12} {escape(done) or 'confirmed'}")
    else:
        raise _fail(f"{ref}: {status.status}: {status.failure or 'no outcome'}")


if __name__ == "__main__":
    app()
