"""Worker settings from options / GPU_TDA_* variables, the metric set, the CLI wiring."""

from __future__ import annotations

import math

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry, generate_latest

from gpu_tda.metrics import WorkerMetrics
from gpu_tda.settings import WorkerSettings
from gpu_tda.streaming.cli import settings_from_options, worker_command


def test_defaults_are_the_contracts():
    s = WorkerSettings()
    assert (s.bootstrap_servers, s.input_topic, s.output_topic, s.dlq_topic, s.group_id) == (
        "localhost:9092",
        "points",
        "diagrams",
        "points.dlq",
        "gpu-tda",
    )
    assert s.backend == "auto" and s.redis_url is None and s.metrics_port is None
    assert math.isinf(s.threshold) and s.checkpoint_topic_name == "gpu-tda.points.checkpoints"


def test_environment_variables_fill_every_field():
    env = {
        "GPU_TDA_BOOTSTRAP_SERVERS": "127.0.0.1:1234",
        "GPU_TDA_WINDOW": "128, 512:64",
        "GPU_TDA_STRIDE": "16",
        "GPU_TDA_MAXDIM": "2",
        "GPU_TDA_THRESHOLD": "1.5",
        "GPU_TDA_BACKEND": "cpu",
        "GPU_TDA_REDIS_URL": "redis://x:1/0",
        "GPU_TDA_METRICS_PORT": "9100",
        "GPU_TDA_DLQ_TOPIC": "bad",
    }
    s = WorkerSettings.from_env(env)
    assert s.bootstrap_servers == "127.0.0.1:1234" and s.windows == ("128", "512:64")
    assert (s.stride, s.maxdim, s.threshold, s.backend) == (16, 2, 1.5, "cpu")
    assert (s.redis_url, s.metrics_port, s.dlq_topic) == ("redis://x:1/0", 9100, "bad")
    assert WorkerSettings.from_env(env, stride=8).stride == 8


def test_invalid_settings_are_refused():
    for bad in (
        {"backend": "tpu"},
        {"maxdim": 4},
        {"stride": 0},
        {"windows": ()},
        {"threshold": -1.0},
    ):
        with pytest.raises(ValueError):
            WorkerSettings(**bad)


def test_cli_options_and_environment_reach_the_settings(monkeypatch):
    seen = {}

    def fake(options):
        seen["settings"] = settings_from_options(options)
        raise SystemExit(0)

    monkeypatch.setattr("gpu_tda.streaming.cli.settings_from_options", fake)
    monkeypatch.setenv("GPU_TDA_GROUP_ID", "from-env")
    result = CliRunner().invoke(
        worker_command,
        [
            "--window",
            "64",
            "--window",
            "256:128",
            "--maxdim",
            "0",
            "--input-topic",
            "pts",
        ],
    )
    assert result.exit_code == 0, result.output
    s = seen["settings"]
    assert s.windows == ("64", "256:128") and s.maxdim == 0 and s.input_topic == "pts"
    assert s.group_id == "from-env" and s.stride == 32


SEED_AND_ISSUE_METRICS = [
    "kafka_messages_sent_total",
    "kafka_messages_received_total",
    "kafka_send_latency_seconds",
    "kafka_processing_errors_total",
    "kafka_consumer_lag",
    "tda_window_size",
    "tda_window_memory_bytes",
    "tda_window_slide_latency_seconds",
    "tda_points_total",
    "tda_windows_total",
    "tda_compute_seconds",
    "tda_end_to_end_latency_seconds",
    "tda_gpu_memory_used_bytes",
    "tda_gpu_memory_total_bytes",
    "tda_backend_fallbacks_total",
    "tda_circuit_breaker_state",
    "tda_dlq_messages_total",
]


def test_every_named_metric_is_registered_on_the_given_registry_only():
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    metrics.messages_sent.labels(topic="t").inc()
    metrics.messages_received.labels(topic="t").inc()
    metrics.processing_errors.labels(stage="decode").inc()
    metrics.consumer_lag.labels(topic="t", partition="0").set(1)
    metrics.window_size.labels(scale="0").set(128)
    metrics.windows.labels(backend="cpu").inc()
    metrics.compute_seconds.labels(backend="cpu", maxdim="1").observe(1e-3)
    metrics.backend_fallbacks.labels(reason="error").inc()
    metrics.set_breaker("gpu", "half_open")
    metrics.dlq_messages.labels(reason="not_json").inc()
    text = generate_latest(registry).decode()
    for name in SEED_AND_ISSUE_METRICS:
        assert f"\n{name}" in text or text.startswith(name) or f"# TYPE {name}" in text, name
    assert 'tda_compute_seconds_bucket{backend="cpu",le="5e-05",maxdim="1"}' in text
    assert 'tda_compute_seconds_bucket{backend="cpu",le="5.0",maxdim="1"}' in text
    assert 'tda_circuit_breaker_state{name="gpu"} 2.0' in text
    WorkerMetrics(CollectorRegistry())  # a second worker in one process: no clash


def test_importing_the_streaming_package_loads_no_kafka_client():
    import subprocess
    import sys

    code = (
        "import sys, gpu_tda.streaming; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('aiokafka', 'redis', 'prometheus_client')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
