"""Benchmark: the streaming worker end to end through the embedded broker on this machine.

For each case (maxdim 0/1 x JSON/binary; window 128, stride 32, dim 3, 1,000 streams):

1. **max rate**: the input topic is filled first, then a ``gpu-tda worker`` process drains it;
   sustained points/s and windows/s come from its ``/metrics`` (``tda_points_total``,
   ``tda_windows_total``), from its first point to its last window published.
2. **latency at 50% and 90% of that rate**: the same worker, fed at a constant rate; end-to-end
   latency p50/p99 from the last point produced (``end_ts``: the ``ts`` the producer stamped
   when it handed the message to its client) to (a) ``emitted_ts``, stamped by the worker when
   the diagram was encoded, before it was sent, and (b) when this process received the
   diagram from the broker: the honest "published" figure (it includes the broker's ack and
   this reader's own fetch wait, ``READER_FETCH_WAIT_MS``).
3. **transport floor** at each of those rates: the same paced producer into a fresh topic, read by
   a consumer process that does nothing but note when each message arrived (what a worker with
   no work of its own would see, through the same producer, broker and client settings).
4. worker CPU (% of one core) and RSS from ``/proc`` during each phase.
5. **tracing overhead**: the maxdim-0 binary drain again with ``GPU_TDA_TRACING=1`` and the
   OpenTelemetry SDK recording every span (batch processor, exporter discarding them), against
   the same drain without tracing, run right after each other.

Beside them: the broker alone (a bare aiokafka produce and getmany loop over the same records:
the ceiling for any aiokafka worker on this broker here), the compute engine alone (one
``persistence_batch`` call of 1,000 windows) and the RSS of ring buffers holding 1,000,000
points. There is no streaming peer to compare against. The producer and this script share the
machine's cores with the worker, as a real deployment on one box would.

    python bench/stream_bench.py [--quick] [--out bench/results] [--streams 1000] [--backend gpu]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, machine_info  # noqa: E402

WINDOW, STRIDE, DIM = 128, 32, 3
PARTITIONS = 4
FETCH_WAIT_MS = 10  # the worker's --fetch-max-wait-ms, and the transport floor reader's
WORKER_FLAGS = ["--linger-ms", "0", "--fetch-max-wait-ms", str(FETCH_WAIT_MS)]
READER_FETCH_WAIT_MS = 5
LAST_WINDOWS_S = 30.0  # longest wait for a latency phase's last windows once sending ended
TRACED_WORKER = """
import sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

class Discard(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS

provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(Discard()))
trace.set_tracer_provider(provider)
from gpu_tda.cli import main
sys.argv[0] = "gpu-tda"
main()
"""
FLOOR_READER = """
import asyncio, gc, json, sys, time
from aiokafka import AIOKafkaConsumer, TopicPartition
from gpu_tda.streaming.decode import decode_value

async def main(bootstrap, topic, partitions, count, wait_ms):
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=wait_ms
    )
    await consumer.start()
    parts = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(parts)
    await consumer.seek_to_end(*parts)
    for tp in parts:
        await consumer.position(tp)
    print("ready", flush=True)
    gc.collect()
    gc.disable()  # see gc_paused
    latencies = []
    while len(latencies) < count:
        batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
        now_ms = time.time() * 1000
        for records in batch.values():
            latencies += [now_ms - decode_value(r.value)[1] for r in records]
    await consumer.stop()
    print(json.dumps(latencies), flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])))
"""
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- process figures ---------------------------------------------------------------------------
def proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_mb(pid: int, field: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def scrape(port: int) -> dict[str, float]:
    """tda_points_total and the sum of tda_windows_total from the worker's /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    out = {"points": 0.0, "windows": 0.0}
    for line in text.splitlines():
        if line.startswith("tda_points_total "):
            out["points"] = float(line.split()[-1])
        elif line.startswith("tda_windows_total{"):
            out["windows"] += float(line.split()[-1])
    return out


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


