"""The Redis-backed store against a real redis-server: writes, live updates, outages."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from gpu_tda.flags.client import FlagClient
from gpu_tda.flags.metrics import FlagMetrics
from gpu_tda.flags.model import FlagDefinition, Strategy, Variant
from gpu_tda.flags.names import FLAGS_KEY
from gpu_tda.flags.store import FlagStore

pytestmark = pytest.mark.redis


def metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_put_get_load_delete_and_versions(flags_url: str, raw_redis) -> None:
    store = FlagStore(flags_url)
    first = store.put(FlagDefinition("gpu-compute", Strategy.PERCENTAGE, percentage=10))
    second = store.put(FlagDefinition("gpu-compute", Strategy.PERCENTAGE, percentage=20))
    assert (first.version, second.version) == (1, 2)
    assert store.get("gpu-compute") == second  # the writer's own cache is current at once
    assert store.load() == {"gpu-compute": second}
    stored = json.loads(raw_redis.hget(FLAGS_KEY, "gpu-compute"))
    assert stored["schema"] == "gpu-tda.flag/1" and stored["percentage"] == 20.0
    assert store.delete("gpu-compute") is True
    assert store.delete("gpu-compute") is False
    assert store.get("gpu-compute") is None and store.load() == {}
    store.stop()


def test_a_re_read_never_takes_back_a_write_of_this_process(flags_url: str) -> None:
    """A re-read (the refresher's, on a change message) that read Redis before this process's
    put landed must not install that older hash over the put: the flag would go missing (off)
    until the next change, as the client test saw for thousands of evaluations."""
    store = FlagStore(flags_url)
    read_done, put_done = threading.Event(), threading.Event()
    real_read = store._read
    reads: list[set[str]] = []

    def slow_read():
        found = real_read()
        reads.append(set(found[0]))
        if len(reads) == 1:  # the first read predates the put below
            read_done.set()
            put_done.wait(5)
        return found

    store._read = slow_read
    store.put(FlagDefinition("old"))
    refresher = threading.Thread(target=store.refresh)
    refresher.start()
    assert read_done.wait(5)
    store.put(FlagDefinition("new"))
    put_done.set()
    refresher.join(5)
    assert reads == [{"old"}, {"old", "new"}]  # it read again once it saw the put
    assert store.get("new") is not None and store.get("old") is not None
    store.stop()


def test_changes_reach_another_running_store_within_one_second(
    flags_url: str, wait_until: Callable[..., float | None]
) -> None:
    admin = FlagStore(flags_url)
    with FlagStore(flags_url, refresh_interval=60) as watcher:  # only pub/sub can be in time
        reader = FlagClient(watcher)
        assert not reader.is_enabled("shadow-compare", "s-1")
        admin.put(FlagDefinition("shadow-compare", Strategy.USER_LIST, users=("s-1",)))
        assert wait_until(lambda: reader.is_enabled("shadow-compare", "s-1"), 1.0) is not None
        admin.put(FlagDefinition("shadow-compare", Strategy.ALL_USERS, enabled=False))
        assert wait_until(lambda: not reader.is_enabled("shadow-compare", "s-1"), 1.0) is not None
        admin.delete("shadow-compare")
        assert wait_until(lambda: watcher.get("shadow-compare") is None, 1.0) is not None
    admin.stop()


def test_periodic_refresh_catches_writes_that_bypass_pubsub(
    flags_url: str, raw_redis, wait_until: Callable[..., float | None]
) -> None:
    with FlagStore(flags_url, refresh_interval=0.2) as watcher:
        raw_redis.hset(FLAGS_KEY, "quiet", FlagDefinition("quiet").to_json())  # no publish
        assert wait_until(lambda: watcher.get("quiet") is not None, 1.0) is not None


def test_invalid_stored_definition_keeps_the_last_good_one(
    flags_url: str, raw_redis, wait_until: Callable[..., float | None]
) -> None:
    registry = CollectorRegistry()
    good = FlagDefinition("f", Strategy.PERCENTAGE, percentage=50)
    with FlagStore(flags_url, metrics=FlagMetrics(registry)) as store:
        store.put(good)
        raw_redis.hset(FLAGS_KEY, "f", '{"schema": "gpu-tda.flag/1", "name": "f"}')
        raw_redis.hset(FLAGS_KEY, "junk", "not json")
        raw_redis.publish(f"{FLAGS_KEY}:changed", "{}")
        assert wait_until(lambda: metric(registry, "feature_flag_refresh_errors_total") >= 2)
        assert store.get("f") == store.flags["f"]
        assert store.get("f").percentage == 50 and store.get("junk") is None


def test_metrics_on_a_private_registry(flags_url: str) -> None:
    registry = CollectorRegistry()
    metrics = FlagMetrics(registry)
    with FlagStore(flags_url, metrics=metrics) as store:
        store.put(FlagDefinition("on"))
        store.put(FlagDefinition("off", enabled=False))
        store.put(FlagDefinition("ab", variants=(Variant("x", 100),)))
        assert metric(registry, "feature_flags_active") == 2
        client = FlagClient(store, metrics=metrics)
        client.is_enabled("on", "s")
        client.is_enabled("on", "s")
        client.is_enabled("off", "s")
        client.variant("ab", "s")
        client.is_enabled("missing", "s")
    assert metric(registry, "feature_flag_evaluations_total", flag="on", variant="true") == 2
    assert metric(registry, "feature_flag_evaluations_total", flag="off", variant="false") == 1
    assert metric(registry, "feature_flag_evaluations_total", flag="ab", variant="x") == 1
    assert metric(registry, "feature_flag_evaluations_total", flag="missing", variant="false") == 1


def test_start_and_stop_are_idempotent(flags_url: str) -> None:
    store = FlagStore(flags_url)
    assert store.start() is store.start()
    assert store.running
    store.stop()
    store.stop()
    assert not store.running
    with store:  # can be started again
        assert store.running


def test_unreachable_redis_serves_defaults_and_never_raises() -> None:
    registry = CollectorRegistry()
    metrics = FlagMetrics(registry)
    url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    with FlagClient.from_url(url, metrics=metrics, refresh_interval=0.1) as flags:
        assert flags.is_enabled("gpu-compute", "s-1") is False
        assert flags.is_enabled("gpu-compute", "s-1", default=True) is True
        assert flags.variant("ab", "s-1", default="control") == "control"
        time.sleep(0.3)
    assert metric(registry, "feature_flag_refresh_errors_total") >= 2


def test_redis_outage_keeps_cached_definitions_then_updates_resume(
    redis_factory, wait_until: Callable[..., float | None]
) -> None:
    server = redis_factory()
    registry = CollectorRegistry()
    metrics = FlagMetrics(registry)
    admin = FlagStore(server.url)
    admin.put(FlagDefinition("gpu-compute", Strategy.USER_LIST, users=("s-1",)))
    with FlagStore(server.url, refresh_interval=0.2, metrics=metrics) as store:
        flags = FlagClient(store, metrics=metrics)
        assert flags.is_enabled("gpu-compute", "s-1")

        server.stop()  # Redis goes away mid-run
        assert wait_until(lambda: metric(registry, "feature_flag_refresh_errors_total") > 0, 3)
        for _ in range(200):  # keeps serving the last definitions, without raising
            assert flags.is_enabled("gpu-compute", "s-1")
            assert not flags.is_enabled("gpu-compute", "s-2")
        assert store.running

        server.start()  # same port, empty data (no persistence)
        deadline = time.monotonic() + 5
        while True:  # the admin write may race the restart; retry until Redis answers
            try:
                admin.put(FlagDefinition("gpu-compute", Strategy.USER_LIST, users=("s-2",)))
                break
            except Exception:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert wait_until(lambda: flags.is_enabled("gpu-compute", "s-2"), 3) is not None
        assert not flags.is_enabled("gpu-compute", "s-1")
        # and live pub/sub updates work again after the reconnect
        admin.put(FlagDefinition("shadow-compare"))
        assert wait_until(lambda: flags.is_enabled("shadow-compare", "s-9"), 1.0) is not None
    admin.stop()
