"""Local service processes for development, demos and tests: a child process we own, and Redis.

``ServiceProcess`` spawns one binary, keeps its output in a temporary log file (never a pipe that
could fill up and block the child), waits until a caller-given readiness probe passes and stops
the child with SIGTERM, then SIGKILL after a grace period. ``EmbeddedRedis`` runs Debian's
``redis-server`` on a loopback port, memory-only. The embedded Kafka-protocol broker builds on
the same class in ``gpu_tda.streaming.broker``.

Only the standard library is imported here; the Redis client is imported when a probe runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from types import TracebackType
from typing import IO, Self

from gpu_tda.exceptions import GpuTdaError

LOOPBACK = "127.0.0.1"


class ServiceError(GpuTdaError, RuntimeError):
    """A local service could not be found, started or reached.

    ``port_race`` is True when the cause may be a port taken by someone else (the port was in
    use, or the child exited early), so that trying again on another free port can help.
    """

    def __init__(self, message: str, *, port_race: bool = False) -> None:
        super().__init__(message)
        self.port_race = port_race


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on ``host`` that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM us when the spawning thread ends.

    Keeps a test run that is killed hard (``os._exit`` on timeout) from leaking services.
    Only for children spawned from a long-lived thread, such as the main thread.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class ServiceProcess:
    """One child process with a log file, a readiness wait and an idempotent stop.

    Subclasses give ``name`` and implement ``_command()`` and ``_is_ready()``.
    """

    name = "service"
    error: type[ServiceError] = ServiceError

    def __init__(
        self,
        *,
        port: int = 0,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        die_with_parent: bool = False,
    ) -> None:
        self._auto_port = port == 0  # 0: a free port, chosen again if another process takes it
        self.port = free_port() if self._auto_port else port
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.die_with_parent = die_with_parent
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- subclass hooks -------------------------------------------------------------------------
    def _command(self) -> Sequence[str]:
        raise NotImplementedError

    def _environment(self) -> dict[str, str]:
        return dict(os.environ)

    def _is_ready(self) -> bool:
        raise NotImplementedError

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while the child process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The child's process id, or None when not started."""
        return None if self._process is None else self._process.pid

    def start(self) -> Self:
        """Spawn the child and block until it is ready; raise ``ServiceError`` on failure.

        With ``port=0``, a port taken by another process between choosing and binding it is
        replaced by a new free one, up to three attempts.
        """
        for attempt in range(3):
            try:
                self._spawn()
                return self
            except ServiceError as exc:
                if not (self._auto_port and exc.port_race) or attempt == 2:
                    raise
                self.port = free_port()
        return self

    def _spawn(self) -> None:
        if self._process is not None:
            raise self.error(f"{self.name} is already started (pid {self._process.pid})")
        command = list(self._command())
        if port_accepts(LOOPBACK, self.port):
            raise self.error(
                f"cannot start {self.name}: {LOOPBACK}:{self.port} is already in use",
                port_race=True,
            )
        self._log = tempfile.TemporaryFile(prefix=f"gpu-tda-{self.name}-")
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=self._environment(),
                start_new_session=True,  # a Ctrl-C in the terminal reaches us, not the child
                preexec_fn=_die_with_parent if self.die_with_parent else None,
            )
        except OSError as exc:
            self._close_log()
            raise self.error(f"cannot run {self.name} ({command[0]}): {exc}") from exc
        self._wait_ready(command)

    def _wait_ready(self, command: Sequence[str]) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            assert self._process is not None
            code = self._process.poll()
            if code is not None:
                tail = self.log_tail()
                self.stop()
                raise self.error(
                    f"{self.name} exited with code {code} before it was ready\n"
                    f"command: {' '.join(command)}\noutput (tail):\n{tail}",
                    port_race=True,
                )
            if self._is_ready():
                return
            if time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise self.error(
                    f"{self.name} was not ready within {self.startup_timeout:.0f}s\n"
                    f"command: {' '.join(command)}\noutput (tail):\n{tail}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM, wait ``stop_timeout`` seconds, then SIGKILL. Safe to call more than once."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait()
        self._close_log()

    def log_tail(self, max_bytes: int = 4000) -> str:
        """The last ``max_bytes`` of the child's combined stdout/stderr."""
        if self._log is None:
            return ""
        self._log.flush()
        size = self._log.seek(0, os.SEEK_END)
        self._log.seek(max(0, size - max_bytes))
        return self._log.read().decode("utf-8", "replace")

    def _close_log(self) -> None:
        log, self._log = self._log, None
        if log is not None:
            log.close()

    def __enter__(self) -> Self:
        return self.start() if self._process is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __del__(self) -> None:  # last resort: never leak a child process
        with contextlib.suppress(Exception):
            self.stop()


class EmbeddedRedis(ServiceProcess):
    """Debian's ``redis-server`` on loopback, memory-only (no RDB snapshots, no AOF).

    ``port=0`` picks a free port. ``url`` is ``redis://127.0.0.1:PORT/0``.
    """

    name = "redis-server"

    def __init__(
        self,
        port: int = 0,
        *,
        binary: str | None = None,
        startup_timeout: float = 15.0,
        stop_timeout: float = 10.0,
        die_with_parent: bool = False,
    ) -> None:
        super().__init__(
            port=port,
            startup_timeout=startup_timeout,
            stop_timeout=stop_timeout,
            die_with_parent=die_with_parent,
        )
        self.binary = binary or os.environ.get("GPU_TDA_REDIS_SERVER") or "redis-server"

    @property
    def url(self) -> str:
        """The client URL, ``redis://127.0.0.1:PORT/0``."""
        return f"redis://{LOOPBACK}:{self.port}/0"

    def _command(self) -> Sequence[str]:
        path = shutil.which(self.binary)
        if path is None:
            raise ServiceError(
                f"{self.binary!r} not found on PATH; install Debian's redis-server "
                "(apt-get install -y redis-server) or set GPU_TDA_REDIS_SERVER"
            )
        return [
            path,
            "--bind", LOOPBACK,
            "--port", str(self.port),
            "--protected-mode", "yes",
            "--save", "",
            "--appendonly", "no",
            "--dir", tempfile.gettempdir(),
            "--daemonize", "no",
            "--loglevel", "warning",
        ]  # fmt: skip

    def _is_ready(self) -> bool:
        if not port_accepts(LOOPBACK, self.port):
            return False
        import redis  # only when a probe runs: keeps `import gpu_tda.services` light

        client = redis.Redis(host=LOOPBACK, port=self.port, socket_timeout=1.0)
        try:  # the server on this port must be our child, not someone else's
            return bool(client.ping()) and client.info("server")["process_id"] == self.pid
        except redis.RedisError:
            return False
        finally:
            client.close()
