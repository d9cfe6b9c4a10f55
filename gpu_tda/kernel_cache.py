"""One numba cache stamp for all of ``gpu_tda/kernels``: editing any kernel invalidates them all.

numba stamps each cached function with its own source file only, but a caller's cached machine
code includes the callees it compiled in from other modules. After a checkout changes a callee's
file alone, the caller's cache would still load with the old callee inside: old results, or a
crash when a data layout changed. The locators installed here give every function defined in
``gpu_tda/kernels`` one stamp, a hash of all the package's sources, and otherwise behave exactly
as numba's own (``NUMBA_CACHE_DIR``, ``__pycache__``, the user-wide directory, in that order).
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from numba.core import caching

KERNELS_DIR = Path(__file__).resolve().parent / "kernels"


def source_stamp(directory: Path) -> bytes:
    """A hash of every ``*.py`` file in ``directory`` (names and contents)."""
    files = sorted(directory.glob("*.py"))
    return _hash_files(tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files))


@functools.lru_cache(maxsize=8)
def _hash_files(files: tuple[tuple[str, int, int], ...]) -> bytes:
    """The hash of the files listed as (path, mtime, size): re-read only when one changes."""
    digest = hashlib.sha256()
    for path, _, _ in files:
        digest.update(os.path.basename(path).encode())
        digest.update(Path(path).read_bytes())
    return digest.digest()


def _stamped(base: type) -> type:
    """``base`` (one of numba's file-backed locators) for kernel files, with the package stamp."""

    class KernelsLocator(base):  # type: ignore[misc, valid-type]
        @classmethod
        def from_function(cls, py_func, py_file):  # noqa: ANN001, ANN206 (numba's signature)
            if Path(py_file).resolve().parent != KERNELS_DIR:
                return None
            return super().from_function(py_func, py_file)

        def get_source_stamp(self) -> bytes:
            return source_stamp(KERNELS_DIR)

    KernelsLocator.__name__ = KernelsLocator.__qualname__ = f"Kernels{base.__name__}"
    return KernelsLocator


def install() -> None:
    """Put the kernel locators ahead of numba's (once); before any kernel module is compiled."""
    classes = caching.CacheImpl._locator_classes
    if any(c.__name__.startswith("Kernels") for c in classes):
        return
    bases = (
        caching.UserProvidedCacheLocator,
        caching.InTreeCacheLocator,
        caching.UserWideCacheLocator,
    )
    classes[:0] = [_stamped(base) for base in bases]
