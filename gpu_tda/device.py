"""The one place that knows about GPUs: lazy CuPy / numba.cuda imports and the CUDA simulator.

Nothing here imports a GPU package at module import time. ``NUMBA_ENABLE_CUDASIM=1`` makes
numba.cuda run kernels on the CPU; then numpy stands in for CuPy and the "gpu" backend is usable
(slowly) so CI can exercise the GPU code path on small inputs. Every other module reaches CuPy
and numba.cuda through the functions below.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from gpu_tda.exceptions import GpuTdaError


class DeviceError(GpuTdaError, RuntimeError):
    """A device call failed (driver error, launch failure, or an injected test failure)."""


class DeviceOutOfMemoryError(DeviceError, MemoryError):
    """The device ran out of memory; the caller may retry with a smaller batch."""


@dataclasses.dataclass(frozen=True)
class DeviceMemory:
    """A snapshot of device memory in bytes; None where this process cannot know it.

    ``pool_used``/``pool_total``: CuPy's memory pool (bytes in live arrays / held from the
    driver). ``free``/``total``: the driver's view of the whole device. ``nvml_used``: NVML's
    count for the device (all processes), when pynvml is importable.
    """

    pool_used: int
    pool_total: int
    free: int | None
    total: int | None
    nvml_used: int | None


def simulator_enabled() -> bool:
    """True when numba's CUDA simulator is switched on for this process."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


@functools.cache
def gpu_unavailable_reason() -> str | None:
    """Why the GPU backend cannot run here, or None when it can. Probed once per process."""
    try:
        from numba import cuda
    except Exception as exc:  # numba without its CUDA target, broken install
        return f"numba.cuda cannot be imported ({exc})"
    if simulator_enabled():
        return None
    try:
        if not cuda.is_available():
            return "no CUDA device or driver found (numba.cuda.is_available() is False)"
    except Exception as exc:
        return f"CUDA driver probe failed ({exc})"
    try:
        import cupy  # noqa: F401
    except Exception as exc:
        return f"CuPy cannot be imported ({exc}); install the 'gpu' extra"
    return _probe_kernel(cuda)


def _probe_kernel(cuda: ModuleType) -> str | None:
    """None when numba.cuda compiles and runs a one-thread kernel here, else why not.

    A device and a driver are not enough: numba-cuda 0.30 fails every compile under numpy 2.5
    (it names the removed ``np.row_stack``), and an NVVM newer than the driver emits PTX the
    driver refuses. Without this probe the engine would fall back to the CPU on every batch.
    """
    try:

        @cuda.jit
        def probe(out):
            out[0] = 7

        out = cuda.device_array(1, dtype=np.int32)
        probe[1, 1](out)
        wrote = int(out.copy_to_host()[0])
    except Exception as exc:
        return f"numba.cuda cannot compile or run a kernel here ({type(exc).__name__}: {exc})"
    if wrote != 7:
        return f"a probe kernel ran but wrote {wrote}, not 7"
    return None


def array_module() -> ModuleType:
    """The array library for device arrays: CuPy on a real GPU, numpy under the simulator."""
    if simulator_enabled():
        return np
    import cupy

    return cupy


def numba_cuda() -> ModuleType:
    """numba's CUDA target (the simulator when NUMBA_ENABLE_CUDASIM is set)."""
    from numba import cuda

    if simulator_enabled():
        _serialize_simulated_kernels()
    return cuda


@functools.cache
def _serialize_simulated_kernels() -> None:
    """Make a simulated kernel launched while another runs (in another thread: the worker
    scatters points into its device rings while it computes) wait for it: the simulator runs
    one kernel at a time per process, and otherwise fails the second launch (numba's own
    target) or runs it as a device function of the first (numba-cuda's)."""
    from numba.cuda.simulator import kernel

    launch = kernel.FakeCUDAKernel.__call__
    lock = threading.Lock()

    def one_at_a_time(self: Any, *args: Any) -> Any:
        if self._device:  # a device function, called from inside the running kernel
            return launch(self, *args)
        with lock:
            return launch(self, *args)

    kernel.FakeCUDAKernel.__call__ = one_at_a_time


