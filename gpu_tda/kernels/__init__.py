"""Pure compute kernels: arrays and scalars in, arrays out.

No I/O, logging, clocks or settings here. CPU kernels are numba ``@njit(cache=True, nogil=True)``
free functions, and the small helpers their loops call are ``@loop_helper`` (the same, without
numba's reference counting); CUDA kernels live in ``cuda_*.py`` and are only imported by the GPU
engine.
Their on-disk cache carries one stamp for the whole package (``gpu_tda.kernel_cache``).

A counter that starts at zero and is passed to another kernel starts as ``np.int64(0)``: numba
types a literal ``0`` argument as a type of its own and compiles the callee (and everything it
calls) once more for it, which made the cold compile at maxdim 1 about 12 s (17%) longer.
"""

from gpu_tda import kernel_cache

kernel_cache.install()
