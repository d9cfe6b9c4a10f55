"""Running the worker as a process: signals, a bounded shutdown, an exit code.

SIGTERM or SIGINT asks the worker to stop: it stops fetching, finishes the queued micro-batches,
publishes, checkpoints, commits, leaves the group and returns 0. A second signal skips the drain
(what was not committed is replayed by the next owner of the partitions).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import warnings
from typing import Any

from gpu_tda.settings import WorkerSettings
from gpu_tda.startup import freeze_startup_objects

log = logging.getLogger(__name__)


async def serve(
    settings: WorkerSettings,
    *,
    count: int | None = None,
    timeout: float | None = None,
    **worker_kwargs: Any,
) -> int:
    """Start a worker, run it until a signal (or ``count`` / ``timeout``), stop it; exit code."""
    from gpu_tda.streaming.worker import KafkaWorker

    loop = asyncio.get_running_loop()
    worker = KafkaWorker(settings, **worker_kwargs)
    main = asyncio.current_task()
    signals = 0

    def on_signal(signum: int) -> None:
        nonlocal signals
        signals += 1
        log.info("received %s: stopping", signal.Signals(signum).name)
        worker.request_stop()
        if signals > 1 and main is not None:
            main.cancel()

    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, on_signal, signum)
    try:
        log.info(
            "warming up the compute engine and the intake (a first run on this machine compiles "
            "the kernels: up to a minute at maxdim 0-1, two at maxdim 2-3)"
        )
        seconds = await asyncio.to_thread(worker.warm_up)
        log.info("compute engine ready (%s, warm-up %.1f s)", worker.computer.backend, seconds)
        await worker.start()
        freeze_startup_objects()
        log.info(
            "worker started: %s -> %s (group %s, windows %s, maxdim %d, backend %s)",
            settings.input_topic,
            settings.output_topic,
            settings.group_id,
            [f"{s.size}:{s.stride}" for s in worker.specs],
            settings.maxdim,
            worker.computer.backend,
        )
        await worker.run(count=count, timeout=timeout)
        await worker.stop()
        log.info(
            "worker stopped cleanly after %d records, %d windows",
            worker.records_handled,
            worker.windows_published,
        )
        return 0
    except asyncio.CancelledError:
        log.warning("stopped without draining (second signal)")
        return 0
    finally:
        await worker.stop()  # idempotent; closes the clients even after a second signal
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)


LOW_OCCUPANCY_WARNING = r".*Grid size \d+ will likely result in GPU under-utilization"
"""numba-cuda's warning for a launch of fewer blocks than the device has multiprocessors."""


def configure_logging(level: str = "INFO") -> None:
    """The worker's log format and levels; numba-cuda's low-occupancy warnings silenced: the GPU
    engine launches one block per window, so a micro-batch of a few windows is a small grid by
    design, and numba-cuda would warn once for every grid size it sees."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=LOW_OCCUPANCY_WARNING)
