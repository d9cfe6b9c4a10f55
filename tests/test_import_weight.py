"""Importing the package or its kernels loads no service client and no GPU library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("aiokafka", "redis", "prometheus_client", "cupy", "torch")


@pytest.mark.parametrize("module", ["gpu_tda", "gpu_tda.kernels"])
def test_import_loads_no_heavy_modules(module):
    code = (
        f"import json, sys, {module}\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
