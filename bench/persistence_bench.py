"""Benchmark: gpu_tda's CPU engine against ripser.py, giotto-ph and gudhi, in one run.

Workloads (the engine issue): (a) 64 noisy-circle windows, n = 64/128/256, maxdim 0 and 1;
(b) 64 Takens-embedding windows of a noisy sine (dim 3, delay 5), n = 128/256, maxdim 0 and 1;
(c) single uniform clouds in the unit cube, n = 512/1024/2048 at maxdim 1, n = 256 at maxdim 2.
Prints windows/s per tool and gpu_tda's speed-up over each peer; writes JSON and a Markdown
table to --out. Each peer gets a time budget per workload; past it, the rate is taken from the
windows it finished (marked with *), and a peer that could not finish one window is skipped.

    python bench/persistence_bench.py [--quick] [--out bench/results] [--budget 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, machine_info  # noqa: E402


@dataclass
class Workload:
    name: str
    windows: list[np.ndarray]
    maxdim: int


def noisy_circles(rng: np.random.Generator, count: int, n: int) -> list[np.ndarray]:
    out = []
    for _ in range(count):
        t = rng.uniform(0, 2 * np.pi, n)
        out.append(np.column_stack([np.cos(t), np.sin(t)]) + rng.normal(scale=0.1, size=(n, 2)))
    return out


def takens_windows(rng: np.random.Generator, count: int, n: int, dim: int = 3, delay: int = 5):
    length = n + (dim - 1) * delay
    out = []
    for _ in range(count):
        t = rng.uniform(0, 100) + np.arange(length) * 0.1
        signal = np.sin(t) + rng.normal(scale=0.1, size=length)
        out.append(np.column_stack([signal[i * delay : i * delay + n] for i in range(dim)]))
    return out


def workloads(quick: bool) -> list[Workload]:
    rng = np.random.default_rng(2026)
    count = 8 if quick else 64
    items = []
    for n in (64, 128) if quick else (64, 128, 256):
        circles = noisy_circles(rng, count, n)
        for maxdim in (0, 1):
            items.append(Workload(f"circle n={n} maxdim={maxdim} x{count}", circles, maxdim))
    for n in (128,) if quick else (128, 256):
        takens = takens_windows(rng, count, n)
        for maxdim in (0, 1):
            items.append(Workload(f"takens n={n} maxdim={maxdim} x{count}", takens, maxdim))
    for n in (256,) if quick else (512, 1024, 2048):
        items.append(Workload(f"cube n={n} maxdim=1 x1", [rng.uniform(size=(n, 3))], 1))
    n2 = 96 if quick else 256
    items.append(Workload(f"cube n={n2} maxdim=2 x1", [rng.uniform(size=(n2, 3))], 2))
    return items


def run_gpu_tda(w: Workload) -> None:
    import gpu_tda

    gpu_tda.persistence_batch(w.windows, maxdim=w.maxdim, backend="cpu")


def per_window(call: Callable[[np.ndarray, int], object]) -> Callable[[Workload, float], int]:
    """Time a one-window-at-a-time peer under a budget; returns the windows it finished."""

    def run(w: Workload, budget: float) -> int:
        start = time.perf_counter()
        for done, X in enumerate(w.windows, 1):
            call(X, w.maxdim)
            if time.perf_counter() - start > budget:
                return done
        return len(w.windows)

    return run


def _ripser(X: np.ndarray, maxdim: int) -> object:
    import ripser

    return ripser.ripser(X, maxdim=maxdim)


def _giotto(X: np.ndarray, maxdim: int) -> object:
    from gph import ripser_parallel

    return ripser_parallel(X, maxdim=maxdim, n_threads=2)


def _gudhi_rips(X: np.ndarray, maxdim: int) -> object:
    import gudhi

    tree = gudhi.RipsComplex(points=X).create_simplex_tree(max_dimension=maxdim + 1)
    return tree.persistence()


def _gudhi_sklearn(w: Workload, budget: float) -> int:
    from gudhi.sklearn.rips_persistence import RipsPersistence

    RipsPersistence(homology_dimensions=list(range(w.maxdim + 1)), n_jobs=2).fit_transform(
        w.windows
    )
    return len(w.windows)


PEERS: dict[str, Callable[[Workload, float], int]] = {
    "ripser.py": per_window(_ripser),
    "giotto-ph (2 threads)": per_window(_giotto),
    "gudhi RipsComplex": per_window(_gudhi_rips),
    "gudhi RipsPersistence (2 jobs)": _gudhi_sklearn,
}


def too_big_for(peer: str, w: Workload) -> bool:
    """Skip runs that cannot finish one window in minutes (full simplex trees)."""
    n = w.windows[0].shape[0]
    if peer == "gudhi RipsComplex":  # ~100 bytes per simplex: n=1024 at maxdim 1 needs ~17 GB
        return n ** (w.maxdim + 2) / 6 > 2e7
    if peer == "gudhi RipsPersistence (2 jobs)":
        return w.maxdim >= 2 and n > 200 or w.maxdim == 1 and n > 1024
    return False


def measure(w: Workload, budget: float) -> dict[str, dict[str, float | int | bool]]:
    results: dict[str, dict[str, float | int | bool]] = {}
    run_gpu_tda(Workload(w.name, w.windows[:2], w.maxdim))  # compile / load cache first
    start = time.perf_counter()
    run_gpu_tda(w)
    elapsed = time.perf_counter() - start
    results["gpu_tda (cpu)"] = {"windows": len(w.windows), "seconds": elapsed, "partial": False}
    for peer, run in PEERS.items():
        if too_big_for(peer, w):
            continue
        # warm up as gpu_tda was: imports, first-call set-up, gudhi's worker pool
        run(Workload(w.name, w.windows[:2], w.maxdim), budget)
        start = time.perf_counter()
        done = run(w, budget)
        elapsed = time.perf_counter() - start
        results[peer] = {"windows": done, "seconds": elapsed, "partial": done < len(w.windows)}
    return results


def first_call_seconds() -> dict[str, float]:
    """Import + first call in a fresh process: with an empty numba cache for each maxdim (a
    call compiles only what its maxdim needs), then with the cache warm."""
    code = (
        "import sys, time, numpy as np; t=time.perf_counter(); import gpu_tda; "
        "gpu_tda.persistence(np.random.default_rng(0).normal(size=(20, 2)), "
        "maxdim=int(sys.argv[1]), backend='cpu'); print(time.perf_counter()-t)"
    )

    def first_call(maxdim: int, cache: str) -> float:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        proc = subprocess.run(
            [sys.executable, "-c", code, str(maxdim)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        return float(proc.stdout.strip())

    out = {}
    for maxdim in (0, 1, 2):
        with tempfile.TemporaryDirectory() as cache:
            out[f"cold cache, maxdim {maxdim}"] = first_call(maxdim, cache)
            if maxdim == 2:
                out["warm cache, maxdim 2"] = first_call(maxdim, cache)
    return out


def render(info: dict, compile_s: dict, rows: list[tuple[str, dict]]) -> str:
    lines = [
        "# gpu_tda CPU engine vs peers",
        "",
        f"Machine: {describe(info)}",
        "",
        "First call (import + compile or cache load): "
        + ", ".join(f"{k} {v:.1f} s" for k, v in compile_s.items()),
        "",
        "| workload | tool | windows/s | ms/window | gpu_tda speed-up |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for name, res in rows:
        ours = res["gpu_tda (cpu)"]
        ours_rate = ours["windows"] / ours["seconds"]
        for tool, r in res.items():
            rate = r["windows"] / r["seconds"]
            star = "*" if r["partial"] else ""
            ratio = "" if tool.startswith("gpu_tda") else f"{ours_rate / rate:.2f}x"
            lines.append(f"| {name} | {tool} | {rate:.1f}{star} | {1e3 / rate:.2f} | {ratio} |")
    lines += ["", "\\* budget reached: rate from the windows finished."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for smoke tests")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per peer per workload")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--tag", default="", help="suffix for the result file names")
    args = parser.parse_args()

    info = machine_info()
    print(f"Machine: {describe(info)}", flush=True)
    compile_s = first_call_seconds()
    print("first call:", compile_s, flush=True)
    rows = []
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "persistence" + (f"-{args.tag}" if args.tag else "") + ("-quick" if args.quick else "")
    for w in workloads(args.quick):
        res = measure(w, args.budget)
        rows.append((w.name, res))
        (args.out / f"{stem}.md").write_text(render(info, compile_s, rows))  # partial results
        ours = res["gpu_tda (cpu)"]["windows"] / res["gpu_tda (cpu)"]["seconds"]
        peers = ", ".join(
            f"{tool}: {ours / (r['windows'] / r['seconds']):.2f}x"
            for tool, r in res.items()
            if not tool.startswith("gpu_tda")
        )
        print(f"{w.name:32s} gpu_tda {ours:9.1f} win/s | speed-up vs {peers}", flush=True)
    table = render(info, compile_s, rows)
    print(table)
    (args.out / f"{stem}.md").write_text(table)
    payload = {"machine": info, "first_call_seconds": compile_s, "results": dict(rows)}
    (args.out / f"{stem}.json").write_text(json.dumps(payload, indent=2))
    print(f"wrote {args.out / stem}.md and .json")


if __name__ == "__main__":
    main()
