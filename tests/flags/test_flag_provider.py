"""The OpenFeature provider: evaluation through the standard SDK client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from gpu_tda.flags.client import FlagClient, utc_now
from gpu_tda.flags.evaluate import evaluate
from gpu_tda.flags.model import FlagDefinition, Strategy, Variant
from gpu_tda.flags.provider import GpuTdaProvider
from gpu_tda.flags.store import FlagStore

pytestmark = pytest.mark.redis
DOMAIN = "gpu-tda-tests"


@pytest.fixture
def of_client(flags_url: str) -> Iterator[tuple[OpenFeatureClient, FlagStore]]:
    admin = FlagStore(flags_url)
    admin.put(FlagDefinition("gpu-compute", Strategy.PERCENTAGE, percentage=30))
    admin.put(FlagDefinition("ab", variants=(Variant("cpu", 50), Variant("gpu", 50))))
    admin.put(FlagDefinition("eu-only", Strategy.ATTRIBUTE_MATCH, attributes=(("region", "eu"),)))
    admin.put(FlagDefinition("dark", enabled=False))
    provider = GpuTdaProvider(FlagClient.from_url(flags_url))
    api.set_provider_and_wait(provider, DOMAIN)
    yield api.get_client(DOMAIN), admin
    api.clear_providers()
    assert not provider.client.store.running  # shutdown stopped the store it owns
    admin.stop()


def ctx(key: str | None, **attributes: str) -> EvaluationContext:
    return EvaluationContext(targeting_key=key, attributes=attributes)


def test_boolean_flag_by_stream_id(of_client) -> None:
    client, admin = of_client
    flag = admin.get("gpu-compute")
    keys = [f"s-{i}" for i in range(500)]
    got = [client.get_boolean_value("gpu-compute", False, ctx(k)) for k in keys]
    assert got == [evaluate(flag, k, now=utc_now()).enabled for k in keys]
    assert 0 < sum(got) < len(keys)
    details = client.get_boolean_details("gpu-compute", False, ctx(keys[got.index(True)]))
    assert details.value is True and details.reason == Reason.TARGETING_MATCH
    assert details.flag_metadata["version"] == 1


def test_string_variants(of_client) -> None:
    client, _ = of_client
    values = {client.get_string_value("ab", "control", ctx(f"s-{i}")) for i in range(200)}
    assert values == {"cpu", "gpu"}
    details = client.get_boolean_details("ab", False, ctx("s-1"))
    assert details.value is True and details.variant in {"cpu", "gpu"}


def test_attributes_and_disabled(of_client) -> None:
    client, _ = of_client
    assert client.get_boolean_value("eu-only", False, ctx("s-1", region="eu")) is True
    assert client.get_boolean_value("eu-only", False, ctx("s-1", region="us")) is False
    assert client.get_boolean_value("eu-only", False, ctx(None, region="eu")) is True
    details = client.get_boolean_details("dark", True, ctx("s-1"))
    assert details.value is False and details.reason == Reason.DISABLED


def test_errors_give_the_default(of_client) -> None:
    client, _ = of_client
    missing = client.get_boolean_details("nope", False, ctx("s-1"))
    assert missing.value is False and missing.error_code == ErrorCode.FLAG_NOT_FOUND
    assert client.get_boolean_value("nope", True, ctx("s-1")) is True
    no_key = client.get_boolean_details("gpu-compute", False, ctx(None))
    assert no_key.value is False and no_key.error_code == ErrorCode.TARGETING_KEY_MISSING
    no_variants = client.get_string_details("gpu-compute", "x", ctx("s-1"))
    assert no_variants.value == "x" and no_variants.error_code == ErrorCode.TYPE_MISMATCH
    assert client.get_integer_value("gpu-compute", 7, ctx("s-1")) == 7
