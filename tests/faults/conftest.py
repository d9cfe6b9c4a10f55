"""Fixtures for the fault tests: worker settings, and a broker reachable only through a proxy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from gpu_tda.services import free_port
from gpu_tda.settings import WorkerSettings
from gpu_tda.streaming.broker import EmbeddedBroker
from tests.faults.proxy import TcpProxy
from tests.streaming.kafka_io import worker_settings_for


@pytest.fixture
def fault_settings(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> Callable[..., WorkerSettings]:
    """``fault_settings(**changes)`` -> WorkerSettings on the session broker, fresh topics."""
    base = unique_name("fault")
    return lambda **changes: worker_settings_for(kafka_bootstrap, base, **changes)


@dataclass
class ProxiedBroker:
    """A broker of its own whose advertised address is the proxy: every client goes through it."""

    broker: EmbeddedBroker
    proxy: TcpProxy

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.proxy.port}"


@pytest.fixture
async def proxied_broker() -> AsyncIterator[ProxiedBroker]:
    proxy_port, broker_port = free_port(), free_port()
    broker = EmbeddedBroker(
        port=broker_port,
        advertised_host="127.0.0.1",
        advertised_port=proxy_port,
        die_with_parent=True,
    )
    proxy = TcpProxy("127.0.0.1", broker_port, listen_port=proxy_port)
    await proxy.start()
    try:
        # its readiness probe fetches metadata, which points at the proxy: the proxy must
        # serve while start() blocks, so start() runs in a thread
        await asyncio.to_thread(broker.start)
        yield ProxiedBroker(broker, proxy)
    finally:
        await proxy.stop()
        await asyncio.to_thread(broker.stop)
