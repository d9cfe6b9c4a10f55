"""Load ramp: raise the offered rate step by step until the latency goal breaks; find the knee.

    python bench/load_ramp.py                      # defaults below, ~3 minutes
    python bench/load_ramp.py --step-s 10 --rates 2000,5000,10000,20000,50000

An embedded broker, a ``gpu-tda worker`` in its own process (``--backend``, window 128 /
stride 32, maxdim 0, linger 1 ms, fetch wait ``--fetch-max-wait-ms``) and, in this process, a
producer sending messages of ``--points`` 3-D points (``--encoding``, binary by default), each
stamped with its send time.
Per step (``--step-s`` seconds at one offered rate): achieved throughput (the worker's
``tda_points_total`` over the step) and the end-to-end latency of every window of the step,
from its last point's ``ts`` (point produced) to the moment this process received the diagram
from the broker (published, acknowledged and fetched back; the reader's own fetch wait is
``READER_FETCH_WAIT_MS``); the worker's ``emitted_ts`` (stamped before sending) is reported
beside it. The knee is the last step whose received p99 meets the goal (``--goal-ms``, 10)
while keeping up (achieved >= 90% of what was actually sent). Writes
``load_ramp.json``, ``load_ramp.md`` and ``load_ramp.png`` (throughput and p99 against offered
load) to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, machine_info  # noqa: E402
from stream_bench import gc_paused  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RATES = (1000, 2000, 5000, 10000, 20000, 40000, 80000, 160000)
READER_FETCH_WAIT_MS = 5


def spawn_worker(bootstrap: str, topics: dict[str, str], metrics_port: int, extra: dict) -> Any:
    env = dict(os.environ)
    env.update(
        {
            "GPU_TDA_BOOTSTRAP_SERVERS": bootstrap,
            "GPU_TDA_INPUT_TOPIC": topics["input"],
            "GPU_TDA_OUTPUT_TOPIC": topics["output"],
            "GPU_TDA_DLQ_TOPIC": topics["dlq"],
            "GPU_TDA_GROUP_ID": topics["group"],
            "GPU_TDA_METRICS_PORT": str(metrics_port),
            "GPU_TDA_PARTITIONS": "1",
            "GPU_TDA_SESSION_TIMEOUT_MS": "3000",
            "PYTHONPATH": str(ROOT),
            **{k: str(v) for k, v in extra.items()},
        }
    )
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"{topics['group']}.log", "wb")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "gpu_tda.cli", "worker"], env=env, stdout=log, stderr=log, cwd=ROOT
    )


def scrape(port: int, name: str) -> float:
    """The sum of a metric's samples on the worker's /metrics (0 when absent)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return 0.0
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def wait_ready(port: int, timeout: float = 300.0) -> None:
    """Until the worker's /readyz answers 200 (a first run compiles the kernels: minutes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError("the worker did not become ready")


@contextlib.asynccontextmanager
async def worker_on_embedded_broker(
    tag: str, extra: dict[str, Any]
) -> AsyncIterator[tuple[str, dict[str, str], int, subprocess.Popen]]:
    """An embedded broker with this run's topics and a ready worker process (``extra``: its
    GPU_TDA_* settings): (bootstrap, topics, metrics port, worker); both stop on exit."""
    from gpu_tda.services import free_port
    from gpu_tda.streaming.broker import EmbeddedBroker
    from gpu_tda.streaming.topics import ensure_topics

    topics = {"input": f"{tag}.in", "output": f"{tag}.out", "dlq": f"{tag}.dlq", "group": tag}
    with EmbeddedBroker(port=0) as broker:
        bootstrap = broker.bootstrap_servers
        await ensure_topics(bootstrap, {topics["input"]: 1, topics["output"]: 1})
        port = free_port()
        worker = spawn_worker(bootstrap, topics, port, extra)
        try:
            await wait_ready(port)
            yield bootstrap, topics, port, worker
        finally:
            worker.terminate()
            worker.wait(timeout=30)


class Producer:
    """Point messages (``encoding``: binary or json) at a steady rate, each stamped with its
    send time (ms)."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        streams: int,
        points: int,
        encoding: str = "binary",
        seed: int = 0,
    ):
        from aiokafka import AIOKafkaProducer

        from gpu_tda.streaming import encode_points_binary, encode_points_json

        self.encode = encode_points_json if encoding == "json" else encode_points_binary
        self.topic = topic
        self.points = points
        self.keys = [f"s-{i}".encode() for i in range(streams)]
        self.rng = np.random.default_rng(seed)
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1, acks=1)
        self.sent_points = 0

    async def run(self, rate: float, seconds: float) -> None:
        """Offer ``rate`` points/s for ``seconds`` (messages sent in 5 ms ticks)."""
        tick = 0.005
        start = time.monotonic()
        sent = 0
        i = 0
        while (elapsed := time.monotonic() - start) < seconds:
            # paced by the clock, not by ticks: a late wake-up sends the backlog
            while (sent + self.points) <= rate * elapsed:
                pts = self.rng.normal(size=(self.points, 3))
                ts = int(time.time() * 1000)
                await self.producer.send(
                    self.topic, self.encode(pts, ts), key=self.keys[i % len(self.keys)]
                )
                i += 1
                sent += self.points
                self.sent_points += self.points
            await asyncio.sleep(max(0.0, start + elapsed + tick - time.monotonic()))
        await self.producer.flush()


