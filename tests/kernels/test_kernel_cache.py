"""The kernels' numba cache carries one stamp for the whole package."""

from __future__ import annotations

from pathlib import Path

from gpu_tda import kernel_cache
from gpu_tda.kernels import cohomology, edge_buckets, rips


def test_every_kernel_file_is_part_of_the_stamp(tmp_path: Path) -> None:
    (tmp_path / "caller.py").write_text("def f(): return g()\n")
    (tmp_path / "callee.py").write_text("def g(): return 1\n")
    (tmp_path / "notes.txt").write_text("not source\n")
    before = kernel_cache.source_stamp(tmp_path)
    (tmp_path / "notes.txt").write_text("still not source\n")
    assert kernel_cache.source_stamp(tmp_path) == before
    (tmp_path / "callee.py").write_text("def g(): return 2\n")  # the callee alone changes
    assert kernel_cache.source_stamp(tmp_path) != before


def test_kernels_use_the_package_stamp_and_others_keep_numbas() -> None:
    stamp = kernel_cache.source_stamp(kernel_cache.KERNELS_DIR)
    for kernel in (rips.h1_of_windows, cohomology.reduce_coboundary, edge_buckets.add_coboundary):
        locator = kernel._cache._impl._locator
        assert type(locator).__name__.startswith("Kernels")
        assert locator.get_source_stamp() == stamp
    outside = kernel_cache._stamped(kernel_cache.caching.InTreeCacheLocator)
    assert outside.from_function(test_every_kernel_file_is_part_of_the_stamp, __file__) is None
