"""The Temporal client every process uses: pydantic payloads, encrypted, and tracing
interceptors."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import opentelemetry.context
from cryptography.exceptions import InvalidTag
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

from libs.personal.keyring import KeyRing, KeyRingError

# A workflow whose instance holds a W3C trace context (a dict with `traceparent`) under this
# attribute runs its activities in that trace instead of the one that started it.
TRACE_CARRIER = "trace_carrier"
# The Temporal header in which TracingInterceptor carries trace context (its `header_key`),
# a payload of the carrier dict: its activity side reads the parent span from there.
TRACER_HEADER = "_tracer-data"

_propagator = TraceContextTextMapPropagator()
log = logging.getLogger(__name__)


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


class PayloadKeyError(KeyRingError):
    """The payload key file is missing, malformed, or lacks a key a payload names."""


class PayloadKeys(KeyRing):
    """The keys Temporal payloads are encrypted with (`KeyRing`'s file format)."""

    description = "Temporal payload keys"
    when_missing = (
        "run `talentledger up` (it generates them) or set TALENTLEDGER_TEMPORAL_PAYLOAD_KEYS_FILE"
    )
    error = PayloadKeyError


class EncryptionCodec(PayloadCodec):
    """AES-GCM over each whole payload (its metadata included), the key id in the clear
    metadata and bound to the ciphertext as associated data.

    Encryption is also what authenticates a payload: only a holder of the keys makes one that
    decrypts. A payload that does not (sent in clear, under a key not in the file, or altered)
    decodes to an `UNAUTHENTICATED` payload, which no converter reads, rather than failing the
    whole decode: the SDK then drops a signal that carries it and rejects an update, and a
    forged signal can neither steer a cycle nor wedge its workflow. `plaintext=True` lets
    payloads in clear through, for replaying histories recorded before encryption.
    """

    def __init__(self, keys: PayloadKeys, *, plaintext: bool = False) -> None:
        self.current = keys.current
        self.ciphers = {key_id: AESGCM(key) for key_id, key in keys.keys.items()}
        self.plaintext = plaintext

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
        return [self._decode(payload) for payload in payloads]

    def _decode(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCRYPTED:
            return payload if self.plaintext else _unauthenticated("it is not encrypted")
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        cipher = self.ciphers.get(key_id)
        if cipher is None:
            # After a rotation, keep the old keys after the current one (docs/cycles.md).
            return _unauthenticated(f"its key {key_id!r} is not in the payload key file")
        nonce, ciphertext = payload.data[:_NONCE], payload.data[_NONCE:]
        try:
            return Payload.FromString(cipher.decrypt(nonce, ciphertext, key_id.encode()))
        except InvalidTag:
            return _unauthenticated("it does not decrypt under its key: it was forged or altered")


UNAUTHENTICATED = b"binary/unauthenticated"


def _unauthenticated(why: str) -> Payload:
    log.warning("a Temporal payload was refused: %s", why)
    return Payload(metadata={"encoding": UNAUTHENTICATED, "refused": why.encode()}, data=b"")


def data_converter(keys: PayloadKeys, *, plaintext: bool = False) -> DataConverter:
    """Pydantic payloads, encrypted; failure messages and stack traces travel inside an
    encrypted payload too, since they may name people. `plaintext`: see `EncryptionCodec`."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keys, plaintext=plaintext),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
