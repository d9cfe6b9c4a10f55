"""What a feature flag *is*: frozen definitions and their versioned JSON schema.

A definition is stored in Redis as one JSON object (schema ``gpu-tda.flag/1``)::

    {"schema": "gpu-tda.flag/1",
     "name": "gpu-compute",          # [A-Za-z0-9][A-Za-z0-9._-]{0,127}
     "enabled": true,                # false: off for everyone (the kill switch)
     "strategy": "percentage",       # all | percentage | users | attributes | gradual
     "percentage": 30.0,             # percentage only: 0..100, resolution 0.01
     "users": [],                    # users only: targeting keys that get the flag
     "attributes": {},               # attributes only: KEY -> VALUE, all must match
     "start": null, "end": null,     # gradual only: ISO 8601, 0% at start -> 100% at end
     "variants": [{"name": "a", "weight": 50}, {"name": "b", "weight": 50}],  # or []
     "version": 3}                   # revision, bumped by the store on every write

Parsing is strict: unknown keys, wrong types, or a field that does not apply to the chosen
strategy raise ``ValueError`` naming the problem. Times without a UTC offset are read as UTC.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

SCHEMA = "gpu-tda.flag/1"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_FIELDS = frozenset(
    {
        "schema",
        "name",
        "enabled",
        "strategy",
        "percentage",
        "users",
        "attributes",
        "start",
        "end",
        "variants",
        "version",
    }
)


class Strategy(StrEnum):
    """Who a flag is on for (the seed's rollout strategies)."""

    ALL_USERS = "all"
    PERCENTAGE = "percentage"
    USER_LIST = "users"
    ATTRIBUTE_MATCH = "attributes"
    GRADUAL = "gradual"


@dataclass(frozen=True)
class Variant:
    """One arm of an A/B test: a name and an integer weight in percent."""

    name: str
    weight: int


@dataclass(frozen=True)
class FlagDefinition:
    """One flag, validated on construction (``ValueError`` when inconsistent)."""

    name: str
    strategy: Strategy = Strategy.ALL_USERS
    enabled: bool = True
    percentage: float | None = None
    users: tuple[str, ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    variants: tuple[Variant, ...] = field(default=())
    version: int = 0

    def __post_init__(self) -> None:
        _check_name(self.name)
        strategy = Strategy(self.strategy)
        object.__setattr__(self, "strategy", strategy)
        _check_type("enabled", self.enabled, bool)
        _check_type("version", self.version, int)
        if self.version < 0:
            raise ValueError(f"flag {self.name!r}: version must be >= 0, got {self.version}")
        _check_strategy_fields(self)
        _check_variants(self.name, self.variants)

    @property
    def attribute_map(self) -> dict[str, str]:
        """The attribute constraints as a dict."""
        return dict(self.attributes)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (schema ``gpu-tda.flag/1``)."""
        return {
            "schema": SCHEMA,
            "name": self.name,
            "enabled": self.enabled,
            "strategy": self.strategy.value,
            "percentage": self.percentage,
            "users": list(self.users),
            "attributes": dict(self.attributes),
            "start": _format_time(self.start),
            "end": _format_time(self.end),
            "variants": [{"name": v.name, "weight": v.weight} for v in self.variants],
            "version": self.version,
        }

    def to_json(self) -> str:
        """Compact JSON text, as stored in Redis."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)


def parse_flag(data: str | bytes | Mapping[str, Any]) -> FlagDefinition:
    """Parse JSON text (or an already-decoded object) into a ``FlagDefinition``.

    Raises ``ValueError`` with a clear message on anything that is not a valid
    ``gpu-tda.flag/1`` definition.
    """
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ValueError(f"flag definition is not valid JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise ValueError("flag definition must be a JSON object")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ValueError(f"flag definition has unknown field(s): {', '.join(unknown)}")
    if data.get("schema") != SCHEMA:
        raise ValueError(f"flag definition schema must be {SCHEMA!r}, got {data.get('schema')!r}")
    for required in ("name", "strategy"):
        if required not in data:
            raise ValueError(f"flag definition is missing {required!r}")
    name = data["name"]
    _check_name(name)
    try:
        strategy = Strategy(data["strategy"])
    except ValueError:
        raise ValueError(
            f"flag {name!r}: unknown strategy {data['strategy']!r} "
            f"(expected one of {', '.join(s.value for s in Strategy)})"
        ) from None
    percentage = data.get("percentage")
    if percentage is not None:
        if isinstance(percentage, bool) or not isinstance(percentage, (int, float)):
            raise ValueError(f"flag {name!r}: percentage must be a number")
        percentage = float(percentage)
    return FlagDefinition(
        name=name,
        strategy=strategy,
        enabled=data.get("enabled", True),
        percentage=percentage,
        users=tuple(_str_list(name, "users", data.get("users", []))),
        attributes=tuple(sorted(_str_map(name, data.get("attributes", {})).items())),
        start=parse_time(data["start"], f"flag {name!r}: start") if data.get("start") else None,
        end=parse_time(data["end"], f"flag {name!r}: end") if data.get("end") else None,
        variants=tuple(_variant_list(name, data.get("variants", []))),
        version=data.get("version", 0),
    )


def parse_time(text: Any, what: str = "time") -> datetime:
    """An ISO 8601 string -> an aware datetime (UTC assumed when no offset is given)."""
    if not isinstance(text, str):
        raise ValueError(f"{what} must be an ISO 8601 string, got {text!r}")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{what} is not ISO 8601: {text!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _format_time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"invalid flag name {name!r}: use 1-128 of letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )


def _check_type(what: str, value: Any, kind: type) -> None:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{what} must be {kind.__name__}, got {value!r}")


def _check_strategy_fields(flag: FlagDefinition) -> None:
    """Each strategy needs its own fields and accepts no other strategy's fields."""
    s, n = flag.strategy, flag.name
    given = {
        "percentage": flag.percentage is not None,
        "users": bool(flag.users),
        "attributes": bool(flag.attributes),
        "start/end": flag.start is not None or flag.end is not None,
    }
    needs = {
        Strategy.PERCENTAGE: "percentage",
        Strategy.USER_LIST: "users",
        Strategy.ATTRIBUTE_MATCH: "attributes",
        Strategy.GRADUAL: "start/end",
    }
    for what, present in given.items():
        if present and needs.get(s) != what:
            raise ValueError(f"flag {n!r}: {what} does not apply to strategy {s.value!r}")
    if s in needs and not given[needs[s]]:
        raise ValueError(f"flag {n!r}: strategy {s.value!r} needs {needs[s]}")
    if s is Strategy.PERCENTAGE:
        assert flag.percentage is not None
        if not 0.0 <= flag.percentage <= 100.0:
            raise ValueError(f"flag {n!r}: percentage must be in [0, 100], got {flag.percentage}")
    if s is Strategy.GRADUAL:
        if flag.start is None or flag.end is None:
            raise ValueError(f"flag {n!r}: strategy 'gradual' needs both start and end")
        for what, t in (("start", flag.start), ("end", flag.end)):
            if not isinstance(t, datetime) or t.tzinfo is None:
                raise ValueError(f"flag {n!r}: {what} must be a timezone-aware datetime")
        if not flag.start < flag.end:
            raise ValueError(f"flag {n!r}: start must be before end")
    if any(not isinstance(u, str) or not u for u in flag.users):
        raise ValueError(f"flag {n!r}: users must be non-empty strings")
    for key, value in flag.attributes:
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise ValueError(f"flag {n!r}: attributes must map non-empty names to strings")


def _check_variants(name: str, variants: tuple[Variant, ...]) -> None:
    if not variants:
        return
    seen: set[str] = set()
    for v in variants:
        if not isinstance(v.name, str) or not v.name or ":" in v.name or v.name in seen:
            raise ValueError(f"flag {name!r}: variant names must be unique, non-empty, no ':'")
        if v.name in ("true", "false"):
            raise ValueError(f"flag {name!r}: variant name {v.name!r} is reserved")
        _check_type(f"flag {name!r}: variant {v.name!r} weight", v.weight, int)
        if not 0 <= v.weight <= 100:
            raise ValueError(f"flag {name!r}: variant {v.name!r} weight must be in [0, 100]")
        seen.add(v.name)
    total = sum(v.weight for v in variants)
    if total != 100:
        raise ValueError(f"flag {name!r}: variant weights must sum to 100, got {total}")


def _str_list(name: str, what: str, value: Any) -> Iterable[str]:
    if not isinstance(value, list) or any(not isinstance(x, str) for x in value):
        raise ValueError(f"flag {name!r}: {what} must be a list of strings")
    return value


def _str_map(name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or any(not isinstance(v, str) for v in value.values()):
        raise ValueError(f"flag {name!r}: attributes must be an object of strings")
    return value


def _variant_list(name: str, value: Any) -> Iterable[Variant]:
    if not isinstance(value, list):
        raise ValueError(f"flag {name!r}: variants must be a list")
    for item in value:
        if not isinstance(item, dict) or set(item) != {"name", "weight"}:
            raise ValueError(f"flag {name!r}: each variant must be {{'name': .., 'weight': ..}}")
        yield Variant(name=item["name"], weight=item["weight"])
