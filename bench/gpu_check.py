"""GPU check: GPU == CPU == ripser on many windows, then timings against the CPU and the peers.

    python bench/gpu_check.py [--out bench/results] [--cap-seconds 30]
    NUMBA_ENABLE_CUDASIM=1 python bench/gpu_check.py --quick --out /tmp/x   # simulator smoke run

(1) checks the GPU backend against the CPU backend (bit for bit) and ripser.py (float32 tolerance)
on a few hundred noisy-circle windows, some of them handed over as one device array; (2) times B =
1024 windows of n = 128 and 256 at maxdim 0 and 1, and single uniform clouds of n = 2048 and 4096
at maxdim 1, for gpu_tda (gpu), gpu_tda (cpu, all cores), ripser.py and giotto-ph (all cores); (3)
splits the GPU's maxdim-1 time on B = 1024 windows of n = 256 into its steps (each device step, the
copy of the distances and sorted edge keys to the host, then the host reduction of the columns the
device could not pair, on all cores) with the share of columns left to the host; (4) runs the
worker's device path: micro-batches scattered into per-stream device rings, windows gathered and
computed, checked against the host's points and the CPU engine; (5) prints tables with ratios and
the machine, and writes it all as JSON to --out, rewritten after each section (a run cut short
keeps what it measured; a failing section is recorded and the next one runs). A GPU batch that
failed on the device and was redone on the CPU (the engine's fallback, which keeps the results
right) would make the GPU timings CPU timings: each check and timing records how many batches fell
back, a row with any is left out of the goals, and the run fails with the engine's last error. On
the device machine, ``bench/gpu_run.sh`` runs it. Peers on batches are timed on a subset of the
windows and reported per window; single clouds run in a child process killed after --cap-seconds
(reported as a lower bound). Meant to finish in < 5 min on an H100.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import multiprocessing
import os
import pathlib
import sys
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import gpu_tda  # noqa: E402
from bench.machine import machine_info  # noqa: E402
from gpu_tda import cpu_engine, device  # noqa: E402

if TYPE_CHECKING:  # the engine itself is imported once the GPU is known to be usable
    from gpu_tda.gpu_engine import EngineStats

FULL = {
    "check": {"windows": 320, "sizes": (32, 64), "maxdim": 1},
    "batched": {"B": 1024, "sizes": (128, 256), "maxdims": (0, 1), "peer_windows": 64},
    "single": {"sizes": (2048, 4096), "maxdim": 1, "cap_seconds": 30.0},
    "steps": {"B": 1024, "n": 256},
    "rings": {"streams": 1024, "capacity": 512, "batches": 32, "batch_points": 16384, "n": 256},
}
QUICK = {
    "check": {"windows": 6, "sizes": (8, 12), "maxdim": 1},
    "batched": {"B": 4, "sizes": (8, 12), "maxdims": (0, 1), "peer_windows": 2},
    # the simulator runs a CUDA thread per Python thread: a block's barriers now and then stall
    # a 24-point cloud for 10 s or more, so a child gets room there
    "single": {"sizes": (16, 24), "maxdim": 1, "cap_seconds": 120.0},
    "steps": {"B": 4, "n": 12},
    "rings": {"streams": 3, "capacity": 16, "batches": 3, "batch_points": 20, "n": 12},
}


# -- workloads --------------------------------------------------------------------------------


def noisy_circles(rng: np.random.Generator, count: int, n: int) -> np.ndarray:
    """(count, n, 2) windows of the unit circle with Gaussian noise 0.1."""
    theta = rng.uniform(0, 2 * np.pi, size=(count, n))
    pts = np.stack((np.cos(theta), np.sin(theta)), axis=-1)
    return pts + rng.normal(scale=0.1, size=pts.shape)


def uniform_cloud(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.uniform(size=(n, 3))


# -- runners: each maps (list of clouds, maxdim) -> None ---------------------------------------


def run_gpu(clouds: list[np.ndarray], maxdim: int) -> list[list[np.ndarray]]:
    from gpu_tda import gpu_engine

    return gpu_engine.persistence_many(clouds, maxdim, np.inf, False, None)


def engine_stats() -> EngineStats:
    """The counters of this process's GPU engine (``gpu_engine.EngineStats``)."""
    from gpu_tda import gpu_engine

    return gpu_engine.default_engine().stats


