"""Window *definitions*: what a user configures (sizes and strides), checked once.

Windows are count-based and per stream. With size ``N`` and stride ``S`` window ``seq = k``
holds the stream's points with per-stream index ``k*S .. k*S+N-1`` and is due as soon as point
``k*S+N-1`` has arrived. Execution (buffers, gathering due windows) lives in ``ring_buffer``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from gpu_tda.streaming.exceptions import WindowConfigError

MAX_WINDOW_SIZE = 1 << 20


@dataclass(frozen=True, order=True)
class WindowSpec:
    """One scale: ``size`` points per window, a new window every ``stride`` points."""

    size: int
    stride: int

    def __post_init__(self) -> None:
        for name in ("size", "stride"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise WindowConfigError(f"window {name} must be an integer, got {value!r}")
        if not 1 <= self.size <= MAX_WINDOW_SIZE:
            raise WindowConfigError(f"window size must be in 1..{MAX_WINDOW_SIZE}, got {self.size}")
        if self.stride < 1:
            raise WindowConfigError(f"window stride must be >= 1, got {self.stride}")

    def first_index(self, seq: int) -> int:
        """Per-stream index of window ``seq``'s first point."""
        return seq * self.stride

    def last_index(self, seq: int) -> int:
        """Per-stream index of window ``seq``'s last point (the one that makes it due)."""
        return seq * self.stride + self.size - 1

    def next_seq(self, count: int) -> int:
        """The first window not yet due once ``count`` points have arrived."""
        # smallest k with k*S + N - 1 >= count
        return max(0, -((self.size - 1 - count) // self.stride))

    def next_seqs(self, counts: np.ndarray) -> np.ndarray:
        """``next_seq`` of each int64 count, at once."""
        return np.maximum(0, -((self.size - 1 - counts) // self.stride))

    def due_seqs(self, before: int, after: int) -> range:
        """Windows that became due while the point count went from ``before`` to ``after``."""
        return range(self.next_seq(before), self.next_seq(after))


def parse_window(text: str | int, default_stride: int) -> WindowSpec:
    """``"128"`` or ``128`` (stride = ``default_stride``) or ``"512:64"`` (size:stride)."""
    if isinstance(text, int) and not isinstance(text, bool):
        return WindowSpec(text, default_stride)
    raw = str(text).strip()
    size_text, sep, stride_text = raw.partition(":")
    try:
        size = int(size_text)
        stride = int(stride_text) if sep else default_stride
    except ValueError:
        raise WindowConfigError(
            f"a window is SIZE or SIZE:STRIDE (integers), got {text!r}"
        ) from None
    return WindowSpec(size, stride)


def make_specs(
    windows: int | str | WindowSpec | Iterable[int | str | WindowSpec],
    stride: int | Sequence[int],
) -> tuple[WindowSpec, ...]:
    """Normalise the user's ``windows`` / ``stride`` arguments into distinct, sorted specs.

    ``stride`` is one integer for every scale, or one per entry of ``windows``. A repeated
    (size, stride) pair is kept once; one size with two strides is refused, because
    (stream, size, seq) must name one window.
    """
    items = [windows] if isinstance(windows, (int, str, WindowSpec)) else list(windows)
    if not items:
        raise WindowConfigError("at least one window size is needed")
    if isinstance(stride, Sequence) and not isinstance(stride, str):
        strides = list(stride)
        if len(strides) != len(items):
            raise WindowConfigError(
                f"{len(strides)} strides given for {len(items)} windows; give one or one each"
            )
    else:
        strides = [stride] * len(items)
    specs: set[WindowSpec] = set()
    for item, item_stride in zip(items, strides, strict=True):
        if isinstance(item, WindowSpec):
            specs.add(item)
        else:
            if isinstance(item_stride, bool) or not isinstance(item_stride, int):
                raise WindowConfigError(f"stride must be an integer, got {item_stride!r}")
            specs.add(parse_window(item, item_stride))
    sizes = [spec.size for spec in specs]
    if len(set(sizes)) != len(sizes):
        # (stream, size, seq) names a window on the output topic: one stride per size.
        raise WindowConfigError(f"each window size may have one stride, got {sorted(specs)}")
    return tuple(sorted(specs))


def buffer_capacity(specs: Iterable[WindowSpec]) -> int:
    """Points a stream must keep so every scale's next window can be cut: the largest size."""
    return max(spec.size for spec in specs)
