"""Fixtures for the flag tests, on real redis-servers.

Most tests share the session's redis-server (``redis_url`` from tests/conftest.py) but use
their own database, number 15, emptied before and after each test, so flags written here never
reach other areas' tests (which read ``gpu-tda:flags`` in database 0). Outage tests get private
servers from ``redis_factory`` that they may stop and start again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import redis

from gpu_tda.services import EmbeddedRedis

FLAGS_DB = 15


@pytest.fixture
def flags_url(redis_url: str) -> Iterator[str]:
    """The shared server's URL on the flag tests' own database, empty for each test."""
    url = redis_url.rsplit("/", 1)[0] + f"/{FLAGS_DB}"
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    yield url
    with redis.Redis.from_url(url) as client:
        client.flushdb()


@pytest.fixture
def raw_redis(flags_url: str) -> Iterator[redis.Redis]:
    """A plain client on ``flags_url`` (to write around the store)."""
    client = redis.Redis.from_url(flags_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def redis_factory() -> Iterator[Callable[[], EmbeddedRedis]]:
    """``redis_factory()`` -> a private, started redis-server (stop/start it at will);
    all are stopped after the test."""
    servers: list[EmbeddedRedis] = []

    def make() -> EmbeddedRedis:
        server = EmbeddedRedis(port=0, die_with_parent=True)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()


def _wait_until(predicate: Callable[[], bool], timeout: float = 1.0) -> float | None:
    """Seconds until ``predicate()`` held, or None when it did not within ``timeout``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 <= timeout:
        if predicate():
            return time.monotonic() - t0
        time.sleep(0.005)
    return None


@pytest.fixture
def wait_until() -> Callable[..., float | None]:
    """``wait_until(predicate, timeout=1.0)`` -> seconds it took, or None (timed out)."""
    return _wait_until