@contextlib.contextmanager
def gc_paused():
    """No cycle collection in this process while a latency phase runs.

    The paced producer stamps each message just before sending it and the reader stamps each
    diagram as it arrives; a full collection here (40-100 ms once the phase's messages and
    latencies are alive) stalls both, and it showed up as the worker's p99: spikes every 3 s,
    emitted p99 51-65 ms at 300k points/s against 17 ms with collection off. The worker itself
    and the broker freeze their start-up objects (``startup.freeze_startup_objects``); this
    measures them, not us.
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# -- producing ---------------------------------------------------------------------------------
def make_messages(streams: int, per_stream: int, ppm: int, encoding: str) -> list[tuple]:
    """(key, points) in round-robin order, ``per_stream`` points per stream."""
    from gpu_tda.streaming.synthetic import make_sources

    sources = make_sources("mixed", streams, DIM, seed=7)
    out = []
    for _ in range(per_stream // ppm):
        for name, src in sources.items():
            out.append((name.encode(), src.next(ppm)))
    return out


def encoder(encoding: str):
    from gpu_tda.streaming.decode import encode_points_binary, encode_points_json

    return encode_points_binary if encoding == "binary" else encode_points_json


async def new_producer(bootstrap: str, linger_ms: int):
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=linger_ms, max_batch_size=1 << 20, acks=1
    )
    await producer.start()
    return producer


async def prefill(bootstrap: str, topic: str, messages: list[tuple], encoding: str) -> float:
    """Send every message as fast as possible; return the seconds it took."""
    encode = encoder(encoding)
    values = [(key, encode(pts, ts=0)) for key, pts in messages]
    producer = await new_producer(bootstrap, 5)
    started = time.perf_counter()
    try:
        futures = [await producer.send(topic, value=v, key=k) for k, v in values]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def paced(bootstrap: str, topic: str, messages: list[tuple], encoding: str, rate: float):
    """Send ``messages`` at ``rate`` points/s, each stamped with its send time; return seconds.

    Every 2 ms tick stamps what is due and hands it over as closed record batches, one per
    partition, as the worker publishes (``record_batches``; each key in the partition ``send``
    would pick). The messages on the wire are those ``send`` with a 1 ms linger would batch;
    building them per message through ``send`` took this process 0.6 cores at 500k points/s
    (0.4 this way, with ``consume_latencies``' lighter parsing), cores the worker shares.
    """
    from gpu_tda.streaming.record_batches import KeyPartitions, send_records

    encode = encoder(encoding)
    producer = await new_producer(bootstrap, 1)
    parts = sorted(await producer.partitions_for(topic))
    keys = KeyPartitions()
    started = time.perf_counter()
    sent = 0
    futures = []
    try:
        while sent < len(messages):
            due = int((time.perf_counter() - started) * rate / len(messages[0][1])) + 1
            due = min(due, len(messages))
            now_ms = int(time.time() * 1000)
            records = [(encode(pts, ts=now_ms), key, None) for key, pts in messages[sent:due]]
            for p, run in keys.group(topic, parts, records).items():
                futures.append(await send_records(producer, topic, p, run))
            sent = max(sent, due)
            await asyncio.sleep(0.002)
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - started


def stamps(value: bytes) -> tuple[int | None, int]:
    """(``window.end_ts``, ``emitted_ts``) of a diagram document, read where the worker's
    writer puts them (``"end_ts":N}`` closes the window object, ``"emitted_ts":N}`` the
    document) instead of parsing 2.4 KB of JSON per window."""
    at = value.index(b'"end_ts":') + 9
    end = value[at : value.index(b"}", at)]
    at = value.rindex(b'"emitted_ts":') + 13
    return (None if end == b"null" else int(end)), int(value[at:-1])


async def consume_latencies(bootstrap: str, topic: str, stop: asyncio.Event, out: list) -> None:
    """Append (emitted - end_ts, received - end_ts) ms for every new diagram until ``stop``."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=READER_FETCH_WAIT_MS,
    )
    since = time.time() * 1000
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=5000)
            now_ms = time.time() * 1000
            for records in batch.values():
                for r in records:
                    end, emitted = stamps(r.value)
                    if end is None or end < since:  # a window of the prefill
                        continue
                    out.append((emitted - end, now_ms - end))
    finally:
        await consumer.stop()


