"""Errors of the streaming package, all under ``gpu_tda.GpuTdaError``."""

from __future__ import annotations

from gpu_tda.exceptions import GpuTdaError


class StreamingError(GpuTdaError):
    """Root of the streaming package's errors."""


class WindowConfigError(StreamingError, ValueError):
    """Window sizes or strides that cannot work (zero, negative, not integers)."""


class InvalidMessage(StreamingError, ValueError):
    """An input message the worker cannot use; ``reason`` is a short code for the DLQ.

    Reason codes (the DLQ ``error`` header starts with one, and they label
    ``tda_dlq_messages_total``): ``empty_key``, ``bad_key``, ``not_json``, ``bad_schema``,
    ``bad_shape``, ``not_numeric``, ``non_finite``, ``wrong_dimension``, ``bad_ts``,
    ``bad_binary``.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    @property
    def header(self) -> str:
        """The text of the DLQ ``error`` header: ``"<reason>: <detail>"``."""
        return f"{self.reason}: {self.detail}"


class WorkerStoppedError(StreamingError, RuntimeError):
    """The worker was used after ``stop()``."""


class CheckpointError(StreamingError, RuntimeError):
    """A checkpoint record could not be read or did not match its partition."""
