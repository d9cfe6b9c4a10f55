"""``gpu-tda tail``: read the output topic and print one line per window (or its JSON)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

import numpy as np

from gpu_tda.streaming.diagram import WindowDiagram, decode_diagram


def longest_bar(wd: WindowDiagram, dim: int) -> tuple[float, float, float] | None:
    """(length, birth, death) of the longest finite bar of dimension ``dim``, or None."""
    bars = wd.bars(dim)
    finite = bars[np.isfinite(bars[:, 1])] if bars.size else bars
    if finite.size == 0:
        return None
    i = int(np.argmax(finite[:, 1] - finite[:, 0]))
    birth, death = float(finite[i, 0]), float(finite[i, 1])
    return death - birth, birth, death


def format_window(wd: WindowDiagram) -> str:
    """``stream-3  128#41  H0:127 H1:3  longest H1 0.412 [0.310, 0.722)  cpu 0.8 ms``."""
    counts = " ".join(f"H{d}:{len(bars)}" for d, bars in enumerate(wd.diagrams))
    h1 = longest_bar(wd, 1)
    longest = f"longest H1 {h1[0]:.3f} [{h1[1]:.3f}, {h1[2]:.3f})" if h1 else "longest H1 -"
    return (
        f"{wd.stream}  {wd.size}#{wd.seq}  {counts}  {longest}  {wd.backend} {wd.compute_ms:.2f} ms"
    )


async def tail(
    bootstrap_servers: str,
    topic: str,
    *,
    emit: Callable[[str], None] = print,
    as_json: bool = False,
    from_beginning: bool = False,
    stream: str | None = None,
    count: int | None = None,
    timeout: float | None = None,
    stop: asyncio.Event | None = None,
    on_window: Callable[[WindowDiagram], None] | None = None,
) -> int:
    """Print windows of ``topic`` until ``count`` were printed, ``timeout`` s or ``stop``."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
    )
    await consumer.start()
    printed = 0
    deadline = math.inf if timeout is None else time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    try:
                        wd = decode_diagram(record.value)
                    except ValueError as exc:
                        emit(f"(offset {record.offset}: not a diagram: {exc})")
                        continue
                    if stream is not None and wd.stream != stream:
                        continue
                    if on_window is not None:
                        on_window(wd)
                    emit(record.value.decode() if as_json else format_window(wd))
                    printed += 1
                    if count is not None and printed >= count:
                        return printed
    finally:
        await consumer.stop()
    return printed