class Latencies:
    """Reads the output topic in the background; end-to-end latency (ms) per window."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from aiokafka import AIOKafkaConsumer

        self.consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=READER_FETCH_WAIT_MS,
        )
        # (arrival monotonic, received latency ms, emitted latency ms)
        self.samples: list[tuple[float, float, float]] = []
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        from gpu_tda.streaming import decode_diagram

        while True:
            batch = await self.consumer.getmany(timeout_ms=100)
            now, now_ms = time.monotonic(), time.time() * 1000
            for records in batch.values():
                for r in records:
                    wd = decode_diagram(r.value)
                    if wd.end_ts and wd.emitted_ts:
                        self.samples.append(
                            (now, now_ms - wd.end_ts, float(wd.emitted_ts - wd.end_ts))
                        )

    def between(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
        """(received, emitted) latencies in ms of the diagrams that arrived in [t0, t1)."""
        rows = [(r, e) for t, r, e in self.samples if t0 <= t < t1]
        return np.array([r for r, _ in rows]), np.array([e for _, e in rows])

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        await self.consumer.stop()


async def ramp(args: argparse.Namespace) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    extra = {
        "GPU_TDA_WINDOW": args.window,
        "GPU_TDA_STRIDE": args.stride,
        "GPU_TDA_MAXDIM": args.maxdim,
        "GPU_TDA_BACKEND": args.backend,
        "GPU_TDA_LINGER_MS": args.linger_ms,
        "GPU_TDA_FETCH_MAX_WAIT_MS": args.fetch_max_wait_ms,
        "GPU_TDA_MAX_BATCH_RECORDS": 2000,
    }
    async with worker_on_embedded_broker(f"ramp-{os.getpid()}", extra) as (
        bootstrap,
        topics,
        port,
        worker,
    ):
        producer = Producer(bootstrap, topics["input"], args.streams, args.points, args.encoding)
        latencies = Latencies(bootstrap, topics["output"])
        try:
            await producer.producer.start()
            await latencies.start()
            # fill every stream's ring buffer once (and compile) before measuring
            fill = args.streams * int(args.window)
            await producer.run(rate=max(fill / 5, 2000), seconds=5)
            await asyncio.sleep(3)
            for rate in args.rates:
                p0, t0 = scrape(port, "tda_points_total"), time.monotonic()
                sent0 = producer.sent_points
                with gc_paused():  # this process's own pauses are not the worker's
                    await producer.run(rate, args.step_s)
                    t1 = time.monotonic()
                    await asyncio.sleep(0.5)  # the step's last windows
                p1 = scrape(port, "tda_points_total")
                lat, emitted = latencies.between(t0 + 1.0, t1 + 0.5)  # skip a rate's first second
                achieved = (p1 - p0) / (t1 + 0.5 - t0)
                step = {
                    "offered_points_s": rate,
                    "sent_points_s": round((producer.sent_points - sent0) / (t1 - t0), 1),
                    "achieved_points_s": round(achieved, 1),
                    "windows": int(lat.size),
                    "p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
                    "p99_ms": float(np.percentile(lat, 99)) if lat.size else None,
                    "emitted_p50_ms": float(np.percentile(emitted, 50)) if lat.size else None,
                    "emitted_p99_ms": float(np.percentile(emitted, 99)) if lat.size else None,
                    "load_avg_1m": os.getloadavg()[0],
                    "worker_rss_mb": round(rss_bytes(worker.pid) / 2**20, 1),
                }
                steps.append(step)
                print(json.dumps(step), flush=True)
                if achieved < 0.5 * rate or (step["p99_ms"] or 0) > 50 * args.goal_ms:
                    break  # far past the knee: stop loading the machine
                await asyncio.sleep(2)  # let the queue drain between steps
        finally:
            await latencies.stop()
            await producer.producer.stop()
    knee = None
    for step in steps:
        ok = step["p99_ms"] is not None and step["p99_ms"] <= args.goal_ms
        if ok and step["achieved_points_s"] >= 0.9 * step["sent_points_s"]:
            knee = step
        else:
            break
    keeping_up = [s for s in steps if s["achieved_points_s"] >= 0.9 * s["sent_points_s"]]
    return {"steps": steps, "knee": knee, "keeps_up_to": keeping_up[-1] if keeping_up else None}


def write(result: dict[str, Any], args: argparse.Namespace, info: dict[str, Any]) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    setup = {k: getattr(args, k) for k in ("window", "stride", "maxdim", "backend", "streams",
                                           "points", "encoding", "linger_ms", "fetch_max_wait_ms",
                                           "step_s", "goal_ms")}  # fmt: skip
    doc = {"machine": info, "setup": setup, **result}
    (out / "load_ramp.json").write_text(json.dumps(doc, indent=2) + "\n")
    lines = [
        "# Load ramp (bench/load_ramp.py)",
        "",
        f"Machine: {describe(info)}",
        "",
        f"Setup: {json.dumps(setup)}",
        "",
        f"Latency: point produced -> diagram received by a reader (fetch wait "
        f"{READER_FETCH_WAIT_MS} ms); emitted = worker's stamp before sending.",
        "",
        "| offered points/s | sent | achieved | windows | received p50 / p99 ms "
        "| emitted p50 / p99 ms | worker RSS MB | load avg |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    for s in result["steps"]:
        lines.append(
            f"| {s['offered_points_s']:,} | {s['sent_points_s']:,.0f} "
            f"| {s['achieved_points_s']:,.0f} | {s['windows']} "
            f"| {ms(s['p50_ms'])} / {ms(s['p99_ms'])} "
            f"| {ms(s['emitted_p50_ms'])} / {ms(s['emitted_p99_ms'])} "
            f"| {s['worker_rss_mb']} | {s['load_avg_1m']:.1f} |"
        )
    knee = result["knee"]
    lines += [
        "",
        f"Knee (last step with p99 <= {args.goal_ms:g} ms and achieved >= 90% of sent): "
        + ("none: the first step already missed the goal" if knee is None
           else f"{knee['offered_points_s']:,} points/s (p99 {knee['p99_ms']:.1f} ms)"),
    ]  # fmt: skip
    top = result["keeps_up_to"]
    if top is not None:
        lines.append(
            f"Throughput knee (highest step still keeping up, whatever the latency): "
            f"{top['offered_points_s']:,} points/s offered, {top['sent_points_s']:,.0f} sent, "
            f"{top['achieved_points_s']:,.0f} achieved, received p99 {ms(top['p99_ms'])} ms."
        )
    (out / "load_ramp.md").write_text("\n".join(lines) + "\n")
    plot(result, args, out / "load_ramp.png", describe(info))


def plot(result: dict[str, Any], args: argparse.Namespace, path: Path, machine: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = result["steps"]
    offered = [s["offered_points_s"] for s in steps]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(offered, [s["achieved_points_s"] for s in steps], "o-", label="achieved points/s")
    ax.plot(offered, offered, ":", color="grey", label="offered = achieved")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered load (points/s)")
    ax.set_ylabel("throughput (points/s)")
    lat = ax.twinx()
    p99 = [s["p99_ms"] or np.nan for s in steps]
    lat.plot(offered, p99, "s-", color="tab:red", label="received p99")
    lat.axhline(args.goal_ms, color="tab:red", ls="--", lw=0.8, label=f"goal {args.goal_ms:g} ms")
    lat.set_yscale("log")
    lat.set_ylabel("end-to-end p99 latency (ms)", color="tab:red")
    if result["knee"] is not None:
        ax.axvline(result["knee"]["offered_points_s"], color="green", lw=0.8, label="knee")
    handles = ax.get_legend_handles_labels()[0] + lat.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper left", fontsize=8)
    ax.set_title(f"gpu-tda worker load ramp ({args.backend}, window {args.window}/"
                 f"{args.stride}, maxdim {args.maxdim})\n{machine}", fontsize=8)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default=",".join(map(str, DEFAULT_RATES)))
    parser.add_argument("--step-s", type=float, default=8.0)
    parser.add_argument("--goal-ms", type=float, default=10.0)
    parser.add_argument("--window", default="128")
    parser.add_argument("--stride", default="32")
    parser.add_argument("--maxdim", default="0")
    parser.add_argument("--backend", default="cpu")
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--points", type=int, default=8, help="points per message")
    parser.add_argument("--encoding", choices=("binary", "json"), default="binary")
    parser.add_argument("--linger-ms", default="0")
    parser.add_argument("--fetch-max-wait-ms", default="10")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = parser.parse_args()
    args.rates = [int(r) for r in str(args.rates).split(",")]
    info = machine_info()
    print(describe(info), flush=True)
    result = asyncio.run(ramp(args))
    write(result, args, info)
    print(Path(args.out) / "load_ramp.md")


if __name__ == "__main__":
    main()
