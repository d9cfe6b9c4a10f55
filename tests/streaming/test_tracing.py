"""OpenTelemetry spans per micro-batch (the SDK's in-memory exporter), and the no-op default."""

from __future__ import annotations

import pytest

from gpu_tda.streaming.tracing import ROOT_SPAN, BatchTracer, tracing_requested
from gpu_tda.streaming.worker import KafkaWorker
from tests.streaming.kafka_io import create_topics, produce, synthetic_messages

sdk = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)


def test_tracing_is_off_by_default_and_costs_nothing():
    tracer = BatchTracer()
    assert not tracer.enabled
    root = tracer.start_batch(records=3)
    assert root is None
    assert tracer.stage(root, "compute") is tracer.stage(None, "publish")  # one shared no-op
    tracer.end_batch(root)
    assert tracing_requested({"GPU_TDA_TRACING": "1"})
    assert not tracing_requested({"GPU_TDA_TRACING": "0"}) and not tracing_requested({})


@pytest.mark.kafka
async def test_worker_emits_a_span_per_micro_batch_with_its_stages(stream_settings):
    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = stream_settings(maxdim=0, partitions=1, max_batch_records=10, commit_interval_ms=0)
    _, messages = synthetic_messages(streams=2, messages_per_stream=20, seed=3)
    await create_topics(settings)
    await produce(settings.bootstrap_servers, settings.input_topic, messages)
    async with KafkaWorker(settings, tracing=True, tracer_provider=provider) as worker:
        assert worker.tracer.enabled
        await worker.run(count=len(messages), timeout=60)
    spans = exporter.get_finished_spans()
    roots = {s.context.span_id: s for s in spans if s.name == ROOT_SPAN}
    assert roots and sum(r.attributes["records"] for r in roots.values()) == len(messages)
    children = [s for s in spans if s.name != ROOT_SPAN]
    assert {s.name for s in children} == {"decode_buffer", "compute", "publish", "commit"}
    for span in children:  # every stage hangs under its micro-batch, in one trace
        root = roots[span.parent.span_id]
        assert span.context.trace_id == root.context.trace_id
        assert root.start_time <= span.start_time and span.end_time <= root.end_time
    windows = sum(s.attributes.get("windows", 0) for s in children if s.name == "compute")
    assert windows == worker.windows_published
