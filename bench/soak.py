"""Soak: a worker under steady load for 10 minutes; its RSS must stay flat.

    python bench/soak.py                        # 600 s at 5,000 points/s, 200 streams
    python bench/soak.py --duration 120         # a shorter look

An embedded broker, ``gpu-tda worker`` in its own process (window 128 / stride 32, maxdim 0)
and a steady producer in this one (bench/load_ramp.py's). The worker's RSS (``/proc``) and its
``tda_window_memory_bytes`` are sampled every ``--sample-s``; after a warm-up (``--warmup-s``:
ring buffers fill, numba compiles) the RSS trend is fitted by least squares. "Flat" means the
fitted growth over the run stays under ``--tolerance-mb`` (default 20 MB). Writes
``soak.json``, ``soak.md`` and ``soak.png`` to ``--out``; exit status 1 when not flat.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_ramp import Producer, rss_bytes, scrape, worker_on_embedded_broker  # noqa: E402
from machine import describe, machine_info  # noqa: E402


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    samples: list[dict[str, float]] = []
    extra = {
        "GPU_TDA_WINDOW": args.window,
        "GPU_TDA_STRIDE": args.stride,
        "GPU_TDA_MAXDIM": "0",
        "GPU_TDA_BACKEND": "cpu",
    }
    async with worker_on_embedded_broker(f"soak-{os.getpid()}", extra) as (
        bootstrap,
        topics,
        port,
        worker,
    ):
        producer = Producer(bootstrap, topics["input"], args.streams, args.points)
        try:
            await producer.producer.start()
            start = time.monotonic()
            load = asyncio.create_task(producer.run(args.rate, args.duration))
            while not load.done():
                await asyncio.sleep(args.sample_s)
                sample = {
                    "t_s": round(time.monotonic() - start, 1),
                    "rss_mb": rss_bytes(worker.pid) / 2**20,
                    "window_mb": scrape(port, "tda_window_memory_bytes") / 2**20,
                    "points": scrape(port, "tda_points_total"),
                    "windows": scrape(port, "tda_windows_total"),
                }
                samples.append(sample)
                print(json.dumps(sample), flush=True)
            await load
        finally:
            await producer.producer.stop()
    steady = [s for s in samples if s["t_s"] >= args.warmup_s]
    t = np.array([s["t_s"] for s in steady])
    rss = np.array([s["rss_mb"] for s in steady])
    slope = float(np.polyfit(t, rss, 1)[0]) if len(t) >= 3 else float("nan")
    growth = slope * (t[-1] - t[0]) if len(t) >= 3 else float("nan")
    return {
        "samples": samples,
        "steady_from_s": args.warmup_s,
        "rss_start_mb": round(float(rss[0]), 1) if len(rss) else None,
        "rss_end_mb": round(float(rss[-1]), 1) if len(rss) else None,
        "rss_max_mb": round(float(rss.max()), 1) if len(rss) else None,
        "rss_slope_mb_per_min": round(slope * 60, 3),
        "rss_fitted_growth_mb": round(growth, 2),
        "flat": bool(abs(growth) <= args.tolerance_mb),
        "points": samples[-1]["points"] if samples else 0,
        "windows": samples[-1]["windows"] if samples else 0,
    }


def write(result: dict[str, Any], args: argparse.Namespace, info: dict[str, Any]) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    setup = {k: getattr(args, k) for k in ("duration", "rate", "streams", "points", "window",
                                           "stride", "warmup_s", "tolerance_mb")}  # fmt: skip
    (out / "soak.json").write_text(
        json.dumps({"machine": info, "setup": setup, **result}, indent=2) + "\n"
    )
    r = result
    lines = [
        "# Soak (bench/soak.py)",
        "",
        f"Machine: {describe(info)}",
        "",
        f"Setup: {json.dumps(setup)}",
        "",
        f"- points processed: {r['points']:,.0f}; windows published: {r['windows']:,.0f}",
        f"- worker RSS after warm-up ({r['steady_from_s']} s): {r['rss_start_mb']} MB; "
        f"at the end: {r['rss_end_mb']} MB; max {r['rss_max_mb']} MB",
        f"- fitted RSS trend: {r['rss_slope_mb_per_min']} MB/min, "
        f"{r['rss_fitted_growth_mb']} MB over the steady part "
        f"(flat = within {args.tolerance_mb:g} MB): **{'flat' if r['flat'] else 'NOT flat'}**",
    ]
    (out / "soak.md").write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t_s"] for s in r["samples"]]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(t, [s["rss_mb"] for s in r["samples"]], label="worker RSS (MB)")
    ax.plot(t, [s["window_mb"] for s in r["samples"]], label="ring buffers (MB)")
    ax.axvline(args.warmup_s, color="grey", ls=":", label="end of warm-up")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("MB")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    ax.set_title(f"gpu-tda worker soak, {args.rate:,} points/s\n{describe(info)}", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "soak.png", dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--rate", type=int, default=5000, help="offered points/s")
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--points", type=int, default=8, help="points per message")
    parser.add_argument("--window", default="128")
    parser.add_argument("--stride", default="32")
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--warmup-s", type=float, default=60.0)
    parser.add_argument("--tolerance-mb", type=float, default=20.0)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = parser.parse_args()
    info = machine_info()
    print(describe(info), flush=True)
    result = asyncio.run(soak(args))
    write(result, args, info)
    print(Path(args.out) / "soak.md")
    return 0 if result["flat"] else 1


if __name__ == "__main__":
    sys.exit(main())
