"""Pure flag evaluation: a definition, a targeting key and a clock in, a decision out.

Consistent hashing: ``bucket(flag, key)`` is the first 8 bytes of BLAKE2b over
``"rollout\\0<flag>\\0<key>"`` modulo 10,000, the same in every process, on every machine and
after restarts (never Python's salted ``hash()``). A key is in a P% rollout when its bucket
is below ``round(P * 100)``, so raising P only ever adds keys. GRADUAL uses the same bucket
with a percentage that rises linearly from 0 at ``start`` to 100 at ``end``. Variants use a
second, independent bucket (salt ``"variant"``) over the cumulative weights.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from gpu_tda.flags.model import FlagDefinition, Strategy

BUCKETS = 10_000


class Reason(StrEnum):
    """Why an evaluation came out the way it did."""

    MISSING = "missing"  # no such flag: the default
    DISABLED = "disabled"  # the flag's kill switch is off
    ALL = "all"  # strategy all: on for everyone
    MATCH = "match"  # the key / attributes / bucket is targeted
    NO_MATCH = "no-match"  # the key / attributes / bucket is not targeted
    ERROR = "error"  # evaluation failed (logged): the default


class Evaluation(NamedTuple):
    """``(enabled, variant, reason)``: variant is set only when enabled and the flag has any."""

    enabled: bool
    variant: str | None
    reason: Reason


def bucket(flag: str, key: str, salt: str = "rollout") -> int:
    """The stable bucket in ``[0, 10000)`` of ``key`` for ``flag``."""
    digest = hashlib.blake2b(f"{salt}\0{flag}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def gradual_percentage(start: datetime, end: datetime, now: datetime) -> float:
    """0 at or before ``start``, 100 at or after ``end``, linear in between."""
    if now <= start:
        return 0.0
    if now >= end:
        return 100.0
    return 100.0 * (now - start).total_seconds() / (end - start).total_seconds()


def in_rollout(flag: str, key: str, percentage: float) -> bool:
    """Whether ``key`` falls in the first ``percentage`` percent of buckets."""
    return bucket(flag, key) < round(percentage * (BUCKETS // 100))


def choose_variant(flag: FlagDefinition, key: str) -> str | None:
    """The variant for ``key`` (None when the flag has no variants)."""
    if not flag.variants:
        return None
    b = bucket(flag.name, key, salt="variant")
    edge = 0
    for v in flag.variants:
        edge += v.weight * (BUCKETS // 100)
        if b < edge:
            return v.name
    return flag.variants[-1].name  # unreachable while weights sum to 100


def attribute_text(value: Any) -> str:
    """How a context attribute is compared to a flag's ``KEY=VALUE`` text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def matches(flag: FlagDefinition, key: str, attributes: Mapping[str, Any], now: datetime) -> bool:
    """Whether the (enabled) flag's strategy targets this key / these attributes now."""
    s = flag.strategy
    if s is Strategy.ALL_USERS:
        return True
    if s is Strategy.PERCENTAGE:
        assert flag.percentage is not None
        return in_rollout(flag.name, key, flag.percentage)
    if s is Strategy.USER_LIST:
        return key in flag.users
    if s is Strategy.ATTRIBUTE_MATCH:
        return all(
            name in attributes and attribute_text(attributes[name]) == expected
            for name, expected in flag.attributes
        )
    assert flag.start is not None and flag.end is not None
    return in_rollout(flag.name, key, gradual_percentage(flag.start, flag.end, now))


def evaluate(
    flag: FlagDefinition | None,
    key: str,
    attributes: Mapping[str, Any] | None = None,
    *,
    now: datetime,
) -> Evaluation:
    """Decide ``flag`` for targeting ``key`` at time ``now`` (aware datetime)."""
    if flag is None:
        return Evaluation(False, None, Reason.MISSING)
    if not flag.enabled:
        return Evaluation(False, None, Reason.DISABLED)
    if not matches(flag, key, attributes or {}, now):
        return Evaluation(False, None, Reason.NO_MATCH)
    reason = Reason.ALL if flag.strategy is Strategy.ALL_USERS else Reason.MATCH
    return Evaluation(True, choose_variant(flag, key), reason)
