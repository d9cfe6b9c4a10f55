"""``gpu-tda demo``: broker + Redis + producer + worker + tail on loopback, one command.

The embedded broker and redis-server are child processes started from the main thread with
``die_with_parent`` (they go when this process goes, however it ends); the producer, the
worker and the tail run as tasks on one event loop. A status line reports progress; Ctrl-C, or
the end of ``duration``, stops the producer, drains the worker, and stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gpu_tda.settings import WorkerSettings
from gpu_tda.streaming.diagram import WindowDiagram
from gpu_tda.streaming.produce import LoadSpec, ProduceStats, produce_load
from gpu_tda.streaming.tail import format_window, longest_bar, tail

if TYPE_CHECKING:
    from gpu_tda.streaming.worker import KafkaWorker


@dataclass
class DemoStatus:
    """Counters the status line shows."""

    started: float = field(default_factory=time.monotonic)
    produced: ProduceStats | None = None
    windows: int = 0
    longest_h1: float = 0.0
    last: str = ""

    def on_window(self, wd: WindowDiagram) -> None:
        self.windows += 1
        h1 = longest_bar(wd, 1)
        if h1 is not None:
            self.longest_h1 = max(self.longest_h1, h1[0])
        self.last = f"{wd.stream} {wd.size}#{wd.seq}"

    def line(self, lag: float) -> str:
        elapsed = time.monotonic() - self.started
        points = self.produced.points if self.produced else 0
        rate = points / elapsed if elapsed > 0 else 0.0
        wrate = self.windows / elapsed if elapsed > 0 else 0.0
        return (
            f"[{elapsed:6.1f}s] points {points:,} ({rate:,.0f}/s) | windows {self.windows:,} "
            f"({wrate:,.1f}/s) | max H1 bar {self.longest_h1:.3f} | lag {lag:,.0f} | "
            f"last {self.last or '-'}"
        )


async def run_demo(
    bootstrap_servers: str,
    redis_url: str | None,
    spec: LoadSpec,
    settings: WorkerSettings,
    *,
    show_windows: bool = False,
    emit: Callable[[str], None] = print,
    status: Callable[[str], None] | None = None,
) -> DemoStatus:
    """Run producer, worker and tail until ``spec.duration`` (or a signal); return the counts."""
    from gpu_tda.streaming.worker import KafkaWorker

    board = DemoStatus()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    worker = KafkaWorker(settings)
    tasks: list[asyncio.Task[object]] = []
    try:
        if status is not None:
            status("compiling the compute kernels (first run only takes longer) ...")
        await asyncio.to_thread(worker.warm_up)
        await worker.start()
        board.started = time.monotonic()
        tasks.append(asyncio.create_task(worker.run()))
        tasks.append(
            asyncio.create_task(
                tail(
                    bootstrap_servers,
                    settings.output_topic,
                    from_beginning=True,
                    stop=stop,
                    emit=emit if show_windows else (lambda _line: None),
                    on_window=board.on_window,
                )
            )
        )
        producer = asyncio.create_task(
            produce_load(
                bootstrap_servers,
                settings.input_topic,
                spec,
                partitions=settings.partitions,
                stop=stop,
                on_progress=lambda p: setattr(board, "produced", p),
            )
        )
        deadline = None if spec.duration is None else time.monotonic() + spec.duration
        while not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            if producer.done() and producer.exception() is not None:
                raise producer.exception()  # type: ignore[misc]
            await asyncio.sleep(0.5)
            if status is not None:
                status(board.line(_lag(worker)))
        stop.set()
        board.produced = await producer
        await asyncio.sleep(1.0)  # let the worker publish what it has, the tail read it
        if status is not None:
            status(board.line(_lag(worker)))
    finally:
        stop.set()
        worker.request_stop()
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 30)
        await worker.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
    return board


def _lag(worker: KafkaWorker) -> float:
    lag = worker.metrics.consumer_lag
    return sum(sample.value for metric in lag.collect() for sample in metric.samples)


def demo_main(
    spec: LoadSpec,
    windows: tuple[str, ...],
    stride: int,
    maxdim: int,
    backend: str,
    partitions: int,
    show_windows: bool,
) -> int:
    """Start the services (main thread), run the demo loop, stop everything; exit code."""
    from gpu_tda.services import EmbeddedRedis
    from gpu_tda.streaming.broker import EmbeddedBroker

    out = sys.stderr
    broker = EmbeddedBroker(port=0, die_with_parent=True)
    redis = EmbeddedRedis(port=0, die_with_parent=True) if shutil.which("redis-server") else None
    try:
        print("starting the embedded broker ...", file=out, flush=True)
        broker.start()
        redis_url = None
        if redis is not None:
            redis.start()
            redis_url = redis.url
        print(
            f"broker {broker.bootstrap_servers}, redis {redis_url or '(none: flags off)'}; "
            "Ctrl-C to stop",
            file=out,
            flush=True,
        )
        settings = WorkerSettings(
            bootstrap_servers=broker.bootstrap_servers,
            windows=windows,
            stride=stride,
            maxdim=maxdim,
            backend=backend,
            redis_url=redis_url,
            partitions=partitions,
            session_timeout_ms=3000,
            group_id="gpu-tda-demo",
        )
        tty = out.isatty()

        def status(line: str) -> None:
            print(
                ("\r" + line + "\x1b[K") if tty else line,
                end="" if tty else "\n",
                file=out,
                flush=True,
            )

        board = asyncio.run(
            run_demo(
                broker.bootstrap_servers,
                redis_url,
                spec,
                settings,
                show_windows=show_windows,
                emit=print,
                status=status,
            )
        )
        if tty:
            print(file=out)
        produced = board.produced.points if board.produced else 0
        print(f"demo done: {produced:,} points in, {board.windows:,} windows out", file=out)
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        if redis is not None:
            redis.stop()
        broker.stop()


__all__ = ["DemoStatus", "demo_main", "format_window", "run_demo"]
