"""The ``gpu-tda`` command line: one click group, one sub-command per contract entry.

Each sub-command lives beside the code it drives and is registered here, so ``gpu-tda --help``
lists the whole contract. Heavy imports happen inside the commands, keeping ``--help`` fast.
"""

from __future__ import annotations

import sys

import click

from gpu_tda.flags.cli import flags
from gpu_tda.streaming.broker import broker_command
from gpu_tda.streaming.cli import demo_command, produce_command, tail_command, worker_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gpu-tda")
def main() -> None:
    """gpu-tda: streaming persistent homology on CPU and GPU."""


main.add_command(worker_command)
main.add_command(broker_command)
main.add_command(produce_command)
main.add_command(tail_command)
main.add_command(flags)
main.add_command(demo_command)


BENCHMARKS = {
    "persistence": "persistence_bench.py",
    "stream": "stream_bench.py",
    "gpu": "gpu_check.py",
}


@main.command(name="bench", context_settings={"ignore_unknown_options": True})
@click.argument("name", type=click.Choice(sorted(BENCHMARKS)))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_command(name: str, args: tuple[str, ...]) -> None:
    """Run a benchmark from bench/ (a source checkout): persistence | stream | gpu.

    Extra arguments go to the script, e.g. ``gpu-tda bench persistence --quick``.
    """
    import subprocess
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "bench" / BENCHMARKS[name]
    if not script.is_file():
        raise click.ClickException(
            f"{script} not found: benchmarks run from a source checkout of gpu-tda"
        )
    sys.exit(subprocess.call([sys.executable, str(script), *args]))


if __name__ == "__main__":
    main()
