"""``gpu-tda flags``: list, get, set, delete and evaluate flags stored in Redis."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import click

from gpu_tda.flags.model import FlagDefinition, Strategy, Variant, parse_time
from gpu_tda.flags.names import DEFAULT_REDIS_URL

_URL_META = "gpu_tda.flags.redis_url"
_URL_HELP = "Redis holding the flags (env GPU_TDA_REDIS_URL)."


def _store(ctx: click.Context, url: str | None) -> Any:
    from gpu_tda.flags.store import FlagStore

    return FlagStore(url or ctx.meta.get(_URL_META) or DEFAULT_REDIS_URL)


def _redis_option(f: Any) -> Any:
    return click.option("--redis-url", default=None, help=_URL_HELP)(f)


def _fail(message: str) -> None:
    click.echo(f"gpu-tda flags: {message}", err=True)
    sys.exit(1)


def _run_redis(action: Any) -> Any:
    """Run ``action()``; a Redis failure becomes a clear message and exit status 1."""
    import redis

    try:
        return action()
    except (redis.RedisError, OSError) as exc:
        _fail(f"cannot reach Redis: {exc}")


@click.group(name="flags")
@click.option(
    "--redis-url",
    envvar="GPU_TDA_REDIS_URL",
    default=DEFAULT_REDIS_URL,
    show_default=True,
    help=_URL_HELP,
)
@click.pass_context
def flags(ctx: click.Context, redis_url: str) -> None:
    """Feature flags in Redis (targeting key: the stream id)."""
    ctx.meta[_URL_META] = redis_url


@flags.command(name="list")
@_redis_option
@click.pass_context
def list_flags(ctx: click.Context, redis_url: str | None) -> None:
    """One line per flag: name, on/off, strategy, targeting, variants, version."""
    loaded = _run_redis(_store(ctx, redis_url).load)
    for name in sorted(loaded):
        click.echo(describe(loaded[name]))


@flags.command(name="get")
@click.argument("name")
@_redis_option
@click.pass_context
def get_flag(ctx: click.Context, name: str, redis_url: str | None) -> None:
    """Print the stored definition of NAME as JSON."""
    loaded = _run_redis(_store(ctx, redis_url).load)
    if name not in loaded:
        _fail(f"no flag {name!r}")
    click.echo(json.dumps(loaded[name].to_dict(), indent=2))


@flags.command(name="set")
@click.argument("name")
@click.option("--strategy", required=True, type=click.Choice([s.value for s in Strategy]))
@click.option("--disabled", is_flag=True, help="Store the flag switched off for everyone.")
@click.option("--percentage", type=float, help="percentage: share of keys, 0..100.")
@click.option("--users", help="users: comma-separated targeting keys.")
@click.option(
    "--attribute",
    "attributes",
    multiple=True,
    metavar="KEY=VALUE",
    help="attributes: a constraint (repeatable; all must match).",
)
@click.option("--start", help="gradual: ISO 8601 time of 0%.")
@click.option("--end", help="gradual: ISO 8601 time of 100%.")
@click.option(
    "--variant",
    "variants",
    multiple=True,
    metavar="NAME:WEIGHT",
    help="A/B variant (repeatable; weights sum to 100).",
)
@_redis_option
@click.pass_context
def set_flag(
    ctx: click.Context,
    name: str,
    strategy: str,
    disabled: bool,
    percentage: float | None,
    users: str | None,
    attributes: tuple[str, ...],
    start: str | None,
    end: str | None,
    variants: tuple[str, ...],
    redis_url: str | None,
) -> None:
    """Create or replace flag NAME (its version is bumped)."""
    try:
        flag = FlagDefinition(
            name=name,
            strategy=Strategy(strategy),
            enabled=not disabled,
            percentage=percentage,
            users=tuple(u.strip() for u in users.split(",") if u.strip()) if users else (),
            attributes=tuple(sorted(parse_pairs(attributes).items())),
            start=parse_time(start, "--start") if start else None,
            end=parse_time(end, "--end") if end else None,
            variants=tuple(parse_variants(variants)),
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    stored = _run_redis(lambda: _store(ctx, redis_url).put(flag))
    click.echo(f"set {describe(stored)}")


@flags.command(name="delete")
@click.argument("name")
@_redis_option
@click.pass_context
def delete_flag(ctx: click.Context, name: str, redis_url: str | None) -> None:
    """Delete flag NAME (exit status 1 when it did not exist)."""
    if not _run_redis(lambda: _store(ctx, redis_url).delete(name)):
        _fail(f"no flag {name!r}")
    click.echo(f"deleted {name}")


@flags.command(name="eval")
@click.argument("name")
@click.option("--key", "keys", multiple=True, help="Targeting key (stream id); repeatable.")
@click.option("--keys-file", type=click.File("r"), help="File with one key per line ('-': stdin).")
@click.option(
    "--attribute",
    "attributes",
    multiple=True,
    metavar="KEY=VALUE",
    help="Context attribute (repeatable).",
)
@click.option("--at", "at", help="Evaluate at this ISO 8601 time instead of now (gradual).")
@_redis_option
@click.pass_context
def eval_flag(
    ctx: click.Context,
    name: str,
    keys: tuple[str, ...],
    keys_file: Any,
    attributes: tuple[str, ...],
    at: str | None,
    redis_url: str | None,
) -> None:
    """Print one line per key: true / false, or the variant name when the flag has variants."""
    from gpu_tda.flags.client import utc_now
    from gpu_tda.flags.evaluate import evaluate

    if not keys and keys_file is None:
        raise click.UsageError("give --key K (repeatable) or --keys-file FILE")
    try:
        context = parse_pairs(attributes)
        now = parse_time(at, "--at") if at else utc_now()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    flag = _run_redis(_store(ctx, redis_url).load).get(name)
    if flag is None:
        click.echo(f"gpu-tda flags: no flag {name!r}: every key gets the default (false)", err=True)
    for key in _all_keys(keys, keys_file):
        result = evaluate(flag, key, context, now=now)
        click.echo(result.variant if result.variant is not None else str(result.enabled).lower())


def _all_keys(keys: Iterable[str], keys_file: Any) -> Iterable[str]:
    yield from keys
    if keys_file is not None:
        for line in keys_file:
            if line.strip():
                yield line.strip()


def parse_pairs(items: Iterable[str]) -> dict[str, str]:
    """``("k=v", ...)`` -> ``{"k": "v"}``; ``ValueError`` on an item without ``=``."""
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE, got {item!r}")
        pairs[key] = value
    return pairs


def parse_variants(items: Iterable[str]) -> Iterable[Variant]:
    """``("a:50", "b:50")`` -> variants; ``ValueError`` on a malformed item."""
    for item in items:
        name, sep, weight = item.rpartition(":")
        if not sep or not name or not weight.strip().isdigit():
            raise ValueError(f"expected NAME:WEIGHT with an integer weight, got {item!r}")
        yield Variant(name=name, weight=int(weight))


def describe(flag: FlagDefinition) -> str:
    """A one-line summary of ``flag`` for ``list`` and ``set``."""
    s = flag.strategy
    if s is Strategy.PERCENTAGE:
        target = f"{flag.percentage:g}%"
    elif s is Strategy.USER_LIST:
        target = ",".join(flag.users)
    elif s is Strategy.ATTRIBUTE_MATCH:
        target = " ".join(f"{k}={v}" for k, v in flag.attributes)
    elif s is Strategy.GRADUAL:
        target = f"{_iso(flag.start)} -> {_iso(flag.end)}"
    else:
        target = ""
    parts = [flag.name, "on" if flag.enabled else "off", flag.strategy.value]
    if target:
        parts.append(target)
    if flag.variants:
        parts.append("variants=" + ",".join(f"{v.name}:{v.weight}" for v in flag.variants))
    parts.append(f"v{flag.version}")
    return "  ".join(parts)


def _iso(t: datetime | None) -> str:
    return t.isoformat() if t is not None else "?"
