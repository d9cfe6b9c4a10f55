"""Feature flags for gpu-tda: Redis-backed, live-updated, consistent per stream id.

    from gpu_tda.flags import GPU_COMPUTE, FlagClient

    with FlagClient.from_url(redis_url) as flags:            # starts the background refresher
        use_gpu = flags.is_enabled(GPU_COMPUTE, stream_id)    # dict lookup + hash; never raises

Layers: ``model`` (definitions, JSON schema ``gpu-tda.flag/1``) -> ``evaluate`` (pure
decisions) -> ``store`` (Redis + cache + refresher) -> ``client`` (native API) / ``provider``
(OpenFeature) / ``cli`` (``gpu-tda flags``). Names load lazily, so importing this package
(e.g. for ``gpu-tda --help``) pulls in neither redis nor prometheus_client.
"""

from __future__ import annotations

import importlib
from typing import Any

from gpu_tda.flags.names import DEFAULT_REDIS_URL, FLAGS_KEY, GPU_COMPUTE, SHADOW_COMPARE

_LAZY = {
    "FlagDefinition": "model",
    "Strategy": "model",
    "Variant": "model",
    "SCHEMA": "model",
    "parse_flag": "model",
    "Evaluation": "evaluate",
    "Reason": "evaluate",
    "evaluate": "evaluate",
    "bucket": "evaluate",
    "FlagMetrics": "metrics",
    "FlagStore": "store",
    "FlagClient": "client",
    "GpuTdaProvider": "provider",
}

__all__ = ["DEFAULT_REDIS_URL", "FLAGS_KEY", "GPU_COMPUTE", "SHADOW_COMPARE", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gpu_tda.flags' has no attribute {name!r}")
    return getattr(importlib.import_module(f"gpu_tda.flags.{module}"), name)
