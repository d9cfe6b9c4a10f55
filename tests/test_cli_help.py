"""`gpu-tda --help` lists every command of the contract (the installed console script)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CONTRACT_COMMANDS = ("worker", "broker", "produce", "tail", "flags", "demo", "bench")


def test_help_lists_the_contract_commands():
    cli = Path(sys.executable).with_name("gpu-tda")
    result = subprocess.run([str(cli), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    listed = {
        line.split()[0]
        for line in result.stdout.split("Commands:", 1)[1].splitlines()
        if line.startswith("  ") and line.strip()
    }
    assert set(CONTRACT_COMMANDS) <= listed


def test_demo_paces_its_producer_unless_asked_for_full_speed(monkeypatch):
    """``--rate 0`` means as fast as possible in ``demo`` as in ``produce``; the demo's own
    default is a pace a small machine keeps up with."""
    from click.testing import CliRunner

    from gpu_tda.streaming import cli, demo

    rates = []
    monkeypatch.setattr(demo, "demo_main", lambda spec, *args: rates.append(spec.rate) or 0)
    for argv in ([], ["--rate", "0"], ["--rate", "500"]):
        result = CliRunner().invoke(cli.demo_command, argv)
        assert result.exit_code == 0, result.output
    assert rates == [2000.0, 0.0, 500.0]
