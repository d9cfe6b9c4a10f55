#!/usr/bin/env bash
# Here, before a device call: the peers bench/gpu_check.py times (ripser.py, giotto-ph) and the
# worker's dependencies the image lacks (for bench/stream_bench.py), as wheels for the device
# image's Python (3.12, x86-64 manylinux), into .whl/ (git-ignored, never committed). The image
# has numpy, scipy, scikit-learn, numba, numba-cuda, CuPy, click and prometheus-client, and
# nothing can be downloaded there. The versions are the ones bench/results/persistence.md measured.
# numpy is carried too: the image's numpy 2.5.2 dropped np.row_stack, which its numba-cuda 0.30.4
# still names, so every CUDA kernel failed to compile there (2026-11-28); 2.4.6 is what CI runs.
# GPU_TDA_WHEELS: another folder; GPU_PYTHON_VERSION: another Python (tests use their own).
set -euo pipefail
cd "$(dirname "$0")/.."
wheels=${GPU_TDA_WHEELS:-.whl}
python3 -m pip download --disable-pip-version-check -q --no-deps --only-binary=:all: \
    --python-version "${GPU_PYTHON_VERSION:-3.12}" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$wheels" ripser==0.6.15 giotto-ph==0.2.4 numpy==2.4.6 \
    aiokafka==0.14.0 async-timeout==5.0.1 redis==8.1.0 orjson==3.13.0 aiobreaker==1.2.0 \
    openfeature-sdk==0.10.0
ls -l "$wheels"
