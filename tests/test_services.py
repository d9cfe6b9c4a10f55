"""The embedded redis-server: a real round trip (set/get, pub/sub) and a clean lifecycle."""

from __future__ import annotations

import time

import pytest
import redis

from gpu_tda.services import EmbeddedRedis, ServiceError, port_accepts

pytestmark = pytest.mark.redis


def test_set_get_round_trip(redis_url, unique_name):
    key = unique_name("key")
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        assert client.set(key, "värde", ex=60)
        assert client.get(key) == "värde"
        assert client.delete(key) == 1
        assert client.get(key) is None


def test_publish_subscribe_round_trip(redis_url, unique_name):
    channel = unique_name("channel")
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(channel)
            deadline = time.monotonic() + 5
            while client.pubsub_numsub(channel)[0][1] < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert client.publish(channel, "hello") == 1
            message = None
            while message is None and time.monotonic() < deadline:
                message = pubsub.get_message(timeout=0.2)
        finally:
            pubsub.close()
    assert message is not None
    assert (message["channel"], message["data"]) == (channel, "hello")


def test_server_is_memory_only(redis_url):
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        assert client.config_get("save")["save"] == ""
        assert client.config_get("appendonly")["appendonly"] == "no"
        assert client.config_get("bind")["bind"] == "127.0.0.1"


def test_stop_is_idempotent_and_frees_the_port():
    server = EmbeddedRedis(port=0)
    with server:
        assert server.running
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
    assert not server.running
    server.stop()
    assert not port_accepts("127.0.0.1", server.port)


def test_missing_binary_is_a_clear_error():
    with pytest.raises(ServiceError, match="not found on PATH"):
        EmbeddedRedis(binary="no-such-redis-server-binary").start()