class SideStream:
    """A non-blocking device stream, for work queued beside the compute thread's batches.

    The worker's ring buffers (appends and gathers on the event loop, while the compute thread
    runs batches on the default stream) get a stream of their own, so their copies and kernels
    never queue behind a batch's kernels, and no implicit synchronization with the default
    stream (a launch on older numba-cuda, a synchronous copy) can hold the event loop up. Work
    on it is ordered only with itself: whoever reads what it wrote from another stream first
    ``wait_for``s an event ``record``ed after the write (on the device: no host waits). Arrays
    allocated inside ``with stream:`` come from CuPy's pool for this stream, which reuses their
    memory only on this stream once they are freed: free them after their last reader finished.

    ``launch`` is the stream to put in a kernel's launch configuration; launch inside
    ``with stream:``, where CuPy's current stream is this one. Under the simulator, where every
    launch runs at once, ``launch`` and the events are the simulator's stand-ins.
    """

    def __init__(self) -> None:
        cuda = numba_cuda()
        if simulator_enabled():
            self._cupy: Any = None
            self.launch: Any = cuda.stream()
        else:
            import cupy

            self._cupy = cupy.cuda.Stream(non_blocking=True)
            self.launch = cuda.external_stream(self._cupy.ptr)

    def __enter__(self) -> SideStream:
        """Make this CuPy's current stream in this thread (allocations, copies, kernels)."""
        if self._cupy is not None:
            self._cupy.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._cupy is not None:
            self._cupy.__exit__(*exc)

    def upload(self, host: np.ndarray) -> Any:
        """A new device array holding ``host``, copied on this stream (CuPy's ``asarray`` may
        fall back to a synchronous copy on the default stream); ``host`` itself under the
        simulator."""
        host = np.ascontiguousarray(host)
        if self._cupy is None:
            return host
        import cupy

        with self._cupy:
            array = cupy.empty(host.shape, dtype=host.dtype)
        array.set(host, stream=self._cupy)
        return array

    def record(self) -> Any:
        """An event that completes once the work queued on this stream so far has finished."""
        if self._cupy is None:
            event = numba_cuda().event()
            event.record(self.launch)
            return event
        return self._cupy.record()


def wait_for(event: Any) -> None:
    """Make the calling thread's current device stream wait for ``event`` (a
    ``SideStream.record``) before its next work: on the device, the host goes on at once."""
    if simulator_enabled():
        return
    import cupy

    cupy.cuda.get_current_stream().wait_event(event)


def exact_float64_ops() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """(mul, add) device functions that round each float64 operation on its own.

    NVVM contracts ``a * b + c`` into one fused multiply-add by default, which rounds once
    instead of twice and so can differ in the last bit from the CPU kernels. libdevice's
    ``dmul_rn``/``dadd_rn`` are never fused. The simulator runs plain Python arithmetic.
    """
    cuda = numba_cuda()
    if simulator_enabled():

        @cuda.jit(device=True)
        def mul(a, b):  # pragma: no cover - trivially the Python operator
            return a * b

        @cuda.jit(device=True)
        def add(a, b):
            return a + b

        return mul, add
    from numba.cuda import libdevice

    return libdevice.dmul_rn, libdevice.dadd_rn


PINNED_MIN_BYTES = 1 << 20
"""Device arrays from this size on are copied to the host through page-locked memory."""


def is_device_array(obj: object) -> bool:
    """Whether ``obj`` is an array on a CUDA device (a CuPy array, a CUDA torch tensor: anything
    with ``__cuda_array_interface__``)."""
    return hasattr(obj, "__cuda_array_interface__") and not isinstance(obj, np.ndarray)


def device_array_to_host(array: Any) -> np.ndarray:
    """Any library's device array (``is_device_array``) copied to the host, through CuPy."""
    if simulator_enabled():
        return np.asarray(array)
    import cupy

    return to_host(cupy.asarray(array))


