"""Well-known names: the flags the worker reads and where definitions live in Redis."""

GPU_COMPUTE = "gpu-compute"
"""On for a stream: its windows run on the GPU backend."""

SHADOW_COMPARE = "shadow-compare"
"""On for a stream: its windows are also computed on the other backend and compared."""

DEFAULT_REDIS_URL = "redis://localhost:6379/0"
"""Where flags live unless ``--redis-url`` / ``GPU_TDA_REDIS_URL`` says otherwise."""

FLAGS_KEY = "gpu-tda:flags"
"""The Redis hash: flag name -> definition JSON; changes are published on ``<key>:changed``."""
