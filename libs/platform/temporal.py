"""The Temporal client every process uses: pydantic payloads, encrypted, and tracing
interceptors."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import opentelemetry.context
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from opentelemetry.trace import Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from temporalio import client, worker, workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
    PayloadConverter,
)

# A workflow whose instance holds a W3C trace context (a dict with `traceparent`) under this
# attribute runs its activities in that trace instead of the one that started it.
TRACE_CARRIER = "trace_carrier"
# The Temporal header in which TracingInterceptor carries trace context (its `header_key`),
# a payload of the carrier dict: its activity side reads the parent span from there.
TRACER_HEADER = "_tracer-data"

_propagator = TraceContextTextMapPropagator()


async def connect(address: str, keys: PayloadKeys, namespace: str = "default") -> Client:
    """Workers built on this client inherit its data converter, so every payload they send
    is encrypted, and its interceptors, so traces span workflows."""
    return await Client.connect(
        address,
        namespace=namespace,
        data_converter=data_converter(keys),
        interceptors=interceptors(),
    )


def interceptors(tracer: Tracer | None = None) -> list[client.Interceptor]:
    """Tracing for clients and workers: TracingInterceptor, then TraceCarrierInterceptor.

    The order matters. On a workflow's outbound calls the interceptor listed last runs first:
    TraceCarrierInterceptor makes the workflow's carried trace current, then TracingInterceptor
    records its StartActivity span in that trace and writes the activity's header from it.
    """
    return [TracingInterceptor(tracer), TraceCarrierInterceptor()]


class TraceCarrierInterceptor(client.Interceptor, worker.Interceptor):
    """Activities of a workflow that holds a trace carrier (see `TRACE_CARRIER`) run in that
    trace, so that a workflow living for months is not one endless trace. Workflows without
    one are untouched.

    Replay-safe: the carrier is workflow state, and only headers change, which replay never
    compares.
    """

    def workflow_interceptor_class(
        self, input: worker.WorkflowInterceptorClassInput
    ) -> type[worker.WorkflowInboundInterceptor]:
        return _CarrierInbound


class _CarrierInbound(worker.WorkflowInboundInterceptor):
    def init(self, outbound: worker.WorkflowOutboundInterceptor) -> None:
        super().init(_CarrierOutbound(outbound))


class _CarrierOutbound(worker.WorkflowOutboundInterceptor):
    def start_activity(self, input: worker.StartActivityInput) -> workflow.ActivityHandle[Any]:
        with _carried_trace(input):
            return super().start_activity(input)

    def start_local_activity(
        self, input: worker.StartLocalActivityInput
    ) -> workflow.ActivityHandle[Any]:
        with _carried_trace(input):
            return super().start_local_activity(input)


@contextmanager
def _carried_trace(
    input: worker.StartActivityInput | worker.StartLocalActivityInput,
) -> Iterator[None]:
    carrier = getattr(workflow.instance(), TRACE_CARRIER, None)
    if not isinstance(carrier, Mapping) or "traceparent" not in carrier:
        yield
        return
    w3c = {str(k): str(v) for k, v in carrier.items()}
    # The header stands when TracingInterceptor writes none (on replay, or when it does not
    # run); when it does write, it writes its own span, made in the carried trace below.
    input.headers = {
        **input.headers,
        TRACER_HEADER: PayloadConverter.default.to_payloads([w3c])[0],
    }
    current = opentelemetry.context.get_current()  # keeps what TracingInterceptor put there
    token = opentelemetry.context.attach(_propagator.extract(w3c, current))
    try:
        yield
    finally:
        opentelemetry.context.detach(token)


# -- payload encryption -------------------------------------------------------------------
# Temporal stores every workflow input, activity argument and result, signal, update and
# query answer in its history, and shows them in its UI: populations, managers, session ids.
# They are encrypted here, in the client and the worker, so the server holds only ciphertext.

ENCRYPTED = b"binary/encrypted"
KEY_ID = "encryption-key-id"
_NONCE = 12  # bytes: AES-GCM's standard nonce


class PayloadKeyError(ValueError):
    """The payload key file is missing, malformed, or lacks a key a payload names."""


@dataclass(frozen=True)
class PayloadKeys:
    """AES-256 keys by id: `current` encrypts, every key decrypts (old ones after a rotation).

    The key file holds one key a line, `<key id> <base64 of 32 bytes>`, the current key
    first; blank lines and `#` comments are ignored.
    """

    current: str
    keys: Mapping[str, bytes]

    @classmethod
    def generate(cls, key_id: str | None = None) -> PayloadKeys:
        key_id = key_id or f"k-{secrets.token_hex(4)}"
        return cls(current=key_id, keys={key_id: AESGCM.generate_key(bit_length=256)})

    @classmethod
    def parse(cls, text: str, source: str = "the payload key file") -> PayloadKeys:
        keys: dict[str, bytes] = {}
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split()
            try:
                key = base64.b64decode(fields[1], validate=True) if len(fields) == 2 else b""
            except binascii.Error:
                key = b""
            if len(key) != 32 or fields[0] in keys:
                raise PayloadKeyError(
                    f"{source}, line {number}: expected `<unique key id> <base64 of 32 bytes>`"
                )
            keys[fields[0]] = key
        if not keys:
            raise PayloadKeyError(f"{source} holds no key")
        return cls(current=next(iter(keys)), keys=keys)

    @classmethod
    def load(cls, path: Path) -> PayloadKeys:
        try:
            text = path.read_text(encoding="ascii")
        except FileNotFoundError:
            raise PayloadKeyError(
                f"no Temporal payload keys at {path}: run `talentledger up` (it generates them) "
                "or set TALENTLEDGER_TEMPORAL_PAYLOAD_KEYS_FILE"
            ) from None
        return cls.parse(text, str(path))

    def dump(self) -> str:
        ordered = [self.current, *(k for k in self.keys if k != self.current)]
        return "".join(f"{k} {base64.b64encode(self.keys[k]).decode()}\n" for k in ordered)


def ensure_payload_keys(path: Path) -> Path:
    """Generate the key file (mode 0600) unless it exists; return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once never overwrite each other's key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(PayloadKeys.generate().dump())
    return path


