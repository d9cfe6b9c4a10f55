"""The argument types every CUDA kernel of gpu_tda is launched with, in numba's notation.

One table, two checks: ``tests/gpu/test_kernel_launch_types.py`` records the engine's launches
under the simulator and requires exactly these types, and ``tests/kernels/test_cuda_ptx.py``
compiles each kernel with them for real GPUs (NVVM, no device needed), which the simulator never
does: it runs kernels as Python and accepts code the CUDA target rejects.
"""

LAUNCHES = {
    "gpu_tda.kernels.cuda_distances._distances_kernel": (
        "void(float64[:, :, ::1], float32[:, :, ::1])"
    ),
    "gpu_tda.kernels.cuda_h0._prim_kernel": (
        "void(float32[:, :, ::1], float32, float32[:, ::1], float32[:, ::1], int32[::1])"
    ),
    "gpu_tda.kernels.cuda_edges._keys_kernel": (
        "void(float32[:, :, ::1], uint32[:, :, ::1], float32[::1], uint64[:, ::1])"
    ),
    "gpu_tda.kernels.cuda_edges._spanning_forest_kernel": (
        "void(float32[:, :, ::1], uint32[:, :, ::1], float32[::1], uint64[:, ::1], "
        "uint64[:, ::1], uint64[:, ::1], uint8[:, ::1], float32[:, ::1], int32[::1])"
    ),
    "gpu_tda.kernels.cuda_apparent._classify_kernel": (
        "void(float32[:, :, ::1], uint64[:, ::1], float32[::1], uint8[:, ::1], "
        "float32[:, ::1], int64[:, ::1])"
    ),
    "gpu_tda.kernels.cuda_ring._scatter_kernel": (
        "void(float64[:, :, ::1], float64[:, ::1], int64[::1], int64[::1])"
    ),
    "gpu_tda.kernels.cuda_ring._gather_kernel": (
        "void(float64[:, :, ::1], int64[::1], int64[::1], float64[:, :, ::1])"
    ),
}
"""``module.kernel`` -> ``"void(argument types)"``."""
