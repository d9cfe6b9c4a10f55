"""Prometheus metrics of the streaming worker, registered on a registry the caller owns.

Names follow the seed document (``kafka_*``, ``tda_window_*``) and the observability issue
(``tda_*``). Values are in base units (seconds, bytes). Labels are low-cardinality only: topic,
partition, backend, maxdim, reason, breaker name, window size; never a stream id. The feature
flag metrics live beside the flags (``gpu_tda.flags.metrics``).

    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    metrics.points.inc(128)
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

COMPUTE_BUCKETS = (
    50e-6, 100e-6, 250e-6, 500e-6,
    1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3,
    1.0, 2.5, 5.0,
)  # fmt: skip
"""50 µs .. 5 s: one window on a GPU up to a large batch of big windows on a CPU."""

LATENCY_BUCKETS = (
    1e-3,
    2.5e-3,
    5e-3,
    10e-3,
    25e-3,
    50e-3,
    100e-3,
    250e-3,
    500e-3,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
"""Point produced -> diagram published, and Kafka send round trips."""

SLIDE_BUCKETS = (10e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 5e-3, 10e-3, 50e-3, 0.1, 0.5)
"""Appending one micro-batch to the ring buffers and cutting its due windows."""

BREAKER_STATES = {"closed": 0, "open": 1, "half_open": 2}


class WorkerMetrics:
    """Every metric the worker exports, as attributes; nothing global.

    ``registry`` is the ``CollectorRegistry`` to register on (a fresh one per worker keeps
    tests independent).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        # -- Kafka (seed) ---------------------------------------------------------------------
        self.messages_sent = Counter(
            "kafka_messages_sent_total", "Records published, by topic.", ["topic"], registry=r
        )
        self.messages_received = Counter(
            "kafka_messages_received_total", "Records consumed, by topic.", ["topic"], registry=r
        )
        self.send_latency = Histogram(
            "kafka_send_latency_seconds",
            "Publish round trip of one batch of records (send to broker acknowledgement).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.processing_errors = Counter(
            "kafka_processing_errors_total",
            "Errors while processing records, by stage (decode, compute, publish, commit).",
            ["stage"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "kafka_consumer_lag",
            "Records between the partition's end and the worker's position.",
            ["topic", "partition"],
            registry=r,
        )
        # -- windows (seed) -------------------------------------------------------------------
        self.window_size = Gauge(
            "tda_window_size", "Configured window size (points) per scale.", ["scale"], registry=r
        )
        self.window_memory = Gauge(
            "tda_window_memory_bytes", "Bytes held by all ring buffers.", registry=r
        )
        self.device_ring_memory = Gauge(
            "tda_device_ring_memory_bytes",
            "Device bytes held by the worker's device ring buffers (0 without them).",
            registry=r,
        )
        self.window_slide_latency = Histogram(
            "tda_window_slide_latency_seconds",
            "Appending one micro-batch to the ring buffers and cutting its due windows.",
            buckets=SLIDE_BUCKETS,
            registry=r,
        )
        # -- compute (observability issue) ----------------------------------------------------
        self.points = Counter("tda_points_total", "Points appended to windows.", registry=r)
        self.windows = Counter(
            "tda_windows_total", "Windows computed and published.", ["backend"], registry=r
        )
        self.compute_seconds = Histogram(
            "tda_compute_seconds",
            "Wall time of one persistence batch.",
            ["backend", "maxdim"],
            buckets=COMPUTE_BUCKETS,
            registry=r,
        )
        self.end_to_end_latency = Histogram(
            "tda_end_to_end_latency_seconds",
            "Window's last point produced (record timestamp) -> its diagram published.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.gpu_memory_used = Gauge(
            "tda_gpu_memory_used_bytes", "Device memory in use (0 without a GPU).", registry=r
        )
        self.gpu_memory_total = Gauge(
            "tda_gpu_memory_total_bytes", "Device memory in total (0 without a GPU).", registry=r
        )
        self.backend_fallbacks = Counter(
            "tda_backend_fallbacks_total",
            "Batches meant for the GPU that ran on the CPU, by reason.",
            ["reason"],
            registry=r,
        )
        self.circuit_breaker_state = Gauge(
            "tda_circuit_breaker_state",
            "Circuit breaker state: 0 closed, 1 open, 2 half-open.",
            ["name"],
            registry=r,
        )
        self.dlq_messages = Counter(
            "tda_dlq_messages_total",
            "Input records sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=r,
        )
        # -- worker internals -----------------------------------------------------------------
        self.shadow_compares = Counter(
            "tda_shadow_compare_total",
            "Windows also computed on the other backend, by result (agree, mismatch, error).",
            ["result"],
            registry=r,
        )
        self.streams = Gauge("tda_streams", "Streams with a ring buffer.", registry=r)
        self.inflight_batches = Gauge(
            "tda_inflight_batches", "Micro-batches queued or computing.", registry=r
        )
        self.paused_partitions = Gauge(
            "tda_paused_partitions", "Input partitions paused by backpressure.", registry=r
        )
        self.checkpoints = Counter(
            "tda_checkpoints_total", "Checkpoints written (then offsets committed).", registry=r
        )

    def set_breaker(self, name: str, state: str) -> None:
        """Record a circuit breaker's state: "closed", "open" or "half_open"."""
        self.circuit_breaker_state.labels(name=name).set(BREAKER_STATES[state])
