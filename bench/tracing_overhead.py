"""Tracing overhead per micro-batch, measured in-process (no broker, so no network noise).

    python bench/tracing_overhead.py [--out bench/results]

The stream benchmark's drains move by more than 1% from run to run on a shared 2-core
machine, so this measures the two sides of the ratio directly, each as the median of many
repetitions:

* the spans the worker opens per micro-batch (a root, then ``decode_buffer``, ``compute``,
  ``publish`` and ``commit`` children, with their attributes), recorded by the OpenTelemetry SDK
  through a ``BatchSpanProcessor`` (what an OTLP exporter sits behind; the export itself runs on
  the processor's thread) into an exporter that drops them;
* the work of one micro-batch without Kafka: decoding its binary messages, appending them to
  the streams' ring buffers, computing the windows that fell due (maxdim 0 and 1) and encoding
  their diagrams.

The overhead is the first over the second. The worker's real batches also pay for the Kafka
client, so the true share is smaller than the one printed here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from machine import describe, machine_info

from gpu_tda.streaming.decode import decode_message, encode_points_binary
from gpu_tda.streaming.diagram import encode_diagram
from gpu_tda.streaming.processor import StreamingProcessor
from gpu_tda.streaming.tracing import BatchTracer

STREAMS = 1000
POINTS_PER_MESSAGE = 32
RECORDS_PER_BATCH = 500  # ~16k points: a micro-batch near the worker's max rate
WINDOW, STRIDE, DIM = 128, 32, 3


class _DropSpans:
    """A span exporter that keeps nothing (the SDK's processing is what is measured)."""

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def span_seconds(reps: int) -> float:
    """Median seconds of the spans of one micro-batch, SDK recording on."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_DropSpans()))  # type: ignore[arg-type]
    tracer = BatchTracer(True, provider)

    def one_batch() -> None:
        root = tracer.start_batch(fetched=RECORDS_PER_BATCH, partitions=4)
        with tracer.stage(root, "decode_buffer", fetched=RECORDS_PER_BATCH):
            pass
        with tracer.stage(root, "compute", windows=RECORDS_PER_BATCH):
            pass
        span = tracer.open_stage(root, "publish", diagrams=RECORDS_PER_BATCH, dead_letters=0)
        tracer.close(span)
        with tracer.stage(root, "commit", partitions=4):
            pass
        tracer.end_batch(root, records=RECORDS_PER_BATCH, windows=RECORDS_PER_BATCH)

    seconds = _median_seconds(one_batch, reps)
    provider.shutdown()
    return seconds


def batch_seconds(maxdim: int, reps: int) -> float:
    """Median seconds of one micro-batch's decode, buffer, compute and encode."""
    rng = np.random.default_rng(0)
    processor = StreamingProcessor(windows=[WINDOW], stride=STRIDE, maxdim=maxdim, backend="cpu")
    walks = {f"s{i}": np.zeros(DIM) for i in range(STREAMS)}
    streams = list(walks)
    cursor = 0

    def next_batch() -> list[tuple[bytes, bytes]]:
        nonlocal cursor
        out = []
        for _ in range(RECORDS_PER_BATCH):
            stream = streams[cursor % STREAMS]
            cursor += 1
            steps = rng.normal(scale=0.1, size=(POINTS_PER_MESSAGE, DIM))
            points = walks[stream] + np.cumsum(steps, axis=0)
            walks[stream] = points[-1]
            out.append((stream.encode(), encode_points_binary(points)))
        return out

    for _ in range(2 * STREAMS * WINDOW // (RECORDS_PER_BATCH * POINTS_PER_MESSAGE) + 1):
        _run_batch(processor, next_batch())  # fill every ring so windows fall due
    batches = [next_batch() for _ in range(reps)]
    timings = []
    for records in batches:
        started = time.perf_counter()
        _run_batch(processor, records)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def _run_batch(processor: StreamingProcessor, records: list[tuple[bytes, bytes]]) -> int:
    due = []
    for key, value in records:
        message = decode_message(key, value)
        due += processor.append(message.stream, message.points)
    return sum(len(encode_diagram(wd)) for wd in processor.compute(due))


def _median_seconds(fn: Callable[[], None], reps: int) -> float:
    timings = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--reps", type=int, default=200)
    args = parser.parse_args()
    info = machine_info()
    spans = span_seconds(20 * args.reps)
    rows = []
    for maxdim in (0, 1):
        work = batch_seconds(maxdim, args.reps if maxdim == 0 else args.reps // 10)
        rows.append({"maxdim": maxdim, "batch_s": work, "span_s": spans, "overhead": spans / work})
    report = {"machine": info, "records_per_batch": RECORDS_PER_BATCH, "rows": rows}
    lines = [
        "# Tracing overhead per micro-batch",
        "",
        f"Machine: {describe(info)}",
        "",
        f"One micro-batch = {RECORDS_PER_BATCH} binary messages of {POINTS_PER_MESSAGE} points "
        f"({STREAMS} streams, window {WINDOW} / stride {STRIDE}, dim {DIM}); medians. Spans: the "
        "worker's five per batch, recorded by the OpenTelemetry SDK (BatchSpanProcessor).",
        "",
        "| maxdim | batch work (ms) | spans (µs) | overhead |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['maxdim']} | {r['batch_s'] * 1e3:.2f} | {r['span_s'] * 1e6:.1f} | "
            f"{100 * r['overhead']:.3f}% |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tracing_overhead.md").write_text(text)
    (args.out / "tracing_overhead.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