def gpu_fallbacks() -> int:
    """GPU batches this process redid on the CPU after a device failure, so far."""
    return engine_stats().cpu_fallbacks


def run_cpu(clouds: list[np.ndarray], maxdim: int) -> list[list[np.ndarray]]:
    return cpu_engine.persistence_many(clouds, maxdim, np.inf, False, None)


def run_ripser(clouds: list[np.ndarray], maxdim: int) -> None:
    import ripser

    for cloud in clouds:
        ripser.ripser(cloud, maxdim=maxdim)


def run_giotto(clouds: list[np.ndarray], maxdim: int) -> None:
    from gph import ripser_parallel

    threads = os.cpu_count() or 1
    for cloud in clouds:
        ripser_parallel(cloud, maxdim=maxdim, n_threads=threads)


SECTIONS = ("check", "batched", "single", "steps", "rings")

RUNNERS: dict[str, Callable[[list[np.ndarray], int], object]] = {
    "gpu": run_gpu,
    "cpu": run_cpu,
    "ripser.py": run_ripser,
    "giotto-ph": run_giotto,
}


def _timed(name: str, clouds: list[np.ndarray], maxdim: int) -> float:
    start = time.perf_counter()
    RUNNERS[name](clouds, maxdim)
    return time.perf_counter() - start


def _warm_up(name: str, maxdim: int) -> float:
    """First call on a tiny cloud (imports, numba compile or cache load); its seconds."""
    return _timed(name, [np.random.default_rng(0).uniform(size=(16, 2))], maxdim)


def _child(name: str, clouds: list[np.ndarray], maxdim: int, queue: multiprocessing.Queue) -> None:
    _warm_up(name, maxdim)
    seconds = _timed(name, clouds, maxdim)
    queue.put((seconds, gpu_fallbacks() if name == "gpu" else 0))


