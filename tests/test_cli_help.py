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
