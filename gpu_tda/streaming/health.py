"""``/metrics``, ``/healthz`` and ``/readyz`` over plain HTTP/1.1 on asyncio (no framework).

``/healthz`` is 200 while the process serves requests; ``/readyz`` is 200 once the worker holds
its partitions and has restored their windows (503 before, and while rebalancing). Both bodies
list the circuit breakers' states (``breaker gpu closed``) when a ``details`` callable is given:
an open breaker means degraded, not dead, so it never fails a probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)


class HealthServer:
    """Serves a registry's metrics and two probes on ``host:port`` (port 0 picks one)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        ready: Callable[[], bool],
        port: int,
        details: Callable[[], dict[str, str]] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.registry = registry
        self.ready = ready
        self.details = details
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5.0)
            parts = request.split(b" ", 2)
            path = parts[1].decode("latin-1").split("?", 1)[0] if len(parts) > 1 else "/"
            status, ctype, body = self._respond(path)
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _respond(self, path: str) -> tuple[str, str, bytes]:
        if path == "/metrics":
            return "200 OK", CONTENT_TYPE_LATEST, generate_latest(self.registry)
        if path == "/healthz":
            return "200 OK", "text/plain", b"ok\n" + self._details()
        if path == "/readyz":
            if self.ready():
                return "200 OK", "text/plain", b"ready\n" + self._details()
            return "503 Service Unavailable", "text/plain", b"not ready\n" + self._details()
        return "404 Not Found", "text/plain", b"not found\n"

    def _details(self) -> bytes:
        if self.details is None:
            return b""
        try:
            states = self.details()
        except Exception:  # a probe must answer even when a detail cannot be read
            log.debug("health details failed", exc_info=True)
            return b""
        return "".join(f"breaker {k} {v}\n" for k, v in sorted(states.items())).encode()
