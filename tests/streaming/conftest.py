"""Fixtures for the streaming tests: worker settings on unique topics, Kafka I/O helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gpu_tda.settings import WorkerSettings
from tests.streaming.kafka_io import worker_settings_for


@pytest.fixture
def stream_settings(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> Callable[..., WorkerSettings]:
    """``stream_settings(**changes)`` -> WorkerSettings on fresh topics and a fresh group.

    Small windows, short group session (a departed member holds up the next rebalance until
    its session expires) and frequent checkpoints keep the tests fast.
    """
    base = unique_name("st")

    def make(**changes: Any) -> WorkerSettings:
        values = {"maxdim": 1, "partitions": 2, **changes}
        return worker_settings_for(kafka_bootstrap, base, **values)

    return make
