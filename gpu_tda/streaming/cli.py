"""The streaming commands: ``gpu-tda worker``, ``produce``, ``tail`` and ``demo``.

``worker``'s options are generated from ``WorkerSettings``' fields, so every option also reads
its ``GPU_TDA_<NAME>`` environment variable and the two can never drift apart.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from gpu_tda.settings import WorkerSettings, env_name, option_name, parse_value


def _settings_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for f in reversed(dataclasses.fields(WorkerSettings)):
        kind = str(f.type)
        multiple = bool(f.metadata.get("multiple"))
        if multiple:
            click_type: Any = str
        elif kind.startswith("int"):
            click_type = int
        elif kind.startswith("float"):
            click_type = float
        else:
            click_type = str
        default = f.default if not multiple else ()
        help_text = f"{f.metadata['help']} [env {env_name(f)}; default: {_show(f.default)}]"
        func = click.option(
            option_name(f),
            f.name,
            type=click_type,
            multiple=multiple,
            default=None if not multiple else default,
            envvar=env_name(f),
            show_envvar=False,
            help=help_text,
        )(func)
    return func


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return " ".join(value)
    return str(value)


def settings_from_options(options: dict[str, Any]) -> WorkerSettings:
    """``WorkerSettings`` from click's parsed options (unset ones keep their defaults)."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(WorkerSettings):
        raw = options.get(f.name)
        if raw is None or raw == ():
            continue
        values[f.name] = parse_value(f, raw) if f.metadata.get("multiple") else raw
    return WorkerSettings(**values)


@click.command("worker")
@_settings_options
@click.option("--log-level", default="INFO", envvar="GPU_TDA_LOG_LEVEL", help="Logging level.")
def worker_command(log_level: str, **options: Any) -> None:
    """Consume points, compute persistence diagrams of sliding windows, publish them."""
    from gpu_tda.streaming.runner import configure_logging, serve

    try:
        settings = settings_from_options(options)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    configure_logging(log_level)
    sys.exit(asyncio.run(serve(settings)))


