"""Delivery under faults: SIGKILL + restart, SIGTERM drain, two workers in one group."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpu_tda.settings import WorkerSettings
from gpu_tda.streaming import decode_diagram
from gpu_tda.streaming.worker import KafkaWorker
from tests.streaming.kafka_io import (
    check_windows,
    create_topics,
    expected_windows,
    produce,
    read_topic,
    run_until_published,
    synthetic_messages,
    window_keys,
)

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]


def spawn_worker(settings: WorkerSettings, log: Path) -> subprocess.Popen[bytes]:
    """``gpu-tda worker`` in its own process, configured through GPU_TDA_* variables."""
    env = dict(os.environ)
    env.update(
        {
            "GPU_TDA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "GPU_TDA_INPUT_TOPIC": settings.input_topic,
            "GPU_TDA_OUTPUT_TOPIC": settings.output_topic,
            "GPU_TDA_DLQ_TOPIC": settings.dlq_topic,
            "GPU_TDA_GROUP_ID": settings.group_id,
            "GPU_TDA_WINDOW": ",".join(settings.windows),
            "GPU_TDA_STRIDE": str(settings.stride),
            "GPU_TDA_MAXDIM": str(settings.maxdim),
            "GPU_TDA_BACKEND": settings.backend,
            "GPU_TDA_PARTITIONS": str(settings.partitions),
            "GPU_TDA_SESSION_TIMEOUT_MS": str(settings.session_timeout_ms),
            "GPU_TDA_COMMIT_INTERVAL_MS": str(settings.commit_interval_ms),
            "GPU_TDA_MAX_BATCH_RECORDS": str(settings.max_batch_records),
            "GPU_TDA_LINGER_MS": str(settings.linger_ms),
            "PYTHONPATH": str(ROOT),
        }
    )
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gpu_tda.cli", "worker", "--log-level", "INFO"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )


async def wait_for_windows(settings: WorkerSettings, keys: set[tuple], timeout: float) -> list:
    return await read_topic(
        settings.bootstrap_servers,
        settings.output_topic,
        until=lambda rs: window_keys(rs) >= keys,
        timeout=timeout,
    )


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


async def test_sigkill_mid_stream_then_restart_loses_no_window_and_replays_identically(
    stream_settings, tmp_path
):
    settings = stream_settings(max_batch_records=4, partitions=2)
    data, messages = synthetic_messages(streams=6, messages_per_stream=40, seed=11)
    expected = expected_windows(data, settings)
    half, last = len(messages) // 2, 3 * len(messages) // 4
    await create_topics(settings)
    await produce(settings.bootstrap_servers, settings.input_topic, messages[:half])
    log = tmp_path / "worker.log"
    proc = spawn_worker(settings, log)
    try:
        # first half processed and checkpointed
        published = await read_topic(
            settings.bootstrap_servers,
            settings.output_topic,
            until=lambda rs: len(rs) >= 40,
            timeout=90,
        )
        assert len(published) >= 40, log.read_text()[-3000:]
        await asyncio.sleep(0.5)  # > commit interval: a checkpoint exists
        # a third quarter arrives and the worker dies in it; the last quarter comes after
        await produce(settings.bootstrap_servers, settings.input_topic, messages[half:last])
        await asyncio.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        before_kill = await read_topic(
            settings.bootstrap_servers, settings.output_topic, quiet=1.0, timeout=10
        )
        assert window_keys(before_kill) < set(expected)
        await produce(settings.bootstrap_servers, settings.input_topic, messages[last:])

        proc = spawn_worker(settings, log)
        records = await wait_for_windows(settings, set(expected), timeout=120)
    finally:
        stop_process(proc)
    seen = check_windows(records, expected, settings.maxdim, duplicates=True)
    assert len(seen) == len(expected)
    # the restart resumed from checkpoints: it did not recompute everything from offset 0
    replayed = len(records) - len(before_kill)
    assert replayed < len(expected), (replayed, len(expected))
    assert "replaying from offset" in log.read_text()


async def test_sigterm_drains_publishes_commits_and_exits_zero(stream_settings, tmp_path):
    settings = stream_settings(max_batch_records=4, commit_interval_ms=60_000)
    data, messages = synthetic_messages(streams=4, messages_per_stream=40, seed=12)
    expected = expected_windows(data, settings)
    await create_topics(settings)
    await produce(settings.bootstrap_servers, settings.input_topic, messages)
    log = tmp_path / "worker.log"
    proc = spawn_worker(settings, log)
    try:
        await read_topic(
            settings.bootstrap_servers,
            settings.output_topic,
            until=lambda rs: len(rs) >= 20,
            timeout=90,
        )
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
        assert code == 0, log.read_text()[-3000:]
        assert time.monotonic() - started < 25
    finally:
        stop_process(proc)
    assert "stopped cleanly" in log.read_text()
    # everything the first worker published was checkpointed on SIGTERM (the interval is 60 s):
    # a second worker finishes the stream without publishing any window twice
    worker = KafkaWorker(settings)
    await worker.start()
    await run_until_published(worker, expected)
    records = await read_topic(settings.bootstrap_servers, settings.output_topic, quiet=0.5)
    check_windows(records, expected, settings.maxdim, duplicates=False)


async def test_two_workers_in_one_group_emit_exactly_what_one_would(stream_settings):
    settings = stream_settings(partitions=4, max_batch_records=8)
    data, messages = synthetic_messages(streams=8, messages_per_stream=30, seed=13)
    expected = expected_windows(data, settings)
    await create_topics(settings)
    await produce(settings.bootstrap_servers, settings.input_topic, messages[: len(messages) // 3])
    first, second = KafkaWorker(settings), KafkaWorker(settings)
    await first.start()
    run_first = asyncio.create_task(first.run(timeout=120))
    try:
        await read_topic(
            settings.bootstrap_servers,
            settings.output_topic,
            until=lambda rs: len(rs) >= 10,
            timeout=60,
        )
        await second.start()  # joins mid-stream: a rebalance moves partitions
        run_second = asyncio.create_task(second.run(timeout=120))
        await produce(
            settings.bootstrap_servers, settings.input_topic, messages[len(messages) // 3 :]
        )
        records = await wait_for_windows(settings, set(expected), timeout=120)
        assert first.diagnostics()["partitions"] and second.diagnostics()["partitions"]
        assert set(first.diagnostics()["partitions"]).isdisjoint(second.diagnostics()["partitions"])
    finally:
        for worker in (first, second):
            worker.request_stop()
        await asyncio.gather(run_first, *([run_second] if "run_second" in locals() else []))
        await asyncio.gather(first.stop(), second.stop())
    records = await read_topic(settings.bootstrap_servers, settings.output_topic, quiet=0.5)
    check_windows(records, expected, settings.maxdim, duplicates=False)
    assert first.windows_published > 0 and second.windows_published > 0
    assert first.windows_published + second.windows_published == len(expected)
    assert {decode_diagram(r.value).partition for r in records} == {0, 1, 2, 3}
