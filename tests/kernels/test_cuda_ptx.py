"""Every CUDA kernel compiles for the H100 (sm_90) with the real CUDA target: no GPU needed.

The simulator runs kernels as Python, so it accepts code that numba-cuda's compiler rejects
(Python objects, unsupported numpy calls, types that do not unify). This compiles each kernel to
PTX with NVIDIA's NVVM, with the argument types the engine launches it with
(``tests/cuda_launches``), in a child process without ``NUMBA_ENABLE_CUDASIM``. It needs the
``ptx`` extra (numba-cuda, NVVM and NVRTC from PyPI; ``make test`` installs it) and skips
without it, unless ``GPU_TDA_REQUIRE_PTX=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cuda_launches import LAUNCHES

ROOT = Path(__file__).resolve().parents[2]
CC = (9, 0)
FLOAT_OP = re.compile(r"\b(?:fma|mad|sqrt|rsqrt|cvt|mul|add|sub|div)\.[a-z0-9.]*f(?:32|64)\b")
"""A PTX floating-point instruction with its rounding and type suffixes (e.g. add.rn.f64)."""


def compile_all() -> None:
    """(Child process.) Print a JSON report: the kernels gpu_tda defines, and per tabled
    kernel its floating-point instructions or its compile error; or why nothing compiles."""
    import importlib
    import importlib.util
    import pkgutil

    if importlib.util.find_spec("numba_cuda") is None:
        print(json.dumps({"unavailable": "numba-cuda is not installed (the 'ptx' extra)"}))
        return
    from numba import cuda
    from numba.cuda.dispatcher import CUDADispatcher

    def probe(x):  # pragma: no cover - compiled, never run
        x[0] = 1.0

    try:
        cuda.compile_ptx(probe, "void(float64[::1])", cc=CC)
    except Exception as exc:  # no NVVM / NVRTC: the toolchain, not our kernels
        print(json.dumps({"unavailable": f"NVVM cannot compile ({type(exc).__name__}: {exc})"}))
        return
    import gpu_tda.kernels

    defined = []
    for info in pkgutil.iter_modules(gpu_tda.kernels.__path__, "gpu_tda.kernels."):
        module = importlib.import_module(info.name)
        for attr, obj in vars(module).items():
            if (
                isinstance(obj, CUDADispatcher)
                and not obj.targetoptions.get("device")
                and obj.py_func.__module__ == info.name
            ):
                defined.append(f"{info.name}.{attr}")
    kernels = {}
    for name, signature in LAUNCHES.items():
        module_name, _, attr = name.rpartition(".")
        kernel = getattr(importlib.import_module(module_name), attr)
        try:
            ptx, _ = cuda.compile_ptx(kernel.py_func, signature, cc=CC)
            ops = sorted(set(re.findall(FLOAT_OP, ptx)))
            kernels[name] = {"float_ops": ops, "entry": ".entry" in ptx}
        except Exception as exc:
            kernels[name] = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps({"defined": defined, "kernels": kernels}))


@pytest.fixture(scope="module")
def report() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    code = "from tests.kernels.test_cuda_ptx import compile_all; compile_all()"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if "unavailable" in result:
        if os.environ.get("GPU_TDA_REQUIRE_PTX") == "1":
            pytest.fail(f"GPU_TDA_REQUIRE_PTX=1 but {result['unavailable']}")
        pytest.skip(result["unavailable"])
    return result


def test_every_kernel_is_in_the_launch_table(report):
    assert sorted(report["defined"]) == sorted(LAUNCHES)


@pytest.mark.parametrize("name", sorted(LAUNCHES))
def test_kernel_compiles_for_sm90(report, name):
    result = report["kernels"][name]
    assert "error" not in result, result.get("error")
    assert result["entry"]


def test_distances_round_each_operation_as_the_cpu_does(report):
    """The GPU's distances equal the CPU's bit for bit only if every float64 operation rounds
    on its own (no fused multiply-add), the square root is correctly rounded (no approximation)
    and the float32 result is rounded to nearest."""
    ops = report["kernels"]["gpu_tda.kernels.cuda_distances._distances_kernel"]["float_ops"]
    assert not [op for op in ops if op.startswith(("fma", "mad"))], ops
    assert [op for op in ops if "sqrt" in op] == ["sqrt.rn.f64"], ops
    assert "cvt.rn.f32.f64" in ops, ops
