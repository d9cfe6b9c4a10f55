"""OpenTelemetry spans per micro-batch, or nothing at all.

    tracer = BatchTracer.from_env()          # GPU_TDA_TRACING=1 and opentelemetry importable
    root = tracer.start_batch(records=120)   # "gpu_tda.micro_batch", ended by end_batch()
    with tracer.stage(root, "compute", windows=32):
        ...
    tracer.end_batch(root)

The worker opens one root span per micro-batch when it is fetched and closes it after its
diagrams are published and its offsets committed; the stages (``decode_buffer``, ``compute``,
``publish``: handed to the producer until acknowledged, ``commit``) are its children. Fetches
merged into one job while it waited for compute keep their own roots; the job's stages hang
under the first. Spans go to whatever ``TracerProvider`` the
application installed (the SDK's exporters: OTLP, console, in-memory in tests); with none
installed, OpenTelemetry's API drops them.

Disabled (the default, or without the ``opentelemetry-api`` package: ``pip install
'gpu-tda[tracing]'``), every call returns at once: ``start_batch`` gives None and ``stage`` a
shared null context, so the data path pays one attribute check per stage.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

TRACING_ENV = "GPU_TDA_TRACING"
"""``1`` / ``true`` / ``on`` switches tracing on (when the opentelemetry API is installed)."""

ROOT_SPAN = "gpu_tda.micro_batch"
STAGES = ("decode_buffer", "compute", "publish", "commit")

_NULL = contextlib.nullcontext()


def tracing_requested(environ: dict[str, str] | None = None) -> bool:
    """Whether ``$GPU_TDA_TRACING`` asks for tracing."""
    value = (os.environ if environ is None else environ).get(TRACING_ENV, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


class BatchTracer:
    """Spans for micro-batches; a no-op unless enabled and ``opentelemetry`` is importable."""

    def __init__(self, enabled: bool = False, tracer_provider: Any = None) -> None:
        self._tracer: Any = None
        self._trace: Any = None
        if not enabled:
            return
        try:
            from opentelemetry import trace
        except ImportError:
            log.warning(
                "%s is set but opentelemetry is not installed (pip install 'gpu-tda[tracing]'); "
                "tracing stays off",
                TRACING_ENV,
            )
            return
        self._trace = trace
        self._tracer = trace.get_tracer("gpu_tda.streaming", tracer_provider=tracer_provider)

    @classmethod
    def from_env(cls, tracer_provider: Any = None) -> BatchTracer:
        return cls(tracing_requested(), tracer_provider)

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    def start_batch(self, **attributes: Any) -> Any:
        """The root span of one micro-batch (not made current: it crosses tasks), or None."""
        if self._tracer is None:
            return None
        return self._tracer.start_span(ROOT_SPAN, attributes=_clean(attributes))

    def end_batch(self, root: Any, **attributes: Any) -> None:
        if root is None:
            return
        if attributes:
            root.set_attributes(_clean(attributes))
        root.end()

    def stage(self, root: Any, name: str, **attributes: Any) -> contextlib.AbstractContextManager:
        """A child span of ``root`` around one stage; a shared null context when off."""
        if root is None:
            return _NULL
        return self._stage(root, name, attributes)

    def open_stage(self, root: Any, name: str, **attributes: Any) -> Any:
        """A child span of ``root`` that ends with ``close`` (it may cross tasks), or None."""
        if root is None:
            return None
        context = self._trace.set_span_in_context(root)
        return self._tracer.start_span(name, context=context, attributes=_clean(attributes))

    def close(self, span: Any) -> None:
        """End a span of ``open_stage`` (None: nothing)."""
        if span is not None:
            span.end()

    @contextlib.contextmanager
    def _stage(self, root: Any, name: str, attributes: dict[str, Any]) -> Iterator[Any]:
        context = self._trace.set_span_in_context(root)
        with self._tracer.start_as_current_span(
            name, context=context, attributes=_clean(attributes)
        ) as span:
            yield span


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    """OpenTelemetry attribute values: str, bool, int, float (others as str, None dropped)."""
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if value is None:
            continue
        out[key] = value if isinstance(value, (str, bool, int, float)) else str(value)
    return out
