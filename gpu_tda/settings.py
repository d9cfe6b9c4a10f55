"""The worker's configuration: one frozen dataclass, built from CLI options or ``GPU_TDA_*``.

Config flows one way: command-line options / environment -> ``WorkerSettings`` -> constructor
arguments. Each field's metadata carries its help text; ``gpu-tda worker`` builds its options
from these fields, so the option ``--input-topic`` and the variable ``GPU_TDA_INPUT_TOPIC``
always mean the field ``input_topic``.

    settings = WorkerSettings.from_env()                       # defaults + GPU_TDA_* variables
    settings = WorkerSettings(bootstrap_servers="127.0.0.1:9092", windows=(128, 512))
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ENV_PREFIX = "GPU_TDA_"


def _opt(help: str, *, option: str | None = None, multiple: bool = False) -> Any:
    return {"help": help, "option": option, "multiple": multiple}


@dataclass(frozen=True)
class WorkerSettings:
    """Everything ``gpu-tda worker`` can be told. Defaults are the contract's."""

    bootstrap_servers: str = field(
        default="localhost:9092", metadata=_opt("Kafka bootstrap servers, host:port[,...].")
    )
    input_topic: str = field(default="points", metadata=_opt("Topic of input points."))
    output_topic: str = field(default="diagrams", metadata=_opt("Topic of output diagrams."))
    dlq_topic: str = field(default="points.dlq", metadata=_opt("Dead-letter topic."))
    group_id: str = field(default="gpu-tda", metadata=_opt("Consumer group id."))
    windows: tuple[str, ...] = field(
        default=("128",),
        metadata=_opt(
            "Window size N, or N:STRIDE; repeat for several scales (env: comma separated).",
            option="window",
            multiple=True,
        ),
    )
    stride: int = field(default=32, metadata=_opt("Points between consecutive windows."))
    maxdim: int = field(default=1, metadata=_opt("Highest homology dimension, 0..3."))
    threshold: float = field(
        default=math.inf, metadata=_opt("Rips threshold (edges longer do not exist); inf.")
    )
    backend: str = field(default="auto", metadata=_opt("Compute backend: auto, cpu or gpu."))
    redis_url: str | None = field(
        default=None, metadata=_opt("Redis URL for feature flags (optional).")
    )
    metrics_port: int | None = field(
        default=None, metadata=_opt("Serve /metrics, /healthz and /readyz on this port.")
    )
    partitions: int = field(
        default=4, metadata=_opt("Partitions of topics this worker creates when missing.")
    )
    checkpoint_topic: str | None = field(
        default=None,
        metadata=_opt("Checkpoint topic (default: <group-id>.<input-topic>.checkpoints)."),
    )
    max_batch_records: int = field(
        default=2000, metadata=_opt("Most records fetched into one micro-batch.")
    )
    linger_ms: int = field(
        default=0,
        metadata=_opt(
            "Longest wait to fill a micro-batch (ms); 0 is best on the embedded broker: under "
            "load batches grow anyway while compute is busy."
        ),
    )
    fetch_max_wait_ms: int = field(
        default=10,
        metadata=_opt(
            "Longest time the broker may hold an empty fetch (ms); the embedded broker holds "
            "every fetch this long, so there it bounds the latency from below."
        ),
    )
    max_inflight: int = field(
        default=8,  # at 4 a draining worker paused until two jobs were acknowledged: 7% slower
        metadata=_opt(
            "Records in flight, in full micro-batches (x max-batch-records), before input pauses."
        ),
    )
    commit_interval_ms: int = field(
        default=1000, metadata=_opt("Checkpoint + offset commit interval (ms).")
    )
    session_timeout_ms: int = field(
        default=10000, metadata=_opt("Consumer group session timeout (ms).")
    )
    shutdown_timeout_s: float = field(
        default=30.0, metadata=_opt("Longest drain on SIGTERM before exiting anyway (s).")
    )
    client_id: str = field(default="gpu-tda-worker", metadata=_opt("Kafka client id."))

    def __post_init__(self) -> None:
        if not self.windows:
            raise ValueError("at least one --window is needed")
        if self.backend not in ("auto", "cpu", "gpu"):
            raise ValueError(f"backend must be auto, cpu or gpu, got {self.backend!r}")
        for name in ("stride", "partitions", "max_batch_records", "max_inflight"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("linger_ms", "commit_interval_ms", "fetch_max_wait_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.maxdim <= 3:
            raise ValueError(f"maxdim must be in 0..3, got {self.maxdim}")
        if math.isnan(self.threshold) or self.threshold < 0:
            raise ValueError(f"threshold must be >= 0 or inf, got {self.threshold}")

    @property
    def checkpoint_topic_name(self) -> str:
        """Where partition checkpoints go: explicit, or ``<group>.<input-topic>.checkpoints``."""
        return self.checkpoint_topic or f"{self.group_id}.{self.input_topic}.checkpoints"

    def replace(self, **changes: Any) -> WorkerSettings:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> WorkerSettings:
        """Defaults, then ``GPU_TDA_<FIELD>`` variables, then ``overrides``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(env_name(f))
            if raw is not None and raw != "":
                values[f.name] = parse_value(f, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def option_name(f: dataclasses.Field[Any]) -> str:
    """``--input-topic`` for ``input_topic`` (or the field's explicit option name)."""
    return "--" + (f.metadata.get("option") or f.name).replace("_", "-")


def env_name(f: dataclasses.Field[Any]) -> str:
    """``GPU_TDA_INPUT_TOPIC`` for ``input_topic``; ``GPU_TDA_WINDOW`` for ``windows``."""
    return ENV_PREFIX + (f.metadata.get("option") or f.name).upper()


def parse_value(f: dataclasses.Field[Any], raw: str | tuple[str, ...]) -> Any:
    """Convert option / environment text to the field's type."""
    kind = str(f.type)
    if f.metadata.get("multiple"):
        items = [raw] if isinstance(raw, str) else list(raw)
        return tuple(part for item in items for part in item.replace(",", " ").split())
    assert isinstance(raw, str)
    if kind.startswith("int"):
        return int(raw)
    if kind.startswith("float"):
        return float(raw)
    return raw
