"""The streaming commands as a user runs them: produce | worker | tail, and the demo."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpu_tda.services import port_accepts

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]


def gpu_tda(
    *args: str, timeout: float = 120, env: dict | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gpu_tda.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def test_produce_worker_tail_pipeline(kafka_bootstrap, unique_name):
    base = unique_name("cli")
    topics = [
        "--input-topic",
        f"{base}.in",
        "--output-topic",
        f"{base}.out",
        "--dlq-topic",
        f"{base}.dlq",
    ]
    produced = gpu_tda(
        "produce",
        "--bootstrap-servers",
        kafka_bootstrap,
        "--topic",
        f"{base}.in",
        "--streams",
        "3",
        "--count",
        "60",
        "--points-per-message",
        "4",
        "--kind",
        "switching",
        "--encoding",
        "binary",
        "--partitions",
        "2",
    )
    assert produced.returncode == 0, produced.stderr
    assert re.search(
        r"produced 60 messages \(240 points\) in [\d.]+ s: [\d,]+ points/s", produced.stdout
    ), produced.stdout
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gpu_tda.cli",
            "worker",
            "--bootstrap-servers",
            kafka_bootstrap,
            *topics,
            "--group-id",
            base,
            "--window",
            "32",
            "--stride",
            "16",
            "--maxdim",
            "1",
            "--backend",
            "cpu",
            "--session-timeout-ms",
            "2000",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # 3 streams x 80 points, window 32 stride 16: 4 windows each
        tailed = gpu_tda(
            "tail",
            "--bootstrap-servers",
            kafka_bootstrap,
            "--topic",
            f"{base}.out",
            "--from-beginning",
            "--count",
            "12",
            "--timeout",
            "150",
        )
        as_json = gpu_tda(
            "tail",
            "--bootstrap-servers",
            kafka_bootstrap,
            "--topic",
            f"{base}.out",
            "--from-beginning",
            "--count",
            "1",
            "--json",
            "--timeout",
            "60",
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err[-3000:]
    lines = tailed.stdout.splitlines()
    assert len(lines) == 12, tailed.stdout + tailed.stderr
    for line in lines:
        assert re.match(r"stream-\d  32#\d  H0:32 H1:\d+  longest H1 (-|[\d.]+ \[)", line), line
    doc = json.loads(as_json.stdout)
    assert doc["schema"] == "gpu-tda.diagram/1" and doc["window"]["size"] == 32


def _ports(text: str) -> list[int]:
    return [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", text.split("\n", 3)[1])]


def test_demo_runs_everything_and_ctrl_c_leaves_nothing_behind():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gpu_tda.cli",
            "demo",
            "--streams",
            "3",
            "--rate",
            "600",
            "--window",
            "24",
            "--stride",
            "12",
            "--backend",
            "cpu",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    err = ""
    try:
        deadline = time.monotonic() + 180
        assert proc.stderr is not None
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            err += line
            match = re.search(r"windows ([\d,]+)", line)
            if match and int(match.group(1).replace(",", "")) > 0:
                break
        assert "windows" in err, err[-3000:]
        ports = _ports(err)
        assert len(ports) == 2 and all(port_accepts("127.0.0.1", p) for p in ports)
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=60)
        err += rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    assert re.search(r"demo done: [\d,]+ points in, [\d,]+ windows out", err), err[-2000:]
    time.sleep(0.5)
    assert not any(port_accepts("127.0.0.1", p) for p in ports), "broker or redis left running"