class EncryptionCodec(PayloadCodec):
    """AES-GCM over each whole payload (its metadata included), the key id in the clear
    metadata and bound to the ciphertext as associated data. Payloads that are not encrypted
    (histories recorded before encryption) pass through as they are."""

    def __init__(self, keys: PayloadKeys) -> None:
        self.current = keys.current
        self.ciphers = {key_id: AESGCM(key) for key_id, key in keys.keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self.ciphers[self.current]
        key_id = self.current.encode()
        encoded = []
        for payload in payloads:
            nonce = os.urandom(_NONCE)
            data = nonce + cipher.encrypt(nonce, payload.SerializeToString(), key_id)
            encoded.append(Payload(metadata={"encoding": ENCRYPTED, KEY_ID: key_id}, data=data))
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        decoded = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCRYPTED:
                decoded.append(payload)
                continue
            key_id = payload.metadata.get(KEY_ID, b"")
            cipher = self.ciphers.get(key_id.decode(errors="replace"))
            if cipher is None:
                raise PayloadKeyError(
                    f"a payload is encrypted with key {key_id.decode(errors='replace')!r}, "
                    "which is not in the payload key file: add it back (after the current key)"
                )
            nonce, ciphertext = payload.data[:_NONCE], payload.data[_NONCE:]
            decoded.append(Payload.FromString(cipher.decrypt(nonce, ciphertext, key_id)))
        return decoded


def data_converter(keys: PayloadKeys) -> DataConverter:
    """Pydantic payloads, encrypted; failure messages and stack traces travel inside an
    encrypted payload too, since they may name people."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
