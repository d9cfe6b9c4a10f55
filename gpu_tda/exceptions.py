"""One exception root for gpu-tda; sub-packages derive their own errors from it."""


class GpuTdaError(Exception):
    """Root of every error gpu-tda raises on purpose."""


class BackendUnavailableError(GpuTdaError, RuntimeError):
    """The requested compute backend cannot run on this machine (e.g. no usable GPU)."""


class MemoryBudgetError(GpuTdaError, MemoryError):
    """A computation would need more memory than the configured bound allows."""
