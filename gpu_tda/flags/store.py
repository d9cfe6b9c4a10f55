"""Flag definitions in Redis, cached in memory and kept fresh by a background thread.

Redis layout (``key`` defaults to ``gpu-tda:flags``):

- hash ``gpu-tda:flags``: flag name -> definition JSON (schema ``gpu-tda.flag/1``,
  see ``gpu_tda.flags.model``);
- channel ``gpu-tda:flags:changed``: every ``put`` / ``delete`` publishes
  ``{"op": "set"|"delete", "name": ..., "version": ...}``.

A running store holds a daemon thread with its own pub/sub connection: a change message (or
every ``refresh_interval`` seconds, as a safety net) triggers a full re-read of the hash, so
changes reach running processes in milliseconds. While Redis is unreachable the last
definitions seen keep serving (none seen: every flag is missing, i.e. off) and the thread
reconnects with a backoff capped at 1 s. A thread suits both the sync CLI and the asyncio
worker: reads of the cache are a plain dict lookup and never block or raise.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from gpu_tda.flags.metrics import FlagMetrics
from gpu_tda.flags.model import FlagDefinition, parse_flag
from gpu_tda.flags.names import DEFAULT_REDIS_URL, FLAGS_KEY

log = logging.getLogger(__name__)

_MAX_BACKOFF_S = 1.0
_POLL_S = 0.1


class FlagStore:
    """Redis-backed flag definitions with an in-memory cache.

    ``put`` / ``delete`` / ``load`` talk to Redis and raise ``redis.RedisError`` on failure
    (admin paths). ``get`` / ``flags`` read the cache only and never raise (data path).
    ``start()`` loads once and starts the refresher; ``stop()`` ends it; both idempotent.
    """

    def __init__(
        self,
        redis_url: str = DEFAULT_REDIS_URL,
        *,
        refresh_interval: float = 5.0,
        key: str = FLAGS_KEY,
        metrics: FlagMetrics | None = None,
        socket_timeout: float = 1.0,
    ) -> None:
        if refresh_interval <= 0:
            raise ValueError(f"refresh_interval must be > 0, got {refresh_interval}")
        self.redis_url = redis_url
        self.key = key
        self.channel = f"{key}:changed"
        self.refresh_interval = refresh_interval
        self._metrics = metrics
        self._redis = redis.Redis.from_url(
            redis_url,
            decode_responses=True,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self._flags: Mapping[str, FlagDefinition] = MappingProxyType({})
        self._lifecycle = threading.Lock()
        self._install_lock = threading.Lock()  # one cache install at a time
        self._installs = 0  # cache installs so far: a re-read started before one is stale
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._in_outage = False
        self.last_refresh: float | None = None  # time.time() of the last successful read

    # ---- cache (data path: never raises) ------------------------------------------------
    def get(self, name: str) -> FlagDefinition | None:
        """The cached definition of ``name``, or None."""
        return self._flags.get(name)

    @property
    def flags(self) -> Mapping[str, FlagDefinition]:
        """A read-only snapshot of every cached definition."""
        return self._flags

    # ---- Redis (admin path: raises redis.RedisError) -------------------------------------
    def load(self) -> dict[str, FlagDefinition]:
        """Read every valid definition from Redis (invalid ones are logged and skipped)."""
        return self._read()[0]

    def put(self, flag: FlagDefinition) -> FlagDefinition:
        """Write ``flag`` (its version becomes the stored version + 1), publish the change."""

        def write(pipe: Any) -> FlagDefinition:
            old = pipe.hget(self.key, flag.name)
            stored = replace(flag, version=_version_of(old) + 1)
            pipe.multi()
            pipe.hset(self.key, flag.name, stored.to_json())
            pipe.publish(self.channel, _change("set", stored.name, stored.version))
            return stored

        stored = self._redis.transaction(write, self.key, value_from_callable=True)
        with self._install_lock:
            self._install({**self._flags, stored.name: stored})
        return stored

    def delete(self, name: str) -> bool:
        """Remove ``name``; True when it existed. Publishes the change either way."""
        pipe = self._redis.pipeline()
        pipe.hdel(self.key, name)
        pipe.publish(self.channel, _change("delete", name, None))
        existed = bool(pipe.execute()[0])
        with self._install_lock:
            self._install({k: v for k, v in self._flags.items() if k != name})
        return existed

    def refresh(self) -> bool:
        """Re-read Redis into the cache; False (logged, counted) when Redis failed."""
        try:
            self._refresh_once()
        except (redis.RedisError, OSError) as exc:
            self._note_error(exc)
            return False
        return True

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> FlagStore:
        """Load once (failure tolerated) and start the refresher thread. Idempotent."""
        with self._lifecycle:
            if self._thread is not None:
                return self
            self.refresh()
            self._stopping.clear()
            self._thread = threading.Thread(
                target=self._run, name=f"gpu-tda-flags[{self.key}]", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the refresher and close connections; the cache keeps serving. Idempotent."""
        with self._lifecycle:
            thread, self._thread = self._thread, None
            self._stopping.set()
            if thread is not None:
                thread.join(timeout=5.0)
            self._redis.close()

    @property
    def running(self) -> bool:
        """Whether the refresher thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def reachable(self) -> bool:
        """False from a failed read of Redis until the next successful one (cache serving)."""
        return not self._in_outage

    def __enter__(self) -> FlagStore:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- internals ------------------------------------------------------------------------
    def _read(self) -> tuple[dict[str, FlagDefinition], set[str]]:
        raw: dict[str, str] = self._redis.hgetall(self.key)
        good: dict[str, FlagDefinition] = {}
        bad: set[str] = set()
        for name, text in raw.items():
            try:
                flag = parse_flag(text)
                if flag.name != name:
                    raise ValueError(f"stored under {name!r} but named {flag.name!r}")
                good[name] = flag
            except ValueError as exc:
                bad.add(name)
                log.warning("ignoring invalid flag %r in %s: %s", name, self.key, exc)
                if self._metrics is not None:
                    self._metrics.refresh_errors.inc()
        return good, bad

    def _refresh_once(self) -> None:
        while True:
            installs = self._installs
            good, bad = self._read()
            with self._install_lock:
                # a put or delete of this process installed meanwhile: this read may predate
                # it and would take it back out of the cache until the next one; read again
                if self._installs != installs:
                    continue
                # An entry that no longer parses keeps its last good definition.
                kept = {n: f for n, f in self._flags.items() if n in bad}
                self._install({**kept, **good})
                break
        self.last_refresh = time.time()
        if self._in_outage:
            log.info("flag store reconnected to %s", self.redis_url)
            self._in_outage = False

    def _install(self, flags: dict[str, FlagDefinition]) -> None:
        self._installs += 1
        self._flags = MappingProxyType(flags)
        if self._metrics is not None:
            self._metrics.active.set(sum(1 for f in flags.values() if f.enabled))

    def _note_error(self, exc: BaseException) -> None:
        if self._metrics is not None:
            self._metrics.refresh_errors.inc()
        if not self._in_outage:
            log.warning(
                "flag store cannot read %s (%s); serving %d cached definition(s)",
                self.redis_url,
                exc,
                len(self._flags),
            )
            self._in_outage = True
        else:
            log.debug("flag store still cannot read %s: %s", self.redis_url, exc)

    def _run(self) -> None:
        backoff = _POLL_S
        while not self._stopping.is_set():
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                self._refresh_once()  # after subscribing: no change can slip between
                backoff = _POLL_S
                self._listen(pubsub)
            except (redis.RedisError, OSError) as exc:
                self._note_error(exc)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
            except Exception:  # a bug must not kill the refresher silently
                log.exception("flag refresher failed; retrying")
                self._stopping.wait(_MAX_BACKOFF_S)
            finally:
                try:
                    pubsub.close()
                except Exception:  # closing a dead connection
                    log.debug("closing pub/sub failed", exc_info=True)

    def _listen(self, pubsub: Any) -> None:
        next_full = time.monotonic() + self.refresh_interval
        while not self._stopping.is_set():
            message = pubsub.get_message(timeout=_POLL_S)
            changed = message is not None
            while message is not None:  # coalesce a burst of changes into one read
                message = pubsub.get_message(timeout=0)
            if changed or time.monotonic() >= next_full:
                self._refresh_once()
                next_full = time.monotonic() + self.refresh_interval


def _version_of(text: str | None) -> int:
    if text is None:
        return 0
    try:
        version = json.loads(text).get("version", 0)
    except (ValueError, AttributeError):
        return 0
    return version if isinstance(version, int) and not isinstance(version, bool) else 0


def _change(op: str, name: str, version: int | None) -> str:
    return json.dumps({"op": op, "name": name, "version": version})
