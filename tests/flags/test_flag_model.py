"""Flag definitions: construction, the gpu-tda.flag/1 JSON schema, strict parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from gpu_tda.flags.model import SCHEMA, FlagDefinition, Strategy, Variant, parse_flag, parse_time

T0 = datetime(2026, 1, 1, tzinfo=UTC)

EXAMPLES = [
    FlagDefinition("a", Strategy.ALL_USERS),
    FlagDefinition("b", Strategy.PERCENTAGE, percentage=12.5, enabled=False),
    FlagDefinition("c", Strategy.USER_LIST, users=("s-1", "s-2")),
    FlagDefinition("d", Strategy.ATTRIBUTE_MATCH, attributes=(("region", "eu"), ("tier", "1"))),
    FlagDefinition("e", Strategy.GRADUAL, start=T0, end=T0 + timedelta(hours=1)),
    FlagDefinition("f.x_y-1", variants=(Variant("cpu", 30), Variant("gpu", 70)), version=4),
]


@pytest.mark.parametrize("flag", EXAMPLES, ids=lambda f: f.name)
def test_json_round_trip(flag: FlagDefinition) -> None:
    text = flag.to_json()
    assert json.loads(text)["schema"] == SCHEMA
    assert parse_flag(text) == flag
    assert parse_flag(flag.to_dict()) == flag


def test_documented_example_parses() -> None:
    flag = parse_flag(
        '{"schema": "gpu-tda.flag/1", "name": "gpu-compute", "enabled": true,'
        ' "strategy": "percentage", "percentage": 30, "users": [], "attributes": {},'
        ' "start": null, "end": null,'
        ' "variants": [{"name": "a", "weight": 50}, {"name": "b", "weight": 50}], "version": 3}'
    )
    assert flag.strategy is Strategy.PERCENTAGE and flag.percentage == 30.0
    assert [v.name for v in flag.variants] == ["a", "b"] and flag.version == 3


def test_minimal_document_gets_defaults() -> None:
    flag = parse_flag({"schema": SCHEMA, "name": "x", "strategy": "all"})
    assert flag == FlagDefinition("x")


def test_naive_times_are_utc_and_offsets_kept() -> None:
    assert parse_time("2026-01-01T00:00:00") == T0
    assert parse_time("2026-01-01T00:00:00Z") == T0
    t = parse_time("2026-01-01T02:00:00+02:00")
    assert t == T0 and t.utcoffset() == timedelta(hours=2)
    assert t.tzinfo == timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"name": "x", "strategy": "all"}, "schema"),
        ({"schema": "gpu-tda.flag/2", "name": "x", "strategy": "all"}, "schema"),
        ({"schema": SCHEMA, "strategy": "all"}, "missing 'name'"),
        ({"schema": SCHEMA, "name": "x", "strategy": "all", "colour": 1}, "unknown field"),
        ({"schema": SCHEMA, "name": "x", "strategy": "some"}, "unknown strategy"),
        ({"schema": SCHEMA, "name": "bad name", "strategy": "all"}, "invalid flag name"),
        ({"schema": SCHEMA, "name": "x", "strategy": "percentage"}, "needs percentage"),
        ({"schema": SCHEMA, "name": "x", "strategy": "percentage", "percentage": 101}, "[0, 100]"),
        ({"schema": SCHEMA, "name": "x", "strategy": "percentage", "percentage": "5"}, "number"),
        ({"schema": SCHEMA, "name": "x", "strategy": "all", "percentage": 5}, "does not apply"),
        ({"schema": SCHEMA, "name": "x", "strategy": "users"}, "needs users"),
        ({"schema": SCHEMA, "name": "x", "strategy": "users", "users": "a,b"}, "list of strings"),
        (
            {"schema": SCHEMA, "name": "x", "strategy": "attributes", "attributes": {"k": 1}},
            "object of strings",
        ),
        (
            {"schema": SCHEMA, "name": "x", "strategy": "gradual", "start": "2026-01-01"},
            "both start and end",
        ),
        (
            {
                "schema": SCHEMA,
                "name": "x",
                "strategy": "gradual",
                "start": "2026-01-02",
                "end": "2026-01-01",
            },
            "before end",
        ),
        (
            {
                "schema": SCHEMA,
                "name": "x",
                "strategy": "gradual",
                "start": "soon",
                "end": "2026-01-01",
            },
            "ISO 8601",
        ),
        ({"schema": SCHEMA, "name": "x", "strategy": "all", "enabled": "yes"}, "enabled"),
        ({"schema": SCHEMA, "name": "x", "strategy": "all", "version": 1.5}, "version"),
        (
            {
                "schema": SCHEMA,
                "name": "x",
                "strategy": "all",
                "variants": [{"name": "a", "weight": 60}, {"name": "b", "weight": 30}],
            },
            "sum to 100",
        ),
        (
            {
                "schema": SCHEMA,
                "name": "x",
                "strategy": "all",
                "variants": [{"name": "a", "weight": 50}, {"name": "a", "weight": 50}],
            },
            "unique",
        ),
        (
            {
                "schema": SCHEMA,
                "name": "x",
                "strategy": "all",
                "variants": [{"name": "true", "weight": 100}],
            },
            "reserved",
        ),
        (
            {"schema": SCHEMA, "name": "x", "strategy": "all", "variants": [{"name": "a"}]},
            "variant",
        ),
    ],
)
def test_strict_parsing_rejects_with_a_clear_message(doc: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_flag(doc)


def test_bad_json_and_non_objects() -> None:
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_flag("{nope")
    with pytest.raises(ValueError, match="JSON object"):
        parse_flag("[1, 2]")


def test_definitions_are_frozen() -> None:
    flag = FlagDefinition("x")
    with pytest.raises(AttributeError):
        flag.enabled = False  # type: ignore[misc]
