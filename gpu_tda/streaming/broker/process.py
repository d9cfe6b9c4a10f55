"""The embedded broker as a process: ``gpu-tda broker`` runs it, ``EmbeddedBroker`` spawns it.

For development, the demo, the benchmarks and the tests. Everything is in memory: a restart loses
all topics, records and committed offsets. A topic is created on first use (a produce or a
consumer's metadata request) with 4 partitions; create it first (aiokafka's admin client, or
``gpu_tda.streaming.topics.ensure_topics``) for another count.

    with EmbeddedBroker(port=0) as broker:          # port 0: pick a free port
        run_something(bootstrap_servers=broker.bootstrap_servers)

``advertised_host``/``advertised_port`` change the address the broker hands to clients in
metadata responses (e.g. a TCP proxy placed in front of it by a fault-injection test); the
readiness probe always talks to the listener itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import signal
import sys
from collections.abc import Sequence

import click

from gpu_tda.services import LOOPBACK, ServiceError, ServiceProcess, port_accepts
from gpu_tda.startup import freeze_startup_objects

DEFAULT_PORT = 9092
DEFAULT_PARTITIONS = 4
DEFAULT_RETENTION_MB = 1024


class BrokerError(ServiceError):
    """The embedded broker could not be started or reached."""


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
    """``gpu-tda broker`` in a child process, listening on ``127.0.0.1:port``.

    ``port=0`` picks a free port. ``advertised_host`` / ``advertised_port`` default to the
    listener's own address. ``partitions``: the partition count of auto-created topics.
    ``initial_rebalance_delay_ms``: how long the first join of an empty consumer group waits
    for more members (0: it completes at once).
    ``start()`` blocks until a Kafka client can fetch metadata. ``die_with_parent=True``
    (Linux) stops the broker when the thread that started it ends, even on a hard kill of this
    process.
    """

    name = "kafka-broker"
    error = BrokerError

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        advertised_host: str | None = None,
        advertised_port: int | None = None,
        *,
        partitions: int = DEFAULT_PARTITIONS,
        initial_rebalance_delay_ms: int = 0,
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
        self.partitions = partitions
        self.initial_rebalance_delay_ms = initial_rebalance_delay_ms

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
        host, port = self.advertised_address.rsplit(":", 1)
        return [
            sys.executable, "-m", "gpu_tda.cli", "broker",
            "--port", str(self.port),
            "--advertised-host", host,
            "--advertised-port", port,
            "--partitions", str(self.partitions),
            "--initial-rebalance-delay-ms", str(self.initial_rebalance_delay_ms),
        ]  # fmt: skip

    def _is_ready(self) -> bool:
        return port_accepts(LOOPBACK, self.port) and kafka_metadata_ok(self.bootstrap_servers)


async def _serve(
    port: int,
    advertised_host: str | None,
    advertised_port: int | None,
    partitions: int,
    retention_mb: int,
    initial_rebalance_delay_ms: int,
) -> None:
    from gpu_tda.streaming.broker.server import KafkaBroker

    broker = KafkaBroker(
        LOOPBACK,
        port,
        default_partitions=partitions,
        retention_bytes=retention_mb << 20,
        initial_rebalance_delay=initial_rebalance_delay_ms / 1000,
    )
    try:
        await broker.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {LOOPBACK}:{port}: {exc}") from exc
    if advertised_host or advertised_port:
        broker.advertise(advertised_host or LOOPBACK, advertised_port or broker.port)
    freeze_startup_objects()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    host, adv_port = broker.advertised
    click.echo(
        f"broker ready: bootstrap servers {LOOPBACK}:{broker.port} (advertised "
        f"{host}:{adv_port}, memory-only, pid {os.getpid()}); Ctrl-C to stop",
        err=True,
    )
    await stop.wait()
    click.echo("stopping broker", err=True)
    await broker.close()


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
    "--partitions",
    type=click.IntRange(min=1),
    default=DEFAULT_PARTITIONS,
    show_default=True,
    help="Partitions of a topic created on first use.",
)
@click.option(
    "--retention-mb",
    type=click.IntRange(min=1),
    default=DEFAULT_RETENTION_MB,
    show_default=True,
    help="Most MiB of records a partition keeps; the oldest go first.",
)
@click.option(
    "--initial-rebalance-delay-ms",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="How long the first join of an empty consumer group waits for more members.",
)
def broker_command(
    port: int,
    advertised_host: str | None,
    advertised_port: int | None,
    partitions: int,
    retention_mb: int,
    initial_rebalance_delay_ms: int,
) -> None:
    """Embedded Kafka-protocol broker (memory-only) on 127.0.0.1, until Ctrl-C/SIGTERM."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(
        _serve(
            port,
            advertised_host,
            advertised_port,
            partitions,
            retention_mb,
            initial_rebalance_delay_ms,
        )
    )
