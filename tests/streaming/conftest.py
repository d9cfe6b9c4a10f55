"""Fixtures for the streaming tests: worker settings on unique topics, Kafka I/O helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gpu_tda.settings import WorkerSettings


@pytest.fixture
def stream_settings(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> Callable[..., WorkerSettings]:
    """``stream_settings(**changes)`` -> WorkerSettings on fresh topics and a fresh group.

    Small windows, short group session (Tansu holds a join for half of it) and frequent
    checkpoints keep the tests fast.
    """
    base = unique_name("st")

    def make(**changes: Any) -> WorkerSettings:
        values: dict[str, Any] = dict(
            bootstrap_servers=kafka_bootstrap,
            input_topic=f"{base}.points",
            output_topic=f"{base}.diagrams",
            dlq_topic=f"{base}.dlq",
            group_id=f"{base}.group",
            windows=("16", "24"),
            stride=4,
            maxdim=1,
            backend="cpu",
            partitions=2,
            session_timeout_ms=2000,
            commit_interval_ms=100,
            linger_ms=5,
            max_batch_records=50,
            shutdown_timeout_s=20.0,
        )
        values.update(changes)
        return WorkerSettings(**values)

    return make
