"""gpu-tda: batch-streaming Vietoris-Rips persistent homology on CPU and GPU.

The public API is three functions (see ``gpu_tda.api``)::

    dgms = gpu_tda.persistence(X, maxdim=1)
    batch = gpu_tda.persistence_batch(Xs, maxdim=1)
    gpu_tda.available_backends()
"""

from gpu_tda.api import available_backends, persistence, persistence_batch
from gpu_tda.exceptions import BackendUnavailableError, GpuTdaError, MemoryBudgetError

__all__ = [
    "BackendUnavailableError",
    "GpuTdaError",
    "MemoryBudgetError",
    "available_backends",
    "persistence",
    "persistence_batch",
]
__version__ = "0.1.0"