def timed_capped(
    name: str, clouds: list[np.ndarray], maxdim: int, cap: float
) -> tuple[float | None, int]:
    """Seconds taken in a fresh child process (None when it ran past ``cap``) and the GPU
    batches it redid on the CPU."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, clouds, maxdim, queue), daemon=True)
    proc.start()
    try:
        seconds, fallbacks = queue.get(timeout=cap)
        return float(seconds), int(fallbacks)
    except Exception:
        return None, 0
    finally:
        proc.kill()
        proc.join()


# -- (1) correctness ---------------------------------------------------------------------------


def _sorted_bars(dgm: np.ndarray) -> np.ndarray:
    dgm = np.asarray(dgm, dtype=np.float64).reshape(-1, 2)
    return dgm[np.lexsort((dgm[:, 0], dgm[:, 1]))]


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = _sorted_bars(a), _sorted_bars(b)
    if a.shape != b.shape or not np.array_equal(np.isinf(a), np.isinf(b)):
        return False
    finite = np.isfinite(a)
    return bool(np.allclose(a[finite], b[finite], rtol=2e-6, atol=1e-7))


def identical_windows(ours: list[list[np.ndarray]], theirs: list[list[np.ndarray]]) -> int:
    """How many windows have bit-identical diagrams in both results, dimension by dimension."""
    return sum(
        all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
        for a, b in zip(ours, theirs, strict=True)
    )


def check(rng: np.random.Generator, spec: dict) -> dict:
    import ripser
    from scipy.spatial.distance import cdist

    per_size = spec["windows"] // len(spec["sizes"])
    clouds = [w for n in spec["sizes"] for w in noisy_circles(rng, per_size, n)]
    before = gpu_fallbacks()
    gpu = run_gpu(clouds, spec["maxdim"])
    cpu = run_cpu(clouds, spec["maxdim"])
    gpu_cpu = identical_windows(gpu, cpu)
    gpu_ripser = 0
    for cloud, g in zip(clouds, gpu, strict=True):
        dm = cdist(cloud, cloud)
        r = ripser.ripser(dm, maxdim=spec["maxdim"], distance_matrix=True)["dgms"]
        gpu_ripser += all(_close(x, y) for x, y in zip(g, r, strict=True))
    # the first size's windows again, handed over on the device (the API's device input)
    on_device = device.array_module().asarray(np.stack(clouds[:per_size]))
    from_device = gpu_tda.persistence_batch(on_device, maxdim=spec["maxdim"], backend="gpu")
    device_cpu = identical_windows(from_device, cpu[:per_size])
    fell_back = gpu_fallbacks() - before
    return {
        "windows": len(clouds),
        "sizes": list(spec["sizes"]),
        "maxdim": spec["maxdim"],
        "gpu_equals_cpu": gpu_cpu,
        "gpu_equals_ripser": gpu_ripser,
        "device_input_windows": per_size,
        "device_input_equals_cpu": device_cpu,
        "gpu_cpu_fallbacks": fell_back,
        "ok": gpu_cpu == gpu_ripser == len(clouds) and device_cpu == per_size and fell_back == 0,
    }


# -- (2) timings -------------------------------------------------------------------------------


def batched(rng: np.random.Generator, spec: dict) -> list[dict]:
    rows = []
    compile_s = {m: _warm_up("gpu", m) for m in spec["maxdims"]}
    for name in ("cpu", "ripser.py", "giotto-ph"):
        for m in spec["maxdims"]:
            _warm_up(name, m)
    for n in spec["sizes"]:
        windows = list(noisy_circles(rng, spec["B"], n))
        subset = windows[: spec["peer_windows"]]
        for maxdim in spec["maxdims"]:
            row = {"workload": f"B={spec['B']} circles n={n}", "n": n, "maxdim": maxdim}
            before = gpu_fallbacks()
            _timed("gpu", windows, maxdim)  # a first call fills the pinned copy buffers
            per_window = {
                "gpu": _timed("gpu", windows, maxdim) / len(windows),
                "cpu": _timed("cpu", windows, maxdim) / len(windows),
                "ripser.py": _timed("ripser.py", subset, maxdim) / len(subset),
                "giotto-ph": _timed("giotto-ph", subset, maxdim) / len(subset),
            }
            row["gpu_cpu_fallbacks"] = gpu_fallbacks() - before
            row["seconds_per_window"] = per_window
            row["windows_per_second"] = {k: 1.0 / v for k, v in per_window.items()}
            row["gpu_speedup"] = {k: v / per_window["gpu"] for k, v in per_window.items()}
            row["gpu_first_call_s"] = compile_s[maxdim]
            rows.append(row)
    return rows


def single(rng: np.random.Generator, spec: dict, cap: float) -> list[dict]:
    rows = []
    for n in spec["sizes"]:
        cloud = [uniform_cloud(rng, n)]
        maxdim = spec["maxdim"]
        timed = {name: timed_capped(name, cloud, maxdim, cap) for name in RUNNERS}
        seconds = {name: t for name, (t, _) in timed.items()}
        gpu = seconds["gpu"]
        rows.append(
            {
                "workload": f"uniform cube n={n}",
                "n": n,
                "maxdim": maxdim,
                "seconds": seconds,
                "cap_seconds": cap,
                "gpu_cpu_fallbacks": timed["gpu"][1],
                "gpu_speedup": {
                    k: (None if v is None or gpu is None else v / gpu) for k, v in seconds.items()
                },
            }
        )
    return rows


def steps(rng: np.random.Generator, spec: dict) -> dict:
    """Seconds of each step of the GPU's maxdim-1 path on one batch (the second of two runs, so
    compilation is left out), and how many columns the host had to reduce."""
    points = device.array_module().asarray(noisy_circles(rng, spec["B"], spec["n"]))
    _time_steps(points)
    seconds, left = _time_steps(points)
    n = spec["n"]
    return {
        "workload": f"B={spec['B']} circles n={n} maxdim 1",
        "seconds": seconds,
        "total_seconds": sum(seconds.values()),
        "edges_per_window": n * (n - 1) // 2,
        "columns_left_per_window": float(left.mean()),
        "host_cores": os.cpu_count(),
    }


def _time_steps(points: object) -> tuple[dict[str, float], np.ndarray]:
    """One pass of ``cuda_h1.pair_edges`` and the host reduction, step by step: (seconds per
    step, columns left to the host per window)."""
    from concurrent.futures import ThreadPoolExecutor

    from gpu_tda.kernels import cuda_apparent, cuda_distances, cuda_edges, cuda_h1

    xp = device.array_module()
    # the simulator runs a Python thread per CUDA thread: tiny blocks there
    tile, threads = (4, 4) if device.simulator_enabled() else (16, 128)
    batch, n, _ = points.shape
    seconds: dict[str, float] = {}

    def step(name: str, work: Callable[[], object]) -> object:
        device.synchronize()
        start = time.perf_counter()
        out = work()
        device.synchronize()
        seconds[name] = time.perf_counter() - start
        return out

    dist = xp.empty((batch, n, n), dtype=np.float32)
    step("distances", lambda: cuda_distances.batched_distances(points, dist, tile))
    thr = step("thresholds", lambda: cuda_edges.enclosing_thresholds(dist, np.inf))
    keys = step("edge sort", lambda: cuda_edges.sorted_edge_keys(dist, thr, threads=threads))
    state, _, _ = step(
        "spanning forest", lambda: cuda_edges.spanning_forest(dist, thr, keys, threads)
    )
    pivots = step(
        "apparent pairs",
        lambda: cuda_apparent.classify_columns(dist, keys, thr, state, threads=threads),
    )
    cols = step("gather", lambda: cuda_apparent.gather_columns(keys, state, *pivots))
    host, host_keys = step(
        "copy to host",
        lambda: (np.ascontiguousarray(device.to_host(dist)), device.to_host(keys)),
    )
    host_thr = device.to_host(thr)
    cores = os.cpu_count() or 1
    bounds = np.linspace(0, batch, min(cores, batch) + 1).astype(int).tolist()
    columns = (cols.starts, cols.col_d, cols.col_i, cols.pivot_d, cols.pivot_i)
    args = (host, host_thr, host_keys, *columns)

    def reduce(lo: int, hi: int) -> object:
        return cuda_h1.reduce_edge_columns(*args, lo, hi)

    with ThreadPoolExecutor(cores) as pool:
        step("host reduction", lambda: list(pool.map(reduce, bounds[:-1], bounds[1:])))
    return seconds, np.diff(cols.starts)


def rings(rng: np.random.Generator, spec: dict) -> dict:
    """The worker's device path on the device: micro-batches of noisy-circle points scattered
    into per-stream device rings, each stream's last n points gathered into one (B, n, 2) batch,
    checked against the host's copy of every stream (exactly) and its diagrams at maxdim 1
    against the CPU engine's (bit for bit); seconds per append, per gather and per window."""
    from gpu_tda.gpu_engine import default_engine
    from gpu_tda.streaming.device_ring import DeviceRingBuffers

    streams, n = spec["streams"], spec["n"]
    ring = DeviceRingBuffers(spec["capacity"], 2, streams)
    held: list[list[np.ndarray]] = [[] for _ in range(streams)]
    append_s = []
    for _ in range(spec["batches"]):
        slots = rng.integers(0, streams, size=spec["batch_points"])
        theta = rng.uniform(0, 2 * np.pi, size=slots.shape[0])
        points = np.stack((np.cos(theta), np.sin(theta)), axis=-1)
        points += rng.normal(scale=0.1, size=points.shape)
        device.synchronize()
        start = time.perf_counter()
        ring.append_many(slots, points)
        device.wait_for(ring.stream.record())
        device.synchronize()
        append_s.append(time.perf_counter() - start)
        for slot in range(streams):
            held[slot].append(points[slots == slot])
    history = [np.concatenate(h) for h in held]
    due = np.array([s for s in range(streams) if history[s].shape[0] >= n], dtype=np.int64)
    starts = np.array([history[s].shape[0] - n for s in due], dtype=np.int64)
    expected = np.stack([history[s][-n:] for s in due])
    for _ in range(2):  # the first gather compiles its kernel: time the second
        start = time.perf_counter()
        batch = ring.gather(due, starts, n)
        device.wait_for(ring.stream.record())
        device.synchronize()
        gather_s = time.perf_counter() - start
    before = gpu_fallbacks()
    engine = default_engine()
    engine.persistence_of_batch(batch, 1, np.inf)  # compile, then time the second run
    start = time.perf_counter()
    gpu = engine.persistence_of_batch(batch, 1, np.inf)
    compute_s = time.perf_counter() - start
    cpu = run_cpu(list(expected), 1)
    same_points = bool(np.array_equal(device.to_host(batch), expected))
    same = identical_windows(gpu, cpu)
    fell_back = gpu_fallbacks() - before
    return {
        "workload": f"{streams} streams, {spec['batches']} micro-batches of "
        f"{spec['batch_points']} points, windows of n={n} at maxdim 1",
        "windows": int(due.shape[0]),
        "gathered_equals_host": same_points,
        "gpu_equals_cpu": same,
        "gpu_cpu_fallbacks": fell_back,
        "ok": same_points and same == due.shape[0] and fell_back == 0,
        "append_seconds_median": float(np.median(append_s[1:] or append_s)),
        "gather_seconds": gather_s,
        "compute_seconds_per_window": compute_s / max(1, due.shape[0]),
    }


