"""The embedded Kafka-protocol broker of development, the demo, the benchmarks and the tests.

``process``: ``gpu-tda broker`` and ``EmbeddedBroker`` (it in a child process); ``server``: the
broker itself, with its ``wire`` format, its partition ``log`` and its consumer ``groups``.
"""

from gpu_tda.streaming.broker.process import (
    DEFAULT_PORT,
    BrokerError,
    EmbeddedBroker,
    broker_command,
    kafka_metadata_ok,
)

__all__ = ["DEFAULT_PORT", "BrokerError", "EmbeddedBroker", "broker_command", "kafka_metadata_ok"]
