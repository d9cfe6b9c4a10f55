"""The GPU engine under the simulator: identical to the CPU engine, ripser-exact, never crashing."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import gpu_tda
from gpu_tda import cpu_engine, device
from gpu_tda.gpu_engine import INJECT_ENV, GpuEngine
from tests.diagram_oracle import assert_identical_results, assert_same_diagrams, ripser_diagrams

pytestmark = pytest.mark.gpu_sim


@pytest.mark.parametrize(("maxdim", "threshold"), [(0, np.inf), (0, 0.5), (1, np.inf), (1, 0.7)])
def test_ragged_batch_equals_cpu_engine_and_ripser(make_clouds, maxdim, threshold):
    clouds = make_clouds([12, 16, 12, 9])
    engine = GpuEngine(n_threads=2)
    ours = engine.persistence_many(clouds, maxdim, threshold, False, None)
    assert_identical_results(
        ours, cpu_engine.persistence_many(clouds, maxdim, threshold, False, None)
    )
    for dgms, cloud in zip(ours, clouds, strict=True):
        assert_same_diagrams(dgms, ripser_diagrams(cloud, maxdim, threshold))
    assert engine.stats.device_batches == 3 and engine.stats.cpu_fallbacks == 0


def test_distance_matrices_and_h2(make_clouds):
    clouds = make_clouds([10, 10], dim=3, kind="uniform")
    matrices = [np.sqrt(((c[:, None] - c[None]) ** 2).sum(-1)) for c in clouds]
    ours = GpuEngine().persistence_many(matrices, 2, np.inf, True, None)
    assert_identical_results(ours, cpu_engine.persistence_many(matrices, 2, np.inf, True, None))
    for dgms, dm in zip(ours, matrices, strict=True):
        assert_same_diagrams(dgms, ripser_diagrams(dm, 2, distance_matrix=True))


def test_degenerate_windows(make_clouds):
    clouds = [
        np.empty((0, 2)),
        np.zeros((1, 2)),
        np.array([[0.0, 0.0], [3.0, 4.0]]),
        make_clouds([9], kind="grid")[0],
    ]
    ours = GpuEngine().persistence_many(clouds, 1, np.inf, False, None)
    assert_identical_results(ours, cpu_engine.persistence_many(clouds, 1, np.inf, False, None))
    assert ours[0][0].shape == (0, 2)
    assert ours[2][0].tolist() == [[0.0, 5.0], [0.0, np.inf]]


def test_public_api_runs_on_the_gpu_backend(make_clouds):
    assert gpu_tda.available_backends() == ["cpu", "gpu"]
    clouds = make_clouds([10, 10])
    batch = gpu_tda.persistence_batch(np.stack(clouds), maxdim=1, backend="gpu")
    assert_identical_results(batch, gpu_tda.persistence_batch(clouds, maxdim=1, backend="cpu"))


def test_injected_oom_retries_with_smaller_batches(make_clouds):
    clouds = make_clouds([10, 10, 10, 10])
    engine = GpuEngine(inject_failures=1, inject_kind="oom")
    ours = engine.persistence_many(clouds, 1, np.inf, False, None)
    assert_identical_results(ours, cpu_engine.persistence_many(clouds, 1, np.inf, False, None))
    assert engine.stats.oom_retries == 1
    assert engine.stats.cpu_fallbacks == 0
    assert engine.stats.device_batches == 2  # 4 windows -> OOM -> two batches of 2
    assert "out-of-memory" in engine.stats.last_error


def test_persistent_oom_falls_back_to_cpu(make_clouds):
    clouds = make_clouds([10, 10])
    engine = GpuEngine(inject_failures=10, inject_kind="oom")
    ours = engine.persistence_many(clouds, 1, np.inf, False, None)
    assert_identical_results(ours, cpu_engine.persistence_many(clouds, 1, np.inf, False, None))
    assert engine.stats.oom_retries == 1  # 2 -> 1, then one window at a time on the CPU
    assert engine.stats.cpu_fallbacks == 2 and engine.stats.fallback_windows == 2
    assert engine.stats.device_batches == 0


def test_device_error_falls_back_to_cpu_at_once(make_clouds, monkeypatch):
    monkeypatch.setenv(INJECT_ENV, "1:error")
    clouds = make_clouds([10, 10, 12])
    engine = GpuEngine()
    ours = engine.persistence_many(clouds, 0, np.inf, False, None)
    assert_identical_results(ours, cpu_engine.persistence_many(clouds, 0, np.inf, False, None))
    assert engine.stats.oom_retries == 0
    assert engine.stats.cpu_fallbacks == 1 and engine.stats.fallback_windows == 2
    assert engine.stats.device_batches == 1  # the n = 12 bucket ran on the device


def test_memory_report_under_the_simulator(make_clouds):
    engine = GpuEngine(max_batch=1)
    engine.persistence_many(make_clouds([8, 8]), 0, np.inf, False, None)
    report = engine.memory()
    assert (report.current_bytes, report.peak_bytes) == (0, 0)
    assert report.free_bytes is None and report.total_bytes is None
    assert engine.stats.device_batches == 2  # max_batch=1


def test_memory_budget_is_checked_like_the_cpu_engine(make_clouds):
    with pytest.raises(gpu_tda.MemoryBudgetError):
        GpuEngine().persistence_many(make_clouds([40]), 2, np.inf, False, 1000)


def test_bad_engine_settings_are_refused():
    for kwargs in ({"memory_fraction": 0}, {"max_batch": 0}, {"inject_kind": "boom"}):
        with pytest.raises(ValueError):
            GpuEngine(**kwargs)


def test_gpu_backend_without_simulator_or_gpu_raises():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    code = (
        "import numpy as np, gpu_tda\n"
        "assert gpu_tda.available_backends() == ['cpu'], gpu_tda.available_backends()\n"
        "try:\n"
        "    gpu_tda.persistence(np.zeros((3, 2)), backend='gpu')\n"
        "except gpu_tda.BackendUnavailableError as exc:\n"
        "    print('refused:', exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "refused: backend='gpu' is not usable here" in result.stdout


def test_kernel_probe_runs_a_kernel_and_names_why_one_cannot_run():
    """The GPU backend is offered only where a kernel compiles and runs: under the simulator
    the probe's kernel does; a CUDA target that cannot compile (numba-cuda 0.30 under numpy
    2.5 fails every compile) makes the reason name the error."""
    assert device._probe_kernel(device.numba_cuda()) is None

    class BrokenTarget:
        @staticmethod
        def jit(function):
            raise AttributeError("module 'numpy' has no attribute 'row_stack'")

    reason = device._probe_kernel(BrokenTarget)  # type: ignore[arg-type]
    assert reason == (
        "numba.cuda cannot compile or run a kernel here "
        "(AttributeError: module 'numpy' has no attribute 'row_stack')"
    )


def run_gpu_check_quick(out: pathlib.Path, **env: str) -> tuple[subprocess.CompletedProcess, dict]:
    """``bench/gpu_check.py --quick`` under the simulator: the finished process and its JSON."""
    root = pathlib.Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, str(root / "bench" / "gpu_check.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=280,
        env={**os.environ, "NUMBA_ENABLE_CUDASIM": "1", **env},
    )
    paths = list(out.glob("gpu_check-quick-*.json"))
    assert len(paths) == 1, result.stdout + result.stderr
    return result, json.loads(paths[0].read_text())


def test_gpu_check_bench_runs_quick_under_the_simulator(tmp_path):
    result, report = run_gpu_check_quick(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["check"]["ok"] and report["check"]["windows"] == 6
    assert (
        report["check"]["device_input_equals_cpu"] == report["check"]["device_input_windows"] == 3
    )
    assert len(report["batched"]) == 4 and len(report["single"]) == 2
    assert report["steps"]["seconds"]["host reduction"] >= 0
    assert 0 <= report["steps"]["columns_left_per_window"] <= report["steps"]["edges_per_window"]
    assert report["machine"]["device"]["simulator"] is True
    rings = report["rings"]
    assert rings["ok"] and rings["gathered_equals_host"] and rings["windows"] == 3
    assert "ripser.py" in result.stdout and "giotto-ph" in result.stdout
    assert report["check"]["gpu_cpu_fallbacks"] == 0 and report["gpu_engine"]["cpu_fallbacks"] == 0


def test_gpu_check_fails_when_the_gpu_fell_back_to_the_cpu(tmp_path):
    """A device failure redone on the CPU keeps the diagrams right but the GPU timings would be
    the CPU's: the check must say so and exit non-zero."""
    result, report = run_gpu_check_quick(tmp_path, GPU_TDA_GPU_INJECT_FAILURES="1:error")
    assert result.returncode == 1, result.stdout + result.stderr
    # the hook fails this process's first device batch (the check's) and, in each child that
    # times a single cloud, that child's first one
    assert report["check"]["gpu_cpu_fallbacks"] == 1 and not report["check"]["ok"]
    assert report["check"]["gpu_equals_cpu"] == report["check"]["windows"]  # still right
    assert [row["gpu_cpu_fallbacks"] for row in report["batched"]] == [0, 0, 0, 0]
    assert [row["gpu_cpu_fallbacks"] for row in report["single"]] == [1, 1]
    assert "GPU FELL BACK TO THE CPU in 3 batch(es)" in result.stdout
    assert "injected device failure" in result.stdout


