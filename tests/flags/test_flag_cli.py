"""``gpu-tda flags`` end to end against a real redis-server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gpu_tda.cli import main
from gpu_tda.flags.client import FlagClient
from gpu_tda.flags.evaluate import evaluate
from gpu_tda.flags.store import FlagStore

pytestmark = pytest.mark.redis
GPU_TDA = Path(sys.executable).with_name("gpu-tda")


@pytest.fixture
def cli(flags_url: str) -> Callable[..., Result]:
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True, input: str | None = None) -> Result:
        result = runner.invoke(
            main, ["flags", *args], env={"GPU_TDA_REDIS_URL": flags_url}, input=input
        )
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


def test_set_list_get_delete(cli, flags_url: str) -> None:
    assert (
        "set gpu-compute  on  percentage  30%  v1"
        in cli("set", "gpu-compute", "--strategy", "percentage", "--percentage", "30").output
    )
    cli("set", "gpu-compute", "--strategy", "percentage", "--percentage", "40")
    cli("set", "shadow-compare", "--strategy", "users", "--users", "s-1, s-2", "--disabled")
    cli("set", "ab", "--strategy", "all", "--variant", "cpu:40", "--variant", "gpu:60")
    cli(
        "set", "eu", "--strategy", "attributes", "--attribute", "region=eu", "--attribute", "tier=1"
    )
    cli(
        "set",
        "ramp",
        "--strategy",
        "gradual",
        "--start",
        "2026-01-01T00:00:00Z",
        "--end",
        "2026-01-02T00:00:00Z",
    )
    lines = cli("list").output.splitlines()
    assert lines == [
        "ab  on  all  variants=cpu:40,gpu:60  v1",
        "eu  on  attributes  region=eu tier=1  v1",
        "gpu-compute  on  percentage  40%  v2",
        "ramp  on  gradual  2026-01-01T00:00:00+00:00 -> 2026-01-02T00:00:00+00:00  v1",
        "shadow-compare  off  users  s-1,s-2  v1",
    ]
    doc = json.loads(cli("get", "shadow-compare").output)
    assert doc["schema"] == "gpu-tda.flag/1" and doc["users"] == ["s-1", "s-2"]
    assert doc["enabled"] is False
    assert FlagStore(flags_url).load()["ab"].to_dict() == json.loads(cli("get", "ab").output)
    assert cli("delete", "ab").output.strip() == "deleted ab"
    missing = cli("delete", "ab", ok=False)
    assert missing.exit_code == 1 and "no flag 'ab'" in missing.output
    assert cli("get", "ab", ok=False).exit_code == 1


def test_eval_prints_one_line_per_key(cli, flags_url: str, tmp_path: Path) -> None:
    cli("set", "gpu-compute", "--strategy", "percentage", "--percentage", "30")
    keys = [f"s-{i}" for i in range(300)]
    path = tmp_path / "keys.txt"
    path.write_text("\n".join(keys) + "\n\n")
    out = cli("eval", "gpu-compute", "--keys-file", str(path)).output.splitlines()
    flag = FlagStore(flags_url).load()["gpu-compute"]
    from gpu_tda.flags.client import utc_now

    assert out == [str(evaluate(flag, k, now=utc_now()).enabled).lower() for k in keys]
    assert set(out) == {"true", "false"}
    stdin = cli("eval", "gpu-compute", "--keys-file", "-", input="s-1\ns-2\n").output
    assert stdin.splitlines() == out[1:3]
    assert (
        cli("eval", "gpu-compute", "--key", "s-1", "--key", "s-2").output.splitlines() == (out[1:3])
    )


def test_eval_variants_attributes_gradual_and_missing(cli) -> None:
    cli("set", "ab", "--strategy", "all", "--variant", "cpu:50", "--variant", "gpu:50")
    out = cli("eval", "ab", *[a for i in range(50) for a in ("--key", f"s-{i}")]).output
    assert set(out.split()) == {"cpu", "gpu"}
    cli(
        "set", "ab-eu", "--strategy", "attributes", "--attribute", "region=eu", "--variant", "x:100"
    )
    assert cli("eval", "ab-eu", "--key", "k", "--attribute", "region=eu").output == "x\n"
    assert cli("eval", "ab-eu", "--key", "k", "--attribute", "region=us").output == "false\n"
    cli(
        "set",
        "ramp",
        "--strategy",
        "gradual",
        "--start",
        "2026-01-01T00:00:00",
        "--end",
        "2026-01-01T10:00:00",
    )
    assert cli("eval", "ramp", "--key", "k", "--at", "2025-12-31T00:00:00").output == "false\n"
    assert cli("eval", "ramp", "--key", "k", "--at", "2026-01-01T10:00:00").output == "true\n"
    missing = cli("eval", "nope", "--key", "a", "--key", "b")
    assert missing.stdout == "false\nfalse\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "f", "--strategy", "percentage"], "needs percentage"),
        (["set", "f", "--strategy", "all", "--percentage", "5"], "does not apply"),
        (["set", "f", "--strategy", "percentage", "--percentage", "150"], "[0, 100]"),
        (["set", "f", "--strategy", "all", "--variant", "a:60", "--variant", "b:30"], "sum"),
        (["set", "f", "--strategy", "all", "--variant", "a"], "NAME:WEIGHT"),
        (["set", "f", "--strategy", "attributes", "--attribute", "region"], "KEY=VALUE"),
        (["set", "f", "--strategy", "gradual", "--start", "x", "--end", "y"], "ISO 8601"),
        (["set", "f", "--strategy", "sometimes"], "Invalid value"),
        (["set", "bad name", "--strategy", "all"], "invalid flag name"),
        (["eval", "f"], "--key"),
    ],
)
def test_bad_usage_is_rejected_clearly(cli, args: list[str], message: str) -> None:
    result = cli(*args, ok=False)
    assert result.exit_code == 2 and message in result.output


def test_unreachable_redis_is_a_clear_error() -> None:
    result = CliRunner().invoke(main, ["flags", "--redis-url", "redis://127.0.0.1:1/0", "list"])
    assert result.exit_code == 1 and "cannot reach Redis" in result.output


def test_installed_command_reaches_a_running_store_within_one_second(
    flags_url: str, wait_until: Callable[..., float | None]
) -> None:
    if not GPU_TDA.exists():
        pytest.skip("gpu-tda is not installed in this venv (pip install -e . --no-deps)")
    env = {**os.environ, "GPU_TDA_REDIS_URL": "redis://127.0.0.1:1/0"}

    def run(*args: str) -> str:
        done = subprocess.run(
            [str(GPU_TDA), "flags", *args, "--redis-url", flags_url],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    with FlagClient.from_url(flags_url, refresh_interval=60) as worker:
        assert not worker.is_enabled("gpu-compute", "s-7")
        run("set", "gpu-compute", "--strategy", "users", "--users", "s-7")
        assert wait_until(lambda: worker.is_enabled("gpu-compute", "s-7"), 1.0) is not None
        assert run("eval", "gpu-compute", "--key", "s-7", "--key", "s-8") == "true\nfalse\n"
        run("set", "gpu-compute", "--strategy", "users", "--users", "s-7", "--disabled")
        assert wait_until(lambda: not worker.is_enabled("gpu-compute", "s-7"), 1.0) is not None


def test_importing_the_cli_loads_neither_redis_nor_prometheus() -> None:
    code = (
        "import sys, gpu_tda.cli, gpu_tda.flags; "
        "print(sorted(m for m in ('redis', 'prometheus_client', 'openfeature') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