def _load_options(rate: float) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The producer's load options (``produce`` and ``demo``), ``--rate`` defaulting to
    ``rate``."""
    return functools.partial(_add_load_options, rate=rate)


def _add_load_options(func: Callable[..., Any], rate: float) -> Callable[..., Any]:
    from gpu_tda.streaming.produce import PATTERNS
    from gpu_tda.streaming.synthetic import KINDS

    options = [
        click.option("--streams", default=8, show_default=True, help="Number of streams."),
        click.option(
            "--kind",
            type=click.Choice(KINDS),
            default="mixed",
            show_default=True,
            help="Shape of the streams (mixed: one kind per stream in turn).",
        ),
        click.option("--dim", default=3, show_default=True, help="Coordinates per point."),
        click.option(
            "--points-per-message", default=8, show_default=True, help="Points in each message."
        ),
        click.option(
            "--encoding",
            type=click.Choice(["json", "binary"]),
            default="json",
            show_default=True,
            help="Input encoding (binary: see the README).",
        ),
        click.option(
            "--rate",
            default=rate,
            show_default=True,
            help="Points per second over all streams (0: as fast as possible).",
        ),
        click.option(
            "--pattern",
            type=click.Choice(PATTERNS),
            default="constant",
            show_default=True,
            help="Load pattern.",
        ),
        click.option("--count", type=int, default=None, help="Stop after this many messages."),
        click.option("--duration", type=float, default=None, help="Stop after this many s."),
        click.option("--seed", default=0, show_default=True, help="Random seed."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _load_spec(**kw: Any) -> Any:
    from gpu_tda.streaming.produce import LoadSpec

    try:
        return LoadSpec(**kw)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command("produce")
@click.option(
    "--bootstrap-servers",
    default="localhost:9092",
    show_default=True,
    envvar="GPU_TDA_BOOTSTRAP_SERVERS",
    help="Kafka bootstrap servers.",
)
@click.option(
    "--topic",
    default="points",
    show_default=True,
    envvar="GPU_TDA_INPUT_TOPIC",
    help="Input topic.",
)
@click.option(
    "--partitions",
    default=4,
    show_default=True,
    envvar="GPU_TDA_PARTITIONS",
    help="Partitions when the topic is created.",
)
@_load_options(rate=0.0)
def produce_command(bootstrap_servers: str, topic: str, partitions: int, **load: Any) -> None:
    """Synthetic point streams (circles, tori, Takens embeddings, walks) into the input topic."""
    from gpu_tda.streaming.produce import produce_load

    spec = _load_spec(**load)
    if spec.count is None and spec.duration is None:
        click.echo("producing until Ctrl-C (give --count or --duration to bound it)", err=True)

    def progress(p: Any) -> None:
        click.echo(
            f"{p.messages:,} messages, {p.points:,} points, {p.points_per_second:,.0f} points/s",
            err=True,
        )

    try:
        stats = asyncio.run(
            produce_load(
                bootstrap_servers, topic, spec, partitions=partitions, on_progress=progress
            )
        )
    except KeyboardInterrupt:
        sys.exit(130)
    click.echo(
        f"produced {stats.messages:,} messages ({stats.points:,} points) in {stats.seconds:.2f} s: "
        f"{stats.points_per_second:,.0f} points/s, {stats.messages_per_second:,.0f} messages/s"
    )


@click.command("tail")
@click.option(
    "--bootstrap-servers",
    default="localhost:9092",
    show_default=True,
    envvar="GPU_TDA_BOOTSTRAP_SERVERS",
    help="Kafka bootstrap servers.",
)
@click.option(
    "--topic",
    default="diagrams",
    show_default=True,
    envvar="GPU_TDA_OUTPUT_TOPIC",
    help="Output topic.",
)
@click.option("--json", "as_json", is_flag=True, help="Print each window's JSON value.")
@click.option("--from-beginning", is_flag=True, help="Start at the oldest window.")
@click.option("--stream", default=None, help="Only this stream.")
@click.option("--count", type=int, default=None, help="Stop after this many windows.")
@click.option("--timeout", type=float, default=None, help="Stop after this many seconds.")
def tail_command(
    bootstrap_servers: str,
    topic: str,
    as_json: bool,
    from_beginning: bool,
    stream: str | None,
    count: int | None,
    timeout: float | None,
) -> None:
    """Print windows from the output topic: stream, scale#seq, bars per dimension, longest H1."""
    from gpu_tda.streaming.tail import tail

    try:
        asyncio.run(
            tail(
                bootstrap_servers,
                topic,
                emit=lambda line: click.echo(line),
                as_json=as_json,
                from_beginning=from_beginning,
                stream=stream,
                count=count,
                timeout=timeout,
            )
        )
    except KeyboardInterrupt:
        sys.exit(130)


@click.command("demo")
@click.option(
    "--window",
    "windows",
    multiple=True,
    default=("64",),
    show_default=True,
    help="Window size N or N:STRIDE (repeatable).",
)
@click.option("--stride", default=16, show_default=True, help="Points between windows.")
@click.option("--maxdim", default=1, show_default=True, help="Highest homology dimension.")
@click.option(
    "--backend",
    type=click.Choice(["auto", "cpu", "gpu"]),
    default="auto",
    show_default=True,
    help="Compute backend.",
)
@click.option("--partitions", default=2, show_default=True, help="Input topic partitions.")
@click.option("--show-windows", is_flag=True, help="Also print one line per window.")
@_load_options(rate=2000.0)  # a pace a 2-core laptop keeps up with at window 64, maxdim 1
def demo_command(
    windows: tuple[str, ...],
    stride: int,
    maxdim: int,
    backend: str,
    partitions: int,
    show_windows: bool,
    **load: Any,
) -> None:
    """Embedded broker + Redis + producer + worker + tail on loopback; Ctrl-C stops it all."""
    from gpu_tda.streaming.demo import demo_main

    spec = _load_spec(**load)
    sys.exit(demo_main(spec, windows, stride, maxdim, backend, partitions, show_windows))
