"""The native flag API: a cheap, never-raising ``is_enabled(name, stream_id)``.

    from gpu_tda.flags import GPU_COMPUTE, FlagClient

    with FlagClient.from_url("redis://localhost:6379/0") as flags:
        backend = "gpu" if flags.is_enabled(GPU_COMPUTE, stream_id) else "cpu"

Each call is a dict lookup in the store's cache plus one BLAKE2b hash: safe per window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from gpu_tda.flags.evaluate import Evaluation, Reason, evaluate
from gpu_tda.flags.metrics import FlagMetrics
from gpu_tda.flags.names import DEFAULT_REDIS_URL
from gpu_tda.flags.store import FlagStore

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock: the current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


class FlagClient:
    """Evaluates flags from a ``FlagStore``'s cache; never raises into the caller."""

    def __init__(
        self,
        store: FlagStore,
        *,
        metrics: FlagMetrics | None = None,
        clock: Clock = utc_now,
        owns_store: bool = False,
    ) -> None:
        self.store = store
        self._metrics = metrics
        self._clock = clock
        self._owns_store = owns_store

    @classmethod
    def from_url(
        cls,
        redis_url: str = DEFAULT_REDIS_URL,
        *,
        metrics: FlagMetrics | None = None,
        clock: Clock = utc_now,
        refresh_interval: float = 5.0,
    ) -> FlagClient:
        """A client owning its own store (started by ``start()`` / ``with``)."""
        store = FlagStore(redis_url, refresh_interval=refresh_interval, metrics=metrics)
        return cls(store, metrics=metrics, clock=clock, owns_store=True)

    def evaluate(
        self, name: str, key: str, attributes: Mapping[str, Any] | None = None
    ) -> Evaluation:
        """``(enabled, variant, reason)`` of flag ``name`` for targeting ``key``."""
        try:
            result = evaluate(self.store.get(name), key, attributes, now=self._clock())
        except Exception:  # never into the data path
            log.exception("evaluating flag %r failed; using the default (off)", name)
            result = Evaluation(False, None, Reason.ERROR)
        if self._metrics is not None:
            try:
                self._metrics.count_evaluation(name, result.enabled, result.variant)
            except Exception:
                log.debug("counting flag evaluation failed", exc_info=True)
        return result

    def is_enabled(
        self,
        name: str,
        key: str,
        attributes: Mapping[str, Any] | None = None,
        default: bool = False,
    ) -> bool:
        """Whether flag ``name`` is on for ``key`` (``default`` when missing or on error)."""
        result = self.evaluate(name, key, attributes)
        if result.reason in (Reason.MISSING, Reason.ERROR):
            return default
        return result.enabled

    def variant(
        self,
        name: str,
        key: str,
        attributes: Mapping[str, Any] | None = None,
        default: str | None = None,
    ) -> str | None:
        """The variant ``key`` gets, or ``default`` when the flag is off, missing or has none."""
        result = self.evaluate(name, key, attributes)
        return result.variant if result.variant is not None else default

    def start(self) -> FlagClient:
        """Start the underlying store (idempotent)."""
        self.store.start()
        return self

    def stop(self) -> None:
        """Stop the store if this client owns it (idempotent)."""
        if self._owns_store:
            self.store.stop()

    def __enter__(self) -> FlagClient:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
