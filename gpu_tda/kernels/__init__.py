"""Pure compute kernels: arrays and scalars in, arrays out.

No I/O, logging, clocks or settings here. CPU kernels are numba ``@njit(cache=True, nogil=True)``
free functions; CUDA kernels live in ``cuda_*.py`` and are only imported by the GPU engine.
Their on-disk cache carries one stamp for the whole package (``gpu_tda.kernel_cache``).
"""

from gpu_tda import kernel_cache

kernel_cache.install()
