"""The native API the worker calls per window: FlagClient over a live store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gpu_tda.flags import GPU_COMPUTE, SHADOW_COMPARE, FlagClient
from gpu_tda.flags.evaluate import Reason
from gpu_tda.flags.model import FlagDefinition, Strategy, Variant
from gpu_tda.flags.store import FlagStore

pytestmark = pytest.mark.redis
START = datetime(2026, 3, 1, tzinfo=UTC)
KEYS = [f"stream-{i}" for i in range(4000)]


class Clock:
    """An injectable clock a test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_worker_flag_names() -> None:
    assert (GPU_COMPUTE, SHADOW_COMPARE) == ("gpu-compute", "shadow-compare")


def test_gradual_rollout_follows_the_clock(flags_url: str) -> None:
    clock = Clock(START - timedelta(minutes=1))
    with FlagStore(flags_url) as store:
        store.put(
            FlagDefinition(
                GPU_COMPUTE, Strategy.GRADUAL, start=START, end=START + timedelta(hours=2)
            )
        )
        flags = FlagClient(store, clock=clock)

        def share() -> float:
            return sum(flags.is_enabled(GPU_COMPUTE, k) for k in KEYS) / len(KEYS)

        assert share() == 0
        clock.now = START
        assert share() == 0
        clock.now = START + timedelta(hours=1)
        assert abs(share() - 0.5) <= 0.03
        clock.now = START + timedelta(hours=2)
        assert share() == 1


def test_every_strategy_through_the_store(flags_url: str) -> None:
    with FlagStore(flags_url) as store:
        store.put(FlagDefinition("all"))
        store.put(FlagDefinition("pct", Strategy.PERCENTAGE, percentage=30))
        store.put(FlagDefinition("users", Strategy.USER_LIST, users=("s-1",)))
        store.put(FlagDefinition("attrs", Strategy.ATTRIBUTE_MATCH, attributes=(("dim", "3"),)))
        store.put(FlagDefinition("off", enabled=False))
        store.put(FlagDefinition("ab", variants=(Variant("a", 25), Variant("b", 75))))
        flags = FlagClient(store)
        assert flags.is_enabled("all", "anything")
        assert abs(sum(flags.is_enabled("pct", k) for k in KEYS) / len(KEYS) - 0.3) <= 0.03
        assert flags.is_enabled("users", "s-1") and not flags.is_enabled("users", "s-2")
        assert flags.is_enabled("attrs", "k", {"dim": 3})
        assert not flags.is_enabled("attrs", "k", {"dim": 2})
        assert not flags.is_enabled("off", "s-1")
        assert flags.evaluate("off", "s-1").reason is Reason.DISABLED
        share_a = sum(flags.variant("ab", k) == "a" for k in KEYS) / len(KEYS)
        assert abs(share_a - 0.25) <= 0.03


def test_missing_flag_gives_the_default(flags_url: str) -> None:
    with FlagClient.from_url(flags_url) as flags:
        assert flags.is_enabled("never-set", "s-1") is False
        assert flags.is_enabled("never-set", "s-1", default=True) is True
        assert flags.variant("never-set", "s-1") is None
        assert flags.evaluate("never-set", "s-1") == (False, None, Reason.MISSING)


def test_a_bad_clock_is_logged_not_raised(flags_url: str) -> None:
    def broken() -> datetime:
        raise RuntimeError("clock broke")

    with FlagStore(flags_url) as store:
        store.put(FlagDefinition("g", Strategy.GRADUAL, start=START, end=START + timedelta(1)))
        flags = FlagClient(store, clock=broken)
        assert flags.evaluate("g", "s-1") == (False, None, Reason.ERROR)
        assert flags.is_enabled("g", "s-1", default=True) is True
