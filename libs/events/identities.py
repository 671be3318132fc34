"""Broker identities: what each NATS user may publish and subscribe to.

Each process connects as one identity (an NKey user). A service publishes only its own
context's events (`talentledger.<context>.>`) and the dead letters of its own consumers,
and reaches JetStream only for its own durable consumers, the stream lookups it makes at
start and the payload store of large bodies. An integration (HRIS, LMS) publishes only its
own intake subjects (`intake.<context>.>`), never the event stream; the service that admits
the intake (cycles, libs/events/intake.py) consumes it and publishes the admitted events on
those systems' subjects. The operator identity manages streams and replays dead letters.

Replies (JetStream API answers, pulled messages) go to an inbox named after the identity's
public key, `_INBOX.<public key>`, and only that identity may subscribe there: no one can
read another process's pulled events from the shared `_INBOX.>`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nkeys

from libs.events.subjects import (
    DEAD_LETTER_STREAM,
    EVENT_STREAM,
    INTAKE_STREAM,
    INTAKE_SUBJECTS,
    PAYLOAD_BUCKET,
    PAYLOAD_STREAM,
    context_subjects,
    dead_letter_subject,
    intake_consumer,
    intake_context_subjects,
)

if TYPE_CHECKING:  # the consumer module imports the broker, which imports this one
    from libs.events.consumer import EventHandler

_JS = "$JS.API"


@dataclass(frozen=True)
class Permissions:
    """Subjects an identity may publish to and subscribe to (NATS wildcards allowed)."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def inbox_prefix(public_key: str) -> str:
    """The reply inbox of the identity with this public key (see the module docstring)."""
    return f"_INBOX.{public_key}"


def _own_inbox(public_key: str) -> tuple[str, ...]:
    return (f"{inbox_prefix(public_key)}.>",)


def _stream_lookups() -> tuple[str, ...]:
    """`ensure_streams` only reads the streams' settings when they are already right."""
    streams = (EVENT_STREAM, DEAD_LETTER_STREAM, INTAKE_STREAM, PAYLOAD_STREAM)
    return tuple(f"{_JS}.STREAM.INFO.{stream}" for stream in streams)


def _payload_store() -> tuple[str, ...]:
    """Writing and reading bodies too large for one message (see libs.events.broker).

    Each object is checked against the digest its event message carries, so a body
    overwritten by another identity is refused rather than believed. Bodies are read chunk
    by chunk with message gets, so no consumer on the store is ever needed.
    """
    return (
        f"$O.{PAYLOAD_BUCKET}.>",
        f"{_JS}.STREAM.MSG.GET.{PAYLOAD_STREAM}",
        f"{_JS}.DIRECT.GET.{PAYLOAD_STREAM}.>",
        f"{_JS}.STREAM.PURGE.{PAYLOAD_STREAM}",
    )


def _durable(name: str, subject: str, stream: str = EVENT_STREAM) -> tuple[str, ...]:
    """Create, inspect and pull from one durable consumer of a stream, and ack it.

    Creation is allowed only in the form that names the filter subject, which the server
    checks against the consumer's configuration: a service can make its durable on its own
    subject and no other, so it cannot point the durable at events it does not consume
    (protected attributes, say)."""
    return (
        f"{_JS}.CONSUMER.CREATE.{stream}.{name}.{subject}",
        f"{_JS}.CONSUMER.INFO.{stream}.{name}",
        f"{_JS}.CONSUMER.MSG.NEXT.{stream}.{name}",
        f"$JS.ACK.{stream}.{name}.>",
    )


def service_permissions(
    context: str,
    public_key: str,
    handlers: Sequence[EventHandler],
    admits: Sequence[str] = (),
) -> Permissions:
    """A service: its own events, its consumers' dead letters and durables, its inbox; and,
    when it admits outside systems' events (`admits`), the intake's durable, its dead
    letters and those systems' event subjects, on which its relay publishes them."""
    publish: list[str] = [context_subjects(context), *_stream_lookups(), *_payload_store()]
    for handler in handlers:
        publish.append(dead_letter_subject(handler.consumer))
        subjects = (handler.subject, handler.replay_subject)
        for subject, durable in zip(subjects, handler.durables, strict=True):
            publish.extend(_durable(durable, subject))
    if admits:
        admission = intake_consumer(context)
        publish += [context_subjects(source) for source in admits]
        publish.append(dead_letter_subject(admission))
        publish.extend(_durable(admission, INTAKE_SUBJECTS, INTAKE_STREAM))
    return Permissions(publish=_unique(publish), subscribe=_own_inbox(public_key))


def integration_permissions(source: str, public_key: str) -> Permissions:
    """An outside system (HRIS, LMS): publishes on its own intake subjects, nothing else."""
    return Permissions(
        publish=(intake_context_subjects(source), *_stream_lookups()),
        subscribe=_own_inbox(public_key),
    )


OPERATOR = Permissions(publish=(">",), subscribe=(">",))


def _unique(subjects: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(subjects))


def _users(users: Sequence[tuple[str, Permissions]]) -> list[dict[str, Any]]:
    return [
        {
            "nkey": public_key,
            "permissions": {
                "publish": {"allow": list(rights.publish)},
                "subscribe": {"allow": list(rights.subscribe)},
            },
        }
        for public_key, rights in users
    ]


def authorization(users: Sequence[tuple[str, Permissions]]) -> str:
    """The `authorization` block of a nats-server configuration for (public key, rights).

    JSON is valid NATS configuration, and quoting keeps `$JS...` from reading as a variable.
    """
    return "authorization: " + json.dumps({"users": _users(users)}, indent=2) + "\n"


def accounts(users: Sequence[tuple[str, Permissions]], account: str = "TALENTLEDGER") -> str:
    """The same users as an `accounts` block: one JetStream account for the whole system,
    as a cluster configuration includes it (see deploy/nats)."""
    block = {account: {"jetstream": "enabled", "users": _users(users)}}
    return "accounts: " + json.dumps(block, indent=2) + "\n"


class CredentialsError(ValueError):
    """A NATS credentials file that is neither an NKey seed nor a `.creds` file."""


@dataclass(frozen=True)
class Credentials:
    """How a process proves its identity: an NKey seed file, or a `.creds` file (a user JWT
    and its seed, for servers in operator mode)."""

    path: Path

    @property
    def is_creds_file(self) -> bool:
        return "BEGIN NATS USER JWT" in self._text()

    def _text(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except OSError as error:
            raise CredentialsError(f"cannot read NATS credentials {self.path}: {error}") from error

    @property
    def public_key(self) -> str:
        """The user's public key, from the seed (alone, or inside a `.creds` file)."""
        seeds = [line.strip() for line in self._text().splitlines() if line.strip()[:2] == "SU"]
        if not seeds:
            raise CredentialsError(f"{self.path} holds no NKey user seed (a line starting SU)")
        try:
            pair = nkeys.from_seed(bytearray(seeds[0].encode()))
        except nkeys.NkeysError as error:
            raise CredentialsError(f"{self.path}: not a valid NKey seed") from error
        return str(pair.public_key.decode())


def new_user_seed() -> bytes:
    """A fresh NKey user seed (ed25519), as `nsc` or `nk -gen user` would make."""
    return bytes(nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER))
