"""The Temporal client every process uses: pydantic payloads and tracing interceptors."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import opentelemetry.context
from opentelemetry.trace import Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from temporalio import client, worker, workflow
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import PayloadConverter

# A workflow whose instance holds a W3C trace context (a dict with `traceparent`) under this
# attribute runs its activities in that trace instead of the one that started it.
TRACE_CARRIER = "trace_carrier"
# The Temporal header in which TracingInterceptor carries trace context (its `header_key`),
# a payload of the carrier dict: its activity side reads the parent span from there.
TRACER_HEADER = "_tracer-data"

_propagator = TraceContextTextMapPropagator()


async def connect(address: str, namespace: str = "default") -> Client:
    """Workers built on this client inherit its interceptors, so traces span workflows."""
    return await Client.connect(
        address,
        namespace=namespace,
        data_converter=pydantic_data_converter,
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