# -- (4) report --------------------------------------------------------------------------------


def machine() -> dict:
    """The shared machine facts (bench/machine.py) plus the device and CuPy/numba versions."""
    info = dict(machine_info())
    info["device"] = device.describe()
    return info


def _cell(seconds: float | None, ratio: float | None, name: str, cap: float | None = None) -> str:
    if seconds is None:
        text = f">{cap:.0f} s" if cap else "-"
    else:
        text = f"{seconds * 1e3:.3f} ms"
    if name != "gpu" and ratio is not None:
        text += f" ({ratio:.1f}x)"
    return f"{text:>22}"


def render(report: dict) -> str:
    names = ("gpu", "cpu", "ripser.py", "giotto-ph")
    lines = [f"machine: {json.dumps(report['machine'])}", ""]
    failed = {k: v["error"] for k, v in report.items() if isinstance(v, dict) and "error" in v}
    lines += [f"{name}: FAILED: {error}" for name, error in failed.items()]

    def shown(section: str) -> bool:
        return section in report and section not in failed

    if shown("check"):
        chk = report["check"]
        lines.append(
            f"check: {chk['windows']} windows n in {chk['sizes']} maxdim {chk['maxdim']}: "
            f"gpu==cpu {chk['gpu_equals_cpu']}, gpu==ripser {chk['gpu_equals_ripser']}, "
            f"device input==cpu {chk['device_input_equals_cpu']} of "
            f"{chk['device_input_windows']} "
            f"-> {'OK' if chk['ok'] else 'MISMATCH'}"
        )
    head = f"{'workload':26} {'maxdim':>6} " + " ".join(f"{n:>22}" for n in names)
    if shown("batched"):
        lines += ["", "batched, time per window (peer time / gpu time)", head]
        for row in report["batched"]:
            cells = [_cell(row["seconds_per_window"][k], row["gpu_speedup"][k], k) for k in names]
            lines.append(f"{row['workload']:26} {row['maxdim']:>6} " + " ".join(cells))
    if shown("single"):
        lines += ["", "single clouds, whole run (peer time / gpu time)", head]
        for row in report["single"]:
            cap = row["cap_seconds"]
            cells = [_cell(row["seconds"][k], row["gpu_speedup"][k], k, cap) for k in names]
            lines.append(f"{row['workload']:26} {row['maxdim']:>6} " + " ".join(cells))
    if shown("steps"):
        st = report["steps"]
        lines += ["", f"GPU steps, {st['workload']} ({st['host_cores']} host cores)"]
        for name, sec in st["seconds"].items():
            lines.append(f"  {name:16} {sec * 1e3:10.3f} ms")
        lines.append(f"  {'total':16} {st['total_seconds'] * 1e3:10.3f} ms")
        lines.append(
            f"  columns left to the host: {st['columns_left_per_window']:.1f} of "
            f"{st['edges_per_window']} edges per window"
        )
    if shown("rings"):
        rg = report["rings"]
        lines += [
            "",
            f"device rings: {rg['workload']}: gathered == host {rg['gathered_equals_host']}, "
            f"gpu==cpu {rg['gpu_equals_cpu']} of {rg['windows']} -> "
            f"{'OK' if rg['ok'] else 'MISMATCH'}; append {rg['append_seconds_median'] * 1e3:.3f} "
            f"ms (median), gather {rg['gather_seconds'] * 1e3:.3f} ms, compute "
            f"{rg['compute_seconds_per_window'] * 1e3:.3f} ms per window",
        ]
    fell_back = fallback_count(report)
    if fell_back:
        lines += [
            "",
            f"GPU FELL BACK TO THE CPU in {fell_back} batch(es): the GPU figures are "
            f"not the device's; last error: {report['gpu_engine'].get('last_error')}",
        ]
    if "goals" in report:
        lines += ["", "goals: " + json.dumps(report["goals"])]
    return "\n".join(lines)


