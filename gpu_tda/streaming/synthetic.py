"""Synthetic point streams with known topology, for ``gpu-tda produce``, the demo and benches.

Every generator yields points of a fixed dimension ``dim`` (lower-dimensional shapes are
embedded in the first coordinates, the rest is small noise), continuing where it left off:

* ``circle``: a noisy circle (one long H1 bar)
* ``torus``: a noisy torus in 3-D (two H1 bars, one H2), needs dim >= 3
* ``sine``: Takens delay embedding of a noisy sine (a loop in delay space)
* ``noise``: Takens embedding of white noise (no structure)
* ``walk``: a Gaussian random walk (a contractible path)
* ``switching``: cycles circle -> noise -> torus/walk every ``regime_points`` points, so the
  topology a window sees changes over time
* ``mixed``: stream ``i`` uses the i-th of the kinds above (a mix for demos)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

KINDS = ("circle", "torus", "sine", "noise", "walk", "switching", "mixed")
_BASE_KINDS = ("circle", "torus", "sine", "noise", "walk", "switching")


class PointSource:
    """One stream's generator: ``next(n)`` returns the next (n, dim) float64 points."""

    def __init__(
        self,
        kind: str,
        dim: int = 3,
        *,
        seed: int = 0,
        noise: float = 0.05,
        regime_points: int = 512,
        delay: int = 4,
        period: float = 40.0,
    ) -> None:
        if kind not in _BASE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(_BASE_KINDS)}, got {kind!r}")
        if dim < 2:
            raise ValueError(f"synthetic streams need dim >= 2, got {dim}")
        self.kind = kind
        self.dim = dim
        self.noise = noise
        self.regime_points = regime_points
        self.delay = delay
        self.omega = 2 * np.pi / period
        self._rng = np.random.default_rng(seed)
        self._t = 0  # points produced so far
        self._position = np.zeros(dim)  # the random walk's last point
        self._signal: np.ndarray = np.empty(0)  # noise samples for the Takens embedding

    def next(self, n: int) -> np.ndarray:
        """The next ``n`` points of this stream."""
        if self.kind != "switching":
            out = self._make(self.kind, n)
        else:
            out = np.empty((n, self.dim))
            done = 0
            while done < n:
                regime = (self._t // self.regime_points) % 3
                take = min(n - done, self.regime_points - self._t % self.regime_points)
                kind = ("circle", "noise", "torus" if self.dim >= 3 else "walk")[regime]
                out[done : done + take] = self._make(kind, take)
                self._t += take
                done += take
            return out
        self._t += n
        return out

    def _make(self, kind: str, n: int) -> np.ndarray:
        maker: Callable[[int], np.ndarray] = getattr(self, f"_{kind}")
        return maker(n)

    def _embed(self, core: np.ndarray) -> np.ndarray:
        n, k = core.shape
        out = self._rng.normal(scale=self.noise, size=(n, self.dim))
        out[:, :k] += core
        return out

    def _circle(self, n: int) -> np.ndarray:
        theta = self._rng.uniform(0, 2 * np.pi, n)
        return self._embed(np.c_[np.cos(theta), np.sin(theta)])

    def _torus(self, n: int) -> np.ndarray:
        if self.dim < 3:
            raise ValueError("a torus needs dim >= 3")
        u, v = self._rng.uniform(0, 2 * np.pi, (2, n))
        big, small = 2.0, 0.7
        core = np.c_[
            (big + small * np.cos(v)) * np.cos(u),
            (big + small * np.cos(v)) * np.sin(u),
            small * np.sin(v),
        ]
        return self._embed(core)

    def _takens(self, values: np.ndarray) -> np.ndarray:
        # point i = (x(t_i), x(t_i + delay), ..., x(t_i + (dim-1)*delay))
        n = values.shape[0] - (self.dim - 1) * self.delay
        idx = np.arange(n)[:, None] + self.delay * np.arange(self.dim)[None, :]
        return values[idx]

    def _sine(self, n: int) -> np.ndarray:
        t = self._t + np.arange(n + (self.dim - 1) * self.delay)
        values = np.sin(self.omega * t) + self._rng.normal(scale=self.noise, size=t.shape)
        return self._takens(values)

    def _noise(self, n: int) -> np.ndarray:
        need = n + (self.dim - 1) * self.delay
        fresh = self._rng.normal(size=max(0, need - self._signal.shape[0]))
        values = np.concatenate([self._signal, fresh])
        out = self._takens(values)
        self._signal = values[n:]  # keep the tail so the embedding is continuous
        return out

    def _walk(self, n: int) -> np.ndarray:
        steps = self._rng.normal(scale=0.1, size=(n, self.dim))
        path = self._position + np.cumsum(steps, axis=0)
        self._position = path[-1]
        return path


def make_sources(
    kind: str, streams: int, dim: int = 3, *, seed: int = 0, prefix: str = "stream-"
) -> dict[str, PointSource]:
    """``streams`` named sources (``stream-0``, ...) of one kind, or a mix for ``"mixed"``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    sources = {}
    for i in range(streams):
        this = _BASE_KINDS[i % len(_BASE_KINDS)] if kind == "mixed" else kind
        if this == "torus" and dim < 3:
            this = "circle"
        sources[f"{prefix}{i}"] = PointSource(this, dim, seed=seed * 100_003 + i)
    return sources