@pytest.mark.timeout(600)
def test_device_scripts_rehearse_the_gpu_check(tmp_path):
    """``bench/gpu_wheels.sh`` then ``bench/gpu_run.sh --quick``, as a device call runs them:
    the peers installed from downloaded wheels (for this Python), the simulator for the GPU."""
    root = pathlib.Path(__file__).resolve().parents[2]
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    env = {
        **os.environ,
        "NUMBA_ENABLE_CUDASIM": "1",
        "PATH": f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GPU_TDA_WHEELS": str(tmp_path / "whl"),
        "GPU_PYTHON_VERSION": version,
        "OUT": str(tmp_path / "out"),
        "GPU_STREAM": "0",  # the worker end to end on simulated kernels would take an hour
    }
    fetched = subprocess.run(
        ["bash", str(root / "bench" / "gpu_wheels.sh")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if fetched.returncode != 0:
        pytest.skip(f"the peers' wheels could not be downloaded: {fetched.stderr[-300:]}")
    run = subprocess.run(
        ["bash", str(root / "bench" / "gpu_run.sh"), "--quick"],
        env=env, capture_output=True, text=True, timeout=500,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    (path,) = (tmp_path / "out").glob("gpu_check-quick-*.json")
    report = json.loads(path.read_text())
    assert report["check"]["ok"] and "error" not in report["steps"]
    packages = (tmp_path / "out" / "packages.txt").read_text()
    assert "ripser" in packages and "giotto-ph" in packages