async def transport_floor(
    bootstrap: str, topic: str, messages: list[tuple], encoding: str, rate: float
) -> tuple[float | None, float | None]:
    """p50 and p99 ms from ``ts`` to arrival at a consumer process that does no work, for
    ``messages`` produced into ``topic`` by ``paced`` at ``rate`` (first 10% left out)."""
    import gpu_tda

    home = Path(gpu_tda.__file__).resolve().parents[1]
    reader = subprocess.Popen(
        [sys.executable, "-c", FLOOR_READER, bootstrap, topic, str(PARTITIONS),
         str(len(messages)), str(FETCH_WAIT_MS)],
        stdout=subprocess.PIPE, text=True, cwd=home,
    )  # fmt: skip
    try:
        assert reader.stdout is not None
        if (await asyncio.to_thread(reader.stdout.readline)).strip() != "ready":
            raise RuntimeError("the transport-floor reader did not start")
        await paced(bootstrap, topic, messages, encoding, rate)
        line = await asyncio.wait_for(asyncio.to_thread(reader.stdout.readline), 60)
    finally:
        if reader.poll() is None:
            reader.kill()
        reader.wait()
    latencies = json.loads(line)[len(messages) // 10 :]
    return percentile(latencies, 50), percentile(latencies, 99)


async def broker_alone(bootstrap: str, topic: str, records: int) -> float:
    """Seconds a bare consumer needs to getmany ``records`` from ``topic`` (no group)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, max_partition_fetch_bytes=4 << 20
    )
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        seen = 0
        started = time.perf_counter()
        while seen < records:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            seen += sum(len(v) for v in batch.values())
        return time.perf_counter() - started
    finally:
        await consumer.stop()


# -- one case ----------------------------------------------------------------------------------
def start_worker(
    bootstrap: str, prefix: str, maxdim: int, port: int, backend: str, tracing: bool = False
) -> subprocess.Popen:
    launch = ["-c", TRACED_WORKER] if tracing else ["-m", "gpu_tda.cli"]
    cmd = [sys.executable, *launch, "worker", "--bootstrap-servers", bootstrap,
           "--input-topic", f"{prefix}.in", "--output-topic", f"{prefix}.out",
           "--dlq-topic", f"{prefix}.dlq", "--group-id", prefix, "--window", str(WINDOW),
           "--stride", str(STRIDE), "--maxdim", str(maxdim), "--backend", backend,
           "--partitions", str(PARTITIONS), "--metrics-port", str(port),
           *WORKER_FLAGS]  # fmt: skip
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"{prefix}.log", "w+b")
    import gpu_tda  # run the worker on the same gpu_tda this script imported, whatever the cwd

    home = Path(gpu_tda.__file__).resolve().parents[1]
    env = dict(os.environ, GPU_TDA_TRACING="1" if tracing else "0")
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, cwd=home, env=env)


async def wait_until(predicate, timeout: float, every: float = 0.2) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if predicate():
                return True
        except OSError:
            pass
        await asyncio.sleep(every)
    return False


def expected_windows(points_per_stream: int) -> int:
    return 0 if points_per_stream < WINDOW else (points_per_stream - WINDOW) // STRIDE + 1


async def run_case(
    bootstrap: str,
    maxdim: int,
    encoding: str,
    args: argparse.Namespace,
    *,
    tracing: bool = False,
    shares: list[float] | None = None,
    workers: int = 1,
) -> dict:
    """``workers`` workers in one group: drain a filled topic (max rate), then constant-rate
    phases at ``shares`` (default ``args.shares``; one worker only) of that rate."""
    from gpu_tda.services import free_port
    from gpu_tda.streaming.topics import ensure_topics

    shares = args.shares if shares is None else shares
    tag = ("traced" if tracing else "plain") + (f"-x{workers}" if workers > 1 else "")
    prefix = f"bench-{maxdim}-{encoding}-{tag}-{os.getpid()}-{int(time.time())}"
    per_stream = args.fill_points[maxdim]
    ppm = args.points_per_message
    topics = ("in", "out", "dlq", "floor")
    await ensure_topics(bootstrap, {f"{prefix}.{t}": PARTITIONS for t in topics})
    messages = make_messages(args.streams, per_stream, ppm, encoding)
    total_points = len(messages) * ppm
    fill_s = await prefill(bootstrap, f"{prefix}.in", messages, encoding)
    result: dict = {"maxdim": maxdim, "encoding": encoding, "streams": args.streams,
                    "tracing": tracing, "workers": workers,
                    "points_per_message": ppm, "prefill_points": total_points,
                    "producer_points_per_s": total_points / fill_s}  # fmt: skip
    if maxdim == 0 and shares:
        alone_s = await broker_alone(bootstrap, f"{prefix}.in", len(messages))
        result["broker_alone_consume_points_per_s"] = total_points / alone_s
    ports = [free_port() for _ in range(workers)]
    group = [start_worker(bootstrap, prefix, maxdim, port, args.backend, tracing) for port in ports]
    worker = group[0]  # the one the latency phases feed
    want = expected_windows(per_stream) * args.streams
    samples: list[tuple[float, dict]] = []
    try:

        def drained() -> bool:
            for proc in group:
                if proc.poll() is not None:
                    proc.stderr.seek(0)
                    tail = proc.stderr.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"a worker exited ({proc.returncode}): {tail}")
            each = [scrape(p) for p in ports]
            m = {key: sum(e[key] for e in each) for key in ("points", "windows")}
            samples.append((time.perf_counter(), m))
            return m["windows"] >= want

        if not await wait_until(drained, args.drain_timeout):
            raise RuntimeError(f"worker did not drain {want} windows: {samples[-1:]}")
        moving = [(t, m) for t, m in samples if m["points"] > 0]
        t0, t1 = moving[0][0], moving[-1][0]
        cpu0 = proc_cpu_seconds(worker.pid)  # the drain's CPU: measured over the next phase
        span = max(t1 - t0, 1e-6)
        # sustained: each stride of a stream's points completes one window, while the drain
        # also reads each stream's first WINDOW - STRIDE points, which complete none (at 192
        # points per stream, half of them)
        result["max_windows_per_s"] = want / span
        result["max_points_per_s"] = result["max_windows_per_s"] * STRIDE
        result["drain_points_per_s"] = total_points / span
        result["drain_rss_mb"] = proc_rss_mb(worker.pid)
        result["windows_emitted"] = samples[-1][1]["windows"]  # > want: some emitted twice
        for share in shares:
            rate = share * result["max_points_per_s"]
            need = int(rate * args.phase_s / ppm)
            stream_msgs = make_messages(
                args.streams, max(ppm, need // args.streams * ppm), ppm, encoding
            )
            # first, while the worker idles (after the last phase it may still be draining)
            with gc_paused():
                floor = await transport_floor(
                    bootstrap, f"{prefix}.floor", stream_msgs, encoding, rate
                )
            latencies: list[tuple[float, float]] = []
            stop = asyncio.Event()
            with gc_paused():
                reader = asyncio.create_task(
                    consume_latencies(bootstrap, f"{prefix}.out", stop, latencies)
                )
                await asyncio.sleep(1.0)  # the reader is assigned and at the end
                cpu0, wall0 = proc_cpu_seconds(worker.pid), time.perf_counter()
                sent_s = await paced(bootstrap, f"{prefix}.in", stream_msgs, encoding, rate)
                # each message completes one window (every stream is past its first): wait for
                # all of them, since at 90% the worker can be seconds behind when sending ends
                expected = len(stream_msgs)
                await wait_until(
                    lambda got=latencies, n=expected: len(got) >= n, LAST_WINDOWS_S, 0.05
                )
                cpu = (proc_cpu_seconds(worker.pid) - cpu0) / (time.perf_counter() - wall0)
                stop.set()
                await reader
            skip = len(latencies) // 10  # the first 10%: the stream settling at the new rate
            emitted = [e for e, _ in latencies[skip:]]
            received = [r for _, r in latencies[skip:]]
            result[f"at_{int(share * 100)}"] = {
                "offered_points_per_s": len(stream_msgs) * ppm / sent_s,
                "windows": len(latencies), "windows_expected": expected,
                "p50_ms": percentile(emitted, 50), "p99_ms": percentile(emitted, 99),
                "received_p50_ms": percentile(received, 50),
                "received_p99_ms": percentile(received, 99),
                "floor_p50_ms": floor[0], "floor_p99_ms": floor[1],
                "worker_cpu_percent": 100 * cpu, "worker_rss_mb": proc_rss_mb(worker.pid),
            }  # fmt: skip
        result["worker_peak_rss_mb"] = proc_rss_mb(worker.pid, "VmHWM")
        result["load_avg_1m"] = os.getloadavg()[0]
    finally:
        for proc in group:
            proc.terminate()
        for proc in group:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return result


# -- in-process figures ------------------------------------------------------------------------
def compute_alone(maxdim: int, count: int, backend: str) -> float:
    """Windows/s of one persistence_batch call of ``count`` (128, 3) windows."""
    import gpu_tda

    clouds = np.random.default_rng(1).normal(size=(count, WINDOW, DIM))
    gpu_tda.persistence_batch(clouds[:4], maxdim=maxdim, backend=backend)
    started = time.perf_counter()
    gpu_tda.persistence_batch(clouds, maxdim=maxdim, backend=backend)
    return count / (time.perf_counter() - started)


def tracing_in_process() -> dict:
    """Span cost against the work of one micro-batch, from ``tracing_overhead``."""
    from tracing_overhead import RECORDS_PER_BATCH, batch_seconds, span_seconds

    return {
        "span_s": span_seconds(2000),
        "batch_s": batch_seconds(0, 50),
        "records": RECORDS_PER_BATCH,
    }


def rss_probe(streams: int = 1000, window: int = 1000) -> dict:
    """RSS of a process whose ring buffers hold ``streams * window`` points (run in a child)."""
    from gpu_tda.streaming.checkpoint import PartitionState
    from gpu_tda.streaming.windows import make_specs

    before = proc_rss_mb(os.getpid())
    state = PartitionState("points", 0, make_specs([window], STRIDE), start_offset=0)
    rng = np.random.default_rng(0)
    offset = 0
    for _ in range(window // 100):
        for s in range(streams):
            buf = state.buffer(f"stream-{s}", DIM)
            buf.append(rng.normal(size=(100, DIM)), offset=offset, ts=0)
            offset += 1
    buffered = sum(min(b.count, b.capacity) for b in state.buffers.values())
    return {"buffered_points": buffered, "ring_bytes": state.memory_bytes(),
            "rss_before_mb": before, "rss_mb": proc_rss_mb(os.getpid())}  # fmt: skip


# -- report ------------------------------------------------------------------------------------
def fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def markdown(report: dict) -> str:
    flags = " ".join(report["worker_flags"])
    fills = ", ".join(f"{n:,} points per stream at maxdim {md}"
                      for md, n in report.get("fill_points_per_stream", {}).items())  # fmt: skip
    lines = [f"# Streaming worker benchmark ({report['mode']})", "",
             f"Machine: {describe(report['machine'])}", "",
             f"Window {WINDOW}, stride {STRIDE}, dim {DIM}, {report['streams']} streams, "
             f"{report['points_per_message']} points per message, {PARTITIONS} partitions, "
             f"embedded broker (gpu-tda's own) on loopback, worker "
             f"`--backend {report.get('backend', 'cpu')} {flags}`. "
             "Latency: last point produced -> diagram *emitted* (stamped by the worker before "
             "sending) and -> diagram *received* by a reader of the output topic (includes the "
             f"broker's ack and the reader's own fetch wait of up to "
             f"{report['reader_fetch_wait_ms']} ms). Max rate: a drain of a filled topic "
             f"({fills}), "
             "as windows/s x stride (the points/s that sustain it: the drain also reads each "
             f"stream's first {WINDOW - STRIDE} points, which complete no window); the latency "
             "phases offer 50% and 90% of that. Transport floor: the same producer at the "
             "same rate into another topic, read by a consumer process that does no work "
             "(ts -> arrival): the least any worker could show here. The producer, the broker "
             "and the reader share the cores with the worker; the producer and the readers "
             "run no cycle collection during a phase (its pauses are not the worker's). No "
             "streaming peer exists to compare against.", "",
             "| maxdim | encoding | max points/s | max windows/s | emitted p50 / p99 ms @50% | "
             "received p50 / p99 ms @50% | emitted p50 / p99 ms @90% | "
             "received p50 / p99 ms @90% | floor p50 / p99 ms @50% | floor p50 / p99 ms @90% | "
             "worker CPU % @50/90% | worker RSS MB (peak) | load avg (1 min) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for c in report["cases"]:
        a, b = c.get("at_50", {}), c.get("at_90", {})
        lines.append(
            f"| {c['maxdim']} | {c['encoding']} | {fmt(c['max_points_per_s'])} | "
            f"{fmt(c['max_windows_per_s'])} | {fmt(a.get('p50_ms'))} / {fmt(a.get('p99_ms'))} | "
            f"{fmt(a.get('received_p50_ms'))} / {fmt(a.get('received_p99_ms'))} | "
            f"{fmt(b.get('p50_ms'))} / {fmt(b.get('p99_ms'))} | "
            f"{fmt(b.get('received_p50_ms'))} / {fmt(b.get('received_p99_ms'))} | "
            f"{fmt(a.get('floor_p50_ms'), 1)} / {fmt(a.get('floor_p99_ms'), 1)} | "
            f"{fmt(b.get('floor_p50_ms'), 1)} / {fmt(b.get('floor_p99_ms'), 1)} | "
            f"{fmt(a.get('worker_cpu_percent'))} / {fmt(b.get('worker_cpu_percent'))} | "
            f"{fmt(c['worker_peak_rss_mb'])} | {c['load_avg_1m']:.1f} |"
        )
    drains = report.get("tracing_drains") or []
    if drains:
        off = [c["max_points_per_s"] for c in drains if not c["tracing"]]
        on = [c["max_points_per_s"] for c in drains if c["tracing"]]
        overhead = 100 * (1 - float(np.mean(on)) / float(np.mean(off)))
        lines += ["", "Tracing overhead (maxdim 0, binary; drains alternated off, on, off, on; "
                  "on = `GPU_TDA_TRACING=1` with the OpenTelemetry SDK recording every span): "
                  f"off {', '.join(fmt(x) for x in off)} points/s, "
                  f"on {', '.join(fmt(x) for x in on)} points/s: "
                  f"overhead {overhead:.1f}% of throughput (mean of each)."]  # fmt: skip
    scale = report.get("scale_out_drains") or []
    if scale:
        parts = [f"{c['workers']} worker{'s' if c['workers'] > 1 else ''} "
                 f"{fmt(c['max_points_per_s'])} points/s" for c in scale]  # fmt: skip
        lines += ["", "Scale-out (maxdim 0, binary drains run right after each other; the "
                  "workers share one consumer group and this machine's two cores with the "
                  f"broker): {', '.join(parts)}."]  # fmt: skip
    spans = report.get("tracing_in_process")
    if spans:
        lines += ["", "Tracing overhead in-process (`tracing_overhead.py`, no broker noise): the "
                  f"worker's spans of one micro-batch take {spans['span_s'] * 1e6:.0f} µs, its "
                  f"decode, buffer, compute and encode {spans['batch_s'] * 1e3:.1f} ms "
                  f"(maxdim 0, {spans['records']} messages): "
                  f"{100 * spans['span_s'] / spans['batch_s']:.2f}%."]  # fmt: skip
    lines += ["", "Ceilings measured in the same run:", ""]
    for c in report["cases"]:
        if "broker_alone_consume_points_per_s" in c:
            lines.append(
                f"- broker alone, {c['encoding']}: bare aiokafka getmany "
                f"{fmt(c['broker_alone_consume_points_per_s'])} points/s; "
                f"producer {fmt(c['producer_points_per_s'])} points/s"
            )
    for md, rate in report["compute_alone_windows_per_s"].items():
        lines.append(
            f"- compute alone, maxdim {md}: {fmt(rate)} windows/s "
            f"= {fmt(rate * STRIDE)} points/s at stride {STRIDE}"
        )
    r = report["rss_probe"]
    lines.append(
        f"- ring buffers holding {r['buffered_points']:,} points (1,000 streams x window 1,000): "
        f"{r['ring_bytes'] / 2**20:,.1f} MiB of arrays, process RSS {r['rss_mb']:,.0f} MB "
        f"({r['rss_before_mb']:,.0f} MB before)"
    )
    return "\n".join(lines) + "\n"


async def main_async(args: argparse.Namespace) -> dict:
    from gpu_tda.streaming.broker import EmbeddedBroker

    info = machine_info()
    print(f"machine: {describe(info)}", flush=True)
    cases = []
    # members started together join one generation (otherwise the first worker starts alone
    # and the second's arrival revokes partitions mid-drain)
    with EmbeddedBroker(port=0, initial_rebalance_delay_ms=3000) as broker:
        for maxdim in args.maxdims:
            for encoding in args.encodings:
                print(f"case maxdim {maxdim} {encoding} ...", flush=True)
                case = await run_case(broker.bootstrap_servers, maxdim, encoding, args)
                print(json.dumps(case, indent=1), f"\n  [{describe(info)}]", flush=True)
                cases.append(case)
        # the tracing and scale-out drains measure the CPU worker's spans and a second worker
        # on this machine's cores: a GPU run leaves them out (no second GPU, no OpenTelemetry)
        extras = args.backend == "cpu" and 0 in args.maxdims and "binary" in args.encodings
        tracing = []
        if extras:
            for traced in (False, True, False, True):
                print(f"tracing overhead drain, tracing={traced} ...", flush=True)
                case = await run_case(
                    broker.bootstrap_servers, 0, "binary", args, tracing=traced, shares=[]
                )
                tracing.append(case)
        scale_out = []
        if extras:
            for workers in (1, 2):
                print(f"scale-out drain, {workers} worker(s) in one group ...", flush=True)
                scale_out.append(await run_case(
                    broker.bootstrap_servers, 0, "binary", args, shares=[], workers=workers
                ))  # fmt: skip
    probe = subprocess.run([sys.executable, __file__, "--rss-probe"], capture_output=True,
                           text=True, check=True)  # fmt: skip
    return {
        "mode": "quick" if args.quick else "full", "machine": info, "streams": args.streams,
        "points_per_message": args.points_per_message, "cases": cases,
        "backend": args.backend,
        "compute_alone_windows_per_s": {md: compute_alone(md, 1000 if md == 0 else 100,
                                                          args.backend)
                                        for md in args.maxdims},
        "rss_probe": json.loads(probe.stdout), "peers": "none: no streaming peer to compare",
        "tracing_drains": tracing, "tracing_in_process": tracing_in_process() if extras else None,
        "scale_out_drains": scale_out,
        "worker_flags": WORKER_FLAGS,
        "reader_fetch_wait_ms": READER_FETCH_WAIT_MS,
        "fill_points_per_stream": {md: args.fill_points[md] for md in args.maxdims},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test, < 2 minutes")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    parser.add_argument("--streams", type=int, default=None)
    parser.add_argument("--points-per-message", type=int, default=32)
    parser.add_argument("--maxdim", type=int, action="append", dest="maxdims")
    parser.add_argument("--encoding", action="append", dest="encodings")
    parser.add_argument(
        "--backend", choices=("cpu", "gpu"), default="cpu",
        help="the worker's and the compute-alone figure's backend (gpu: a CUDA machine)",
    )  # fmt: skip
    parser.add_argument("--rss-probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_probe:
        print(json.dumps(rss_probe()))
        return
    args.maxdims = args.maxdims or [0, 1]
    args.encodings = args.encodings or ["binary", "json"]
    args.streams = args.streams or (100 if args.quick else 1000)
    # points per stream put in the topic before the worker starts: the drain to measure (at
    # maxdim 0, 125,000 windows: some 4 s at 1M points/s, long enough for a sustained rate;
    # 1,024 points per stream, as before 2beecb8, drained in about 1.5 s and moved by +-15%)
    args.fill_points = {0: 2048 if args.quick else 4096, 1: 160 if args.quick else 384,
                        2: 160, 3: 160}  # fmt: skip
    args.shares = [0.5, 0.9]
    args.phase_s = 3.0 if args.quick else 10.0
    args.drain_timeout = 300.0
    report = asyncio.run(main_async(args))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = ("stream_quick" if args.quick else "stream") + ("_gpu" if args.backend == "gpu" else "")
    (out / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    text = markdown(report)
    (out / f"{stem}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
