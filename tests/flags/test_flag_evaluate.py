"""Pure evaluation: strategies, consistent hashing, rollout sizes, gradual, variants."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from gpu_tda.flags.evaluate import (
    BUCKETS,
    Reason,
    bucket,
    evaluate,
    gradual_percentage,
    in_rollout,
)
from gpu_tda.flags.model import FlagDefinition, Strategy, Variant

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
KEYS = [f"stream-{i}" for i in range(10_000)]


def share_on(flag: FlagDefinition, keys: list[str] = KEYS, now: datetime = NOW) -> float:
    return sum(evaluate(flag, k, now=now).enabled for k in keys) / len(keys)


def test_missing_flag_is_off() -> None:
    assert evaluate(None, "s-1", now=NOW) == (False, None, Reason.MISSING)


def test_all_users() -> None:
    flag = FlagDefinition("f", Strategy.ALL_USERS)
    assert all(evaluate(flag, k, now=NOW) == (True, None, Reason.ALL) for k in KEYS[:100])


@pytest.mark.parametrize(
    "flag",
    [
        FlagDefinition("f", Strategy.ALL_USERS, enabled=False),
        FlagDefinition("f", Strategy.PERCENTAGE, percentage=100, enabled=False),
        FlagDefinition("f", Strategy.USER_LIST, users=("s-1",), enabled=False),
        FlagDefinition("f", Strategy.ATTRIBUTE_MATCH, attributes=(("a", "1"),), enabled=False),
        FlagDefinition("f", variants=(Variant("x", 100),), enabled=False),
    ],
)
def test_disabled_switch_wins_over_every_strategy(flag: FlagDefinition) -> None:
    assert evaluate(flag, "s-1", {"a": "1"}, now=NOW) == (False, None, Reason.DISABLED)


def test_user_list() -> None:
    flag = FlagDefinition("f", Strategy.USER_LIST, users=("s-1", "s-3"))
    assert [evaluate(flag, k, now=NOW).enabled for k in ("s-1", "s-2", "s-3", "")] == [
        True,
        False,
        True,
        False,
    ]
    assert evaluate(flag, "s-2", now=NOW).reason is Reason.NO_MATCH


def test_attribute_match_needs_every_pair() -> None:
    flag = FlagDefinition(
        "f", Strategy.ATTRIBUTE_MATCH, attributes=(("region", "eu"), ("gpu", "true"))
    )
    assert evaluate(flag, "k", {"region": "eu", "gpu": True}, now=NOW).enabled
    assert evaluate(flag, "k", {"region": "eu", "gpu": "true", "other": 1}, now=NOW).enabled
    assert not evaluate(flag, "k", {"region": "us", "gpu": True}, now=NOW).enabled
    assert not evaluate(flag, "k", {"region": "eu"}, now=NOW).enabled
    assert not evaluate(flag, "k", None, now=NOW).enabled
    numeric = FlagDefinition("g", Strategy.ATTRIBUTE_MATCH, attributes=(("dim", "3"),))
    assert evaluate(numeric, "k", {"dim": 3}, now=NOW).enabled


def test_thirty_percent_rollout_within_three_points() -> None:
    flag = FlagDefinition("gpu-compute", Strategy.PERCENTAGE, percentage=30)
    assert abs(share_on(flag) - 0.30) <= 0.03


@pytest.mark.parametrize("pct", [0, 100])
def test_percentage_extremes(pct: float) -> None:
    flag = FlagDefinition("f", Strategy.PERCENTAGE, percentage=pct)
    assert share_on(flag, KEYS[:2000]) == pct / 100


def test_raising_a_percentage_only_adds_keys() -> None:
    on = {}
    for pct in (10, 20, 35.5, 80):
        flag = FlagDefinition("f", Strategy.PERCENTAGE, percentage=pct)
        on[pct] = {k for k in KEYS if evaluate(flag, k, now=NOW).enabled}
    assert on[10] <= on[20] <= on[35.5] <= on[80]
    assert len(on[10]) < len(on[20]) < len(on[35.5]) < len(on[80])


def test_rollouts_of_different_flags_are_independent() -> None:
    a = {k for k in KEYS if in_rollout("flag-a", k, 50)}
    b = {k for k in KEYS if in_rollout("flag-b", k, 50)}
    assert abs(len(a & b) / len(KEYS) - 0.25) <= 0.03


def test_buckets_are_stable_known_values() -> None:
    # Regression values: changing the hash would re-shuffle every live rollout.
    assert [bucket("gpu-compute", k) for k in ("s-1", "s-2", "")] == [560, 2689, 5786]
    assert all(0 <= bucket("f", k) < BUCKETS for k in KEYS[:1000])


def test_gradual_percentage_is_linear_and_clamped() -> None:
    start, end = NOW, NOW + timedelta(hours=10)
    assert gradual_percentage(start, end, start - timedelta(days=1)) == 0
    assert gradual_percentage(start, end, start) == 0
    assert gradual_percentage(start, end, start + timedelta(hours=2.5)) == pytest.approx(25)
    assert gradual_percentage(start, end, end) == 100
    assert gradual_percentage(start, end, end + timedelta(days=1)) == 100


def test_gradual_rollout_at_start_middle_and_end() -> None:
    start = NOW
    flag = FlagDefinition("g", Strategy.GRADUAL, start=start, end=start + timedelta(hours=4))
    assert share_on(flag, now=start) == 0
    assert abs(share_on(flag, now=start + timedelta(hours=2)) - 0.5) <= 0.03
    assert share_on(flag, now=start + timedelta(hours=4)) == 1
    quarter = {k for k in KEYS if evaluate(flag, k, now=start + timedelta(hours=1)).enabled}
    half = {k for k in KEYS if evaluate(flag, k, now=start + timedelta(hours=2)).enabled}
    assert quarter < half  # a gradual rollout only adds keys as time passes


def test_variant_weights_are_respected() -> None:
    flag = FlagDefinition("ab", variants=(Variant("a", 20), Variant("b", 30), Variant("c", 50)))
    counts = Counter(evaluate(flag, k, now=NOW).variant for k in KEYS)
    assert set(counts) == {"a", "b", "c"}
    for name, weight in (("a", 20), ("b", 30), ("c", 50)):
        assert abs(counts[name] / len(KEYS) - weight / 100) <= 0.03


def test_variants_only_when_on_and_independent_of_the_rollout() -> None:
    flag = FlagDefinition(
        "ab", Strategy.PERCENTAGE, percentage=50, variants=(Variant("x", 50), Variant("y", 50))
    )
    results = [evaluate(flag, k, now=NOW) for k in KEYS]
    assert all((r.variant is None) == (not r.enabled) for r in results)
    on = [r.variant for r in results if r.enabled]
    # an independent hash: among rolled-out keys the split is still about 50/50
    assert abs(on.count("x") / len(on) - 0.5) <= 0.03


def test_zero_weight_variant_never_chosen() -> None:
    flag = FlagDefinition("ab", variants=(Variant("never", 0), Variant("always", 100)))
    assert {evaluate(flag, k, now=NOW).variant for k in KEYS[:2000]} == {"always"}


_CHILD = """
import json, sys
from datetime import datetime, UTC
from gpu_tda.flags.evaluate import evaluate
from gpu_tda.flags.model import parse_flag
flag = parse_flag(sys.argv[1])
now = datetime(2026, 6, 1, 12, tzinfo=UTC)
keys = [f"stream-{i}" for i in range(2000)]
print(json.dumps([list(evaluate(flag, k, now=now)[:2]) for k in keys]))
"""


def test_same_answers_in_another_process() -> None:
    flag = FlagDefinition(
        "sticky", Strategy.PERCENTAGE, percentage=40, variants=(Variant("a", 50), Variant("b", 50))
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # a different str hash() salt
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, flag.to_json()],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    here = [list(evaluate(flag, k, now=NOW)[:2]) for k in KEYS[:2000]]
    assert json.loads(out) == here
    assert any(on for on, _ in here) and not all(on for on, _ in here)
