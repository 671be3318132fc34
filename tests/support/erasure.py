"""Looking for a person everywhere the stack keeps anything: every column of every table,
every message of every JetStream stream, Temporal histories, span and log files
(docs/privacy.md, Requests). Used to prove an erasure leaves nothing readable behind, and
first shown to find what it looks for."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import nats
import psycopg
from google.protobuf.message import Message
from nats.js.errors import NotFoundError
from psycopg import sql
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import PayloadCodec

from talentledger.simulation import Simulation
from talentledger.stack.broker_identities import OPERATOR_IDENTITY, credentials_file
from tests.support.stack import RunningStack


class RemarkingSimulation(Simulation):
    """People who comment on every answer they give, each pair of rater and subject in words
    of its own that name neither of them, so that a comment can be looked for anywhere."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.remarks: dict[tuple[str, str], str] = {}

    def _answer(
        self, rater: str, subject: str, item: dict[str, Any], scale: list[int]
    ) -> dict[str, Any]:
        answer = super()._answer(rater, subject, item, scale)
        if answer["value"] is not None:
            answer["comment"] = self.remark(rater, subject)
        return answer

    def remark(self, rater: str, subject: str) -> str:
        token = hashlib.sha256(f"{rater}|{subject}".encode()).hexdigest()[:16]
        return self.remarks.setdefault((rater, subject), f"Remark {token} noted in review.")

    def remarks_involving(self, person: str) -> list[str]:
        return [text for (r, s), text in self.remarks.items() if person in (r, s)]


def pattern(name: str, texts: Iterable[str]) -> str:
    """A regular expression (PostgreSQL's and Python's alike) for the name, not as the start
    of a longer one ("Person 12" is not "Person 120"), and for any of the texts."""
    parts = [re.escape(name) + "($|[^0-9])", *(re.escape(t) for t in texts)]
    return "|".join(parts)


def in_tables(database_url: str, regex: str, schema: str | None = None) -> list[str]:
    """`schema.table.column` of every column (of `schema`, else of every schema) in which
    some row matches, read as `database_url`'s role (one that reads every table)."""
    found: list[str] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        columns = conn.execute(
            "SELECT table_schema, table_name, column_name, data_type "
            "FROM information_schema.columns c JOIN information_schema.tables t "
            "USING (table_schema, table_name) WHERE t.table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema') "
            "AND table_schema NOT LIKE 'pg_toast%%' AND (%s::text IS NULL OR table_schema = %s)",
            (schema, schema),
        ).fetchall()
        for schema, table, column, data_type in columns:
            ident = sql.Identifier(column)
            text = (
                sql.SQL("encode({}, 'escape')").format(ident)
                if data_type == "bytea"
                else sql.SQL("{}::text").format(ident)
            )
            query = sql.SQL("SELECT EXISTS (SELECT FROM {} WHERE {} ~ %s)").format(
                sql.Identifier(schema, table), text
            )
            row = conn.execute(query, (regex,)).fetchone()
            if row and row[0]:
                found.append(f"{schema}.{table}.{column}")
    return found


async def in_streams(stack: RunningStack, regex: str) -> list[str]:
    """`stream #sequence` of every JetStream message (data or headers) that matches, in
    every stream, the payload store's among them; read as the operator identity."""
    compiled = re.compile(regex.encode())
    client = await nats.connect(
        stack.state["nats_url"],
        nkeys_seed=str(credentials_file(stack.home, OPERATOR_IDENTITY)),
    )
    found: list[str] = []
    try:
        js = client.jetstream()
        for info in await js.streams_info():
            state = info.state
            # An empty stream's first and last sequence are 0: there is no message 0.
            for sequence in range(max(state.first_seq, 1), state.last_seq + 1):
                try:
                    message = await js.get_msg(info.config.name or "", sequence)
                except NotFoundError:
                    continue  # deleted, or acknowledged off a work queue
                headers = repr(message.headers or {}).encode()
                if compiled.search(message.data or b"") or compiled.search(headers):
                    found.append(f"{info.config.name} #{sequence}")
    finally:
        await client.close()
    return found


async def in_histories(
    client: Client, workflow_ids: Sequence[str], regex: str, codec: PayloadCodec
) -> list[str]:
    """The workflows whose recorded history matches, as Temporal stores it and with every
    payload in it decoded by `codec` (the stack's encryption), so that what travels
    encrypted is searched too."""
    compiled = re.compile(regex)
    found = []
    for workflow_id in workflow_ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        payloads = [p for event in history.events for p in _payloads(event)]
        opened = await codec.decode(payloads)
        text = "\n".join([history.to_json(), *(p.data.decode(errors="replace") for p in opened)])
        if compiled.search(text):
            found.append(workflow_id)
    return found


def _payloads(message: Message) -> Iterator[Payload]:
    """Every payload anywhere in a history event, however deeply nested."""
    if isinstance(message, Payload):
        yield message
        return
    for described, value in message.ListFields():
        if described.type != described.TYPE_MESSAGE:
            continue
        if described.message_type.GetOptions().map_entry:
            values = list(value.values())
        elif isinstance(value, Message):
            values = [value]
        else:  # a repeated field
            values = list(value)
        for each in values:
            if isinstance(each, Message):
                yield from _payloads(each)


def in_files(folders: Iterable[Path], regex: str) -> list[str]:
    """Every file under the folders (span files, logs) that matches."""
    compiled = re.compile(regex.encode())
    return [
        str(path)
        for folder in folders
        for path in sorted(folder.rglob("*"))
        if path.is_file() and compiled.search(path.read_bytes())
    ]
