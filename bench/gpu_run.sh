#!/usr/bin/env bash
# On the device machine: install the carried wheels, run bench/gpu_check.py with its results in
# $OUT (the JSON is rewritten after each section, so a run cut short keeps what it measured),
# then bench/stream_bench.py --quick --backend gpu (the worker end to end through the embedded
# broker, GPU_STREAM=0 skips it). Prepared here with `bash bench/gpu_wheels.sh`; the call is
#   run(command="bash bench/gpu_run.sh", carry=[".whl"], timeout_s=600)
# Arguments go to gpu_check.py; GPU_TDA_WHEELS names another wheel folder. Rehearse it here:
#   NUMBA_ENABLE_CUDASIM=1 GPU_STREAM=0 OUT=/tmp/gc bash bench/gpu_run.sh --quick
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/gpu-check}
mkdir -p "$out"
wheels=${GPU_TDA_WHEELS:-.whl}
site=$(mktemp -d)
python3 -m pip install -q --disable-pip-version-check --no-index --no-deps --no-compile \
    --no-cache-dir --target "$site" "$wheels"/*.whl \
    || { echo "gpu_run: no wheels in $wheels (bench/gpu_wheels.sh)" >&2; exit 3; }
export PYTHONPATH="$site"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv \
        | tee "$out/nvidia-smi.csv"
fi
# the NVVM numba compiles with must be one the driver loads (PTX of a newer CUDA is refused)
python3 -c "from numba.cuda.cudadrv import nvvm; print('nvvm', nvvm.NVVM().get_version())" \
    2>&1 | tail -1 | tee "$out/nvvm.txt"
python3 -m pip list --disable-pip-version-check 2>/dev/null \
    | grep -i -E '^(numpy|numba|numba-cuda|cupy[a-z0-9-]*|scipy|scikit-learn|ripser|giotto-ph) ' \
    | tee "$out/packages.txt"
timeout "${GPU_CHECK_TIMEOUT_S:-540}" python3 bench/gpu_check.py --out "$out" "$@"
checked=$?
# then the worker end to end with --backend gpu (skip: GPU_STREAM=0)
streamed=0
if [ "${GPU_STREAM:-1}" != 0 ]; then
    timeout "${GPU_STREAM_TIMEOUT_S:-240}" python3 bench/stream_bench.py --quick --backend gpu \
        --out "$out"
    streamed=$?
fi
exit $(( checked != 0 ? checked : streamed ))
