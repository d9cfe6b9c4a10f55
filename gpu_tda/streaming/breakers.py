"""Circuit breakers of the worker: the GPU path, the producer, and Redis (flags), on ``aiobreaker``.

Each breaker is an ``aiobreaker.CircuitBreaker`` whose state changes are exported as
``tda_circuit_breaker_state{name}`` (0 closed, 1 open, 2 half-open) and logged:

* ``gpu`` (``GpuGuard``): wraps the ``persistence_batch``-shaped compute function and the
  batches gathered from the worker's device rings (``on_device``). A GPU batch
  fails when the call raises or when the GPU engine had to redo it on the CPU (device error, or
  out of memory even at one window). ``fail_max`` failures in a row open the breaker: GPU
  batches then go straight to the CPU (``tda_backend_fallbacks_total{reason="circuit_open"}``)
  until ``reset_s`` has passed; the next GPU batch is the half-open probe, and its success
  closes the breaker (windows return to the GPU).
* ``producer`` (``Publisher``): each delivery attempt (send, then wait up to
  ``attempt_timeout_s`` for the broker's acknowledgements) goes through it. While it is open the
  worker pauses its input partitions; nothing is dropped (unacknowledged records are awaited or
  re-sent) and nothing is committed (commits only follow a completed delivery).
* ``redis``: the flag store already serves its cache while Redis is away and reconnects with a
  backoff (its own half-open probe); ``redis_state`` reads that as a breaker state.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from aiobreaker import CircuitBreaker, CircuitBreakerError, CircuitBreakerListener
from aiobreaker.state import CircuitBreakerState

from gpu_tda.backends import Backend
from gpu_tda.exceptions import BackendUnavailableError, MemoryBudgetError
from gpu_tda.metrics import WorkerMetrics
from gpu_tda.streaming.batch import persistence_of_batch_fn

if TYPE_CHECKING:
    from gpu_tda.streaming.device_mirror import DeviceBatch

log = logging.getLogger(__name__)

_STATE_NAMES = {
    CircuitBreakerState.CLOSED: "closed",
    CircuitBreakerState.OPEN: "open",
    CircuitBreakerState.HALF_OPEN: "half_open",
}

StateHook = Callable[[str, str], None]
"""(breaker name, new state "closed" | "open" | "half_open") -> None."""


@dataclass(frozen=True)
class BreakerConfig:
    """How many failures in a row open a breaker, and how long it stays open before a probe."""

    fail_max: int = 3
    reset_s: float = 5.0

    def __post_init__(self) -> None:
        if self.fail_max < 1:
            raise ValueError(f"fail_max must be >= 1, got {self.fail_max}")
        if self.reset_s <= 0:
            raise ValueError(f"reset_s must be > 0, got {self.reset_s}")


class _StateListener(CircuitBreakerListener):
    """Exports state changes to the gauge, keeps the recent transitions, calls a hook."""

    def __init__(self, name: str, metrics: WorkerMetrics | None, hook: StateHook | None) -> None:
        self.name = name
        self.metrics = metrics
        self.hook = hook
        self.transitions: deque[str] = deque(maxlen=64)

    def state_change(self, breaker: Any, old: Any, new: Any) -> None:
        state = _STATE_NAMES[new.state]
        self.transitions.append(state)
        if self.metrics is not None:
            self.metrics.set_breaker(self.name, state)
        (log.warning if state == "open" else log.info)("circuit breaker %s: %s", self.name, state)
        if self.hook is not None:
            try:
                self.hook(self.name, state)
            except Exception:  # a hook must not break the guarded call
                log.exception("circuit breaker %s: state hook failed", self.name)


def make_breaker(
    name: str,
    config: BreakerConfig,
    metrics: WorkerMetrics | None = None,
    *,
    hook: StateHook | None = None,
    exclude: Sequence[type[BaseException]] = (),
) -> CircuitBreaker:
    """A named ``aiobreaker.CircuitBreaker`` reporting its state to ``metrics`` and ``hook``.

    ``exclude``: exception types that are the caller's fault, not the resource's (they pass
    through and count as successes).
    """
    listener = _StateListener(name, metrics, hook)
    breaker = CircuitBreaker(
        fail_max=config.fail_max,
        timeout_duration=timedelta(seconds=config.reset_s),
        exclude=list(exclude),
        listeners=[listener],
        name=name,
    )
    if metrics is not None:
        metrics.set_breaker(name, "closed")
    return breaker


def breaker_state(breaker: CircuitBreaker) -> str:
    """ "closed", "open" or "half_open"."""
    return _STATE_NAMES[breaker.current_state]


def breaker_transitions(breaker: CircuitBreaker) -> list[str]:
    """The states ``breaker`` moved to, oldest first (the last 64)."""
    for listener in breaker.listeners:
        if isinstance(listener, _StateListener):
            return list(listener.transitions)
    return []


# -- GPU ----------------------------------------------------------------------------------------


class GpuPathError(RuntimeError):
    """A GPU batch did not run on the GPU; ``reason`` is the fallback label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class _EngineFellBack(Exception):
    """Raised inside the breaker: the engine redid (part of) the batch on the CPU."""

    def __init__(self, reason: str, results: list[list[np.ndarray]]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.results = results


class GpuGuard:
    """A compute function (``persistence_batch`` shape) with the GPU path behind a breaker.

    CPU batches pass straight through. A failed GPU batch raises ``GpuPathError``, so the
    ``WindowComputer`` redoes it on the CPU and labels its windows "cpu"; when the GPU engine
    already computed it on the CPU, that result is handed back for the redo instead of
    computing it twice. ``on_device`` runs a batch gathered on the device (the worker's device
    rings) behind the same breaker; its redo is of the batch's host windows. ``take_fallbacks()``
    returns (and forgets) the reasons since the last call. Calls come from one compute thread
    at a time.
    """

    def __init__(
        self,
        compute_fn: Callable[..., Any],
        breaker: CircuitBreaker,
        device_fn: Callable[..., Any] = persistence_of_batch_fn,
    ) -> None:
        """Prefer ``GpuGuard.create``: it excludes the windows' own errors from the count."""
        self._inner = compute_fn
        self._device = device_fn
        self.breaker = breaker
        self._fallbacks: list[str] = []
        self._redo: tuple[object, list[list[np.ndarray]]] | None = None
        self._lock = threading.Lock()

    def __call__(
        self, windows: Sequence[np.ndarray], *, maxdim: int, threshold: float, backend: str
    ) -> list[list[np.ndarray]]:
        if backend != Backend.GPU.value:
            redo, self._redo = self._redo, None
            if redo is not None and redo[0] is windows:
                return redo[1]
            return self._inner(windows, maxdim=maxdim, threshold=threshold, backend=backend)
        run = functools.partial(
            self._inner, windows, maxdim=maxdim, threshold=threshold, backend=backend
        )
        return self._guarded(windows, run)

    def on_device(
        self, batch: DeviceBatch, *, maxdim: int, threshold: float
    ) -> list[list[np.ndarray]]:
        """Diagrams of a device batch on the GPU, behind the breaker (``GpuPathError`` when
        not: the CPU redo is of ``batch.windows``)."""
        run = functools.partial(self._device, batch, maxdim=maxdim, threshold=threshold)
        return self._guarded(batch.windows, run)

    @classmethod
    def create(
        cls,
        compute_fn: Callable[..., Any],
        config: BreakerConfig | None = None,
        metrics: WorkerMetrics | None = None,
        name: str = "gpu",
    ) -> GpuGuard:
        """A guard with its own breaker ``name``; ValueError / MemoryBudgetError do not count."""
        breaker = make_breaker(
            name, config or BreakerConfig(), metrics, exclude=(ValueError, MemoryBudgetError)
        )
        return cls(compute_fn, breaker)

    def take_fallbacks(self) -> list[str]:
        """Fallback reasons of the GPU batches that failed since the last call."""
        with self._lock:
            out, self._fallbacks = self._fallbacks, []
        return out

    def _guarded(
        self, windows: Sequence[np.ndarray], run: Callable[[], list[list[np.ndarray]]]
    ) -> list[list[np.ndarray]]:
        """``run()`` (the GPU batch of ``windows``) through the breaker."""
        try:
            return self.breaker.call(self._attempt, run)
        except CircuitBreakerError as exc:
            cause = exc.__cause__  # set when this very call opened the breaker
            reason = _gpu_reason(cause) if cause is not None else "circuit_open"
            if isinstance(cause, _EngineFellBack):
                self._redo = (windows, cause.results)
            self._note(reason)
            raise GpuPathError(reason, f"GPU batch not run on the GPU: {exc.message}") from exc
        except _EngineFellBack as exc:
            self._redo = (windows, exc.results)
            self._note(exc.reason)
            raise GpuPathError(exc.reason, "the GPU engine fell back to the CPU") from None
        except (ValueError, MemoryBudgetError):
            raise  # the windows' fault, not the GPU's: the CPU would refuse them too
        except Exception as exc:
            reason = _gpu_reason(exc)
            self._note(reason)
            raise GpuPathError(reason, f"GPU batch failed: {exc}") from exc

    def _note(self, reason: str) -> None:
        with self._lock:
            self._fallbacks.append(reason)

    def _attempt(self, run: Callable[[], list[list[np.ndarray]]]) -> list[list[np.ndarray]]:
        before = _engine_failures()
        results = run()
        after = _engine_failures()
        if after[0] > before[0]:
            raise _EngineFellBack(_gpu_reason_text(after[1]), results)
        return results


def _engine_failures() -> tuple[int, str | None]:
    """(CPU fallbacks so far, last error) of the process's GPU engine, if it was ever loaded."""
    module = sys.modules.get("gpu_tda.gpu_engine")
    if module is None:
        return 0, None
    stats = module.default_engine().stats
    return stats.cpu_fallbacks, stats.last_error


def _gpu_reason(exc: BaseException) -> str:
    if isinstance(exc, _EngineFellBack):
        return exc.reason
    if isinstance(exc, BackendUnavailableError):
        return "unavailable"
    if isinstance(exc, MemoryError):
        return "out_of_memory"
    return _gpu_reason_text(str(exc))


def _gpu_reason_text(text: str | None) -> str:
    return "out_of_memory" if text and "out of memory" in text.lower() else "error"


def redis_state(flags: Any) -> str | None:
    """The Redis breaker's state seen through a ``FlagClient``: "open" while its store cannot
    reach Redis (the cache serves), "closed" otherwise; None without a flag store."""
    store = getattr(flags, "store", None)
    if store is None or not hasattr(store, "reachable"):
        return None
    return "closed" if store.reachable else "open"
