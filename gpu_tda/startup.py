"""What a long-running process (the worker, the embedded broker) does once it has started."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Exempt everything alive after start-up (modules, compiled kernels, clients) from the
    garbage collector's scans.

    A full collection walks every tracked object: about 150,000 to 185,000 once numba and
    aiokafka are loaded, which stalls the event loop for 40 to 150 ms on a 2-core machine, and a
    busy process allocates enough to trigger several a minute. In the broker such a stall
    delays every fetch and produce it serves, so it shows in every client's latency. Frozen
    objects are still freed by reference counting; only the cycle scans skip them, so later
    collections walk just the objects created since.
    """
    gc.collect()
    gc.freeze()