def fallback_count(report: dict) -> int:
    """GPU batches redid on the CPU in the whole run (this process and the single-cloud ones)."""
    single = report.get("single")
    rows = single if isinstance(single, list) else []
    in_children = sum(row["gpu_cpu_fallbacks"] for row in rows)
    return report.get("gpu_engine", {}).get("cpu_fallbacks", 0) + in_children


def goals(rows: list[dict]) -> dict:
    out = {}
    for row in rows:
        if row["gpu_cpu_fallbacks"]:  # not the device's time
            continue
        if row["n"] == 256 and row["maxdim"] == 1:
            out["n256_h1_vs_giotto_ge_10x"] = row["gpu_speedup"]["giotto-ph"]
            out["n256_h1_vs_ripser_ge_30x"] = row["gpu_speedup"]["ripser.py"]
        if row["n"] == 256 and row["maxdim"] == 0:
            out["n256_h0_vs_ripser_ge_100x"] = row["gpu_speedup"]["ripser.py"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="JSON folder")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (simulator smoke run)")
    parser.add_argument(
        "--cap-seconds", type=float, help="per single-cloud run (default: 30, 120 with --quick)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--sections", help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)"
    )
    args = parser.parse_args(argv)
    chosen = SECTIONS if args.sections is None else tuple(args.sections.split(","))
    if unknown := set(chosen) - set(SECTIONS):
        parser.error(f"unknown sections {sorted(unknown)}; choose from {','.join(SECTIONS)}")
    reason = device.gpu_unavailable_reason()
    if reason is not None:
        print(f"gpu_check: the GPU backend is not usable here: {reason}", file=sys.stderr)
        return 2
    spec = QUICK if args.quick else FULL
    cap = args.cap_seconds or spec["single"]["cap_seconds"]
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    report: dict = {
        "schema": "gpu-tda.gpu-check/1",
        "quick": args.quick,
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    path = _report_path(pathlib.Path(args.out), report)
    sections: dict[str, Callable[[], object]] = {
        "check": lambda: check(rng, spec["check"]),
        "batched": lambda: batched(rng, spec["batched"]),
        "single": lambda: single(rng, spec["single"], cap),
        "steps": lambda: steps(rng, spec["steps"]),
        "rings": lambda: rings(rng, spec["rings"]),
    }
    sections = {name: work for name, work in sections.items() if name in chosen}
    # one section after another, the JSON rewritten after each: a run cut short (the device
    # call's time limit) keeps what it measured, and a failing section does not stop the rest
    for name, work in sections.items():
        section_start = time.perf_counter()
        try:
            report[name] = work()
        except Exception as exc:
            traceback.print_exc()
            report[name] = {"error": f"{type(exc).__name__}: {exc}"}
        if name == "batched" and isinstance(report[name], list):
            report["goals"] = goals(report[name])
        report["gpu_engine"] = dataclasses.asdict(engine_stats())
        report["wall_seconds"] = time.perf_counter() - started
        path.write_text(json.dumps(report, indent=2, default=float) + "\n")
        print(
            f"[{report['wall_seconds']:7.1f} s] {name}: "
            f"{time.perf_counter() - section_start:.1f} s",
            flush=True,
        )
    print(render(report))
    print(f"\nwrote {path} ({report['wall_seconds']:.1f} s)")
    ok = all(report[n].get("ok") for n in ("check", "rings") if isinstance(report.get(n), dict))
    failed = [n for n in sections if isinstance(report[n], dict) and "error" in report[n]]
    return 0 if ok and not failed and not fallback_count(report) else 1


def _report_path(out_dir: pathlib.Path, report: dict) -> pathlib.Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    gpu_name = str(report["machine"]["device"].get("gpu") or "none")
    slug = "".join(c if c.isalnum() else "-" for c in gpu_name).strip("-").lower()
    stamp = report["when"].replace(":", "").replace("-", "")[:15]
    return out_dir / f"gpu_check-{'quick-' if report['quick'] else ''}{slug}-{stamp}.json"


if __name__ == "__main__":
    sys.exit(main())