def to_host(array: Any) -> np.ndarray:
    """A device (or host) array as a numpy array; copies from the device when needed.

    Large arrays land in page-locked (pinned) host memory from CuPy's pinned pool: a copy into
    fresh pageable memory ran at 3.5 GB/s on an H200 (535 MB of distances and edge keys took
    153 ms), page faults included. The pool keeps the pages for the next batch's copy.
    """
    if isinstance(array, np.ndarray):
        return array
    if array.nbytes < PINNED_MIN_BYTES:
        return array.get()
    import cupy
    import cupyx

    source = cupy.ascontiguousarray(array)
    out = cupyx.empty_pinned(source.shape, dtype=source.dtype)
    source.get(out=out)
    return out


def synchronize() -> None:
    """Wait for all queued device work (a no-op under the simulator)."""
    if simulator_enabled():
        return
    numba_cuda().synchronize()


def release_cached_memory() -> None:
    """Hand CuPy's cached, unused blocks back to the driver (after an out-of-memory error)."""
    if simulator_enabled():
        return
    import cupy

    cupy.get_default_memory_pool().free_all_blocks()


def pool_used_bytes() -> int:
    """Bytes in live CuPy arrays (0 under the simulator); cheap enough to call per batch."""
    if simulator_enabled():
        return 0
    import cupy

    return int(cupy.get_default_memory_pool().used_bytes())


def free_bytes() -> int | None:
    """Free device memory plus what CuPy's pool holds unused; None under the simulator."""
    if simulator_enabled():
        return None
    import cupy

    pool = cupy.get_default_memory_pool()
    free, _ = cupy.cuda.runtime.memGetInfo()
    return int(free) + int(pool.free_bytes())


def memory() -> DeviceMemory:
    """Current device memory use; zeros/None under the simulator."""
    if simulator_enabled() or gpu_unavailable_reason() is not None:
        return DeviceMemory(pool_used=0, pool_total=0, free=None, total=None, nvml_used=None)
    import cupy

    pool = cupy.get_default_memory_pool()
    free, total = cupy.cuda.runtime.memGetInfo()
    return DeviceMemory(
        pool_used=int(pool.used_bytes()),
        pool_total=int(pool.total_bytes()),
        free=int(free),
        total=int(total),
        nvml_used=_nvml_used(cupy.cuda.runtime.getDevice()),
    )


def _nvml_used(index: int) -> int | None:
    try:
        import pynvml
    except Exception:
        return None
    try:
        pynvml.nvmlInit()
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            return int(pynvml.nvmlDeviceGetMemoryInfo(handle).used)
        finally:
            pynvml.nvmlShutdown()
    except Exception:
        return None


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CuPy's and numba's out-of-memory errors (and our own)."""
    if isinstance(exc, MemoryError):
        return True
    name = type(exc).__name__
    if name == "OutOfMemoryError":  # cupy.cuda.memory.OutOfMemoryError
        return True
    text = str(exc)
    return "CUDA_ERROR_OUT_OF_MEMORY" in text or "out of memory" in text.lower()


def describe() -> dict[str, Any]:
    """Machine facts for benchmarks: device name, driver and runtime versions, simulator flag."""
    info: dict[str, Any] = {"simulator": simulator_enabled(), "gpu": None}
    reason = gpu_unavailable_reason()
    if reason is not None:
        info["unavailable"] = reason
        return info
    if simulator_enabled():
        info["gpu"] = "numba CUDA simulator"
        return info
    import cupy

    runtime = cupy.cuda.runtime
    props = runtime.getDeviceProperties(runtime.getDevice())
    name = props["name"]
    info.update(
        gpu=name.decode() if isinstance(name, bytes) else str(name),
        memory_bytes=int(props["totalGlobalMem"]),
        compute_capability=f"{props['major']}.{props['minor']}",
        driver_version=runtime.driverGetVersion(),
        runtime_version=runtime.runtimeGetVersion(),
        cupy=cupy.__version__,
    )
    return info
