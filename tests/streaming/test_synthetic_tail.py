"""Synthetic streams, load patterns and the tail's line format."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_tda.streaming import WindowDiagram
from gpu_tda.streaming.produce import LoadSpec, points_due
from gpu_tda.streaming.synthetic import KINDS, PointSource, make_sources
from gpu_tda.streaming.tail import format_window, longest_bar
from tests.diagram_oracle import ripser_diagrams


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_gives_finite_points_of_the_stream_dimension(kind):
    for source in make_sources(kind, 3, dim=3, seed=1).values():
        chunks = [source.next(n) for n in (1, 7, 300)]
        assert all(c.shape == (n, 3) for c, n in zip(chunks, (1, 7, 300), strict=True))
        assert all(np.isfinite(c).all() for c in chunks)


def test_same_seed_same_stream():
    a = make_sources("mixed", 4, seed=3)
    b = make_sources("mixed", 4, seed=3)
    for name in a:
        np.testing.assert_array_equal(a[name].next(50), b[name].next(50))


def test_a_circle_has_one_long_h1_bar_and_noise_has_none():
    circle = PointSource("circle", dim=2, seed=0, noise=0.02).next(60)
    noise = PointSource("noise", dim=2, seed=0).next(60)
    h1_circle = ripser_diagrams(circle, 1)[1]
    h1_noise = ripser_diagrams(noise, 1)[1]
    assert (h1_circle[:, 1] - h1_circle[:, 0]).max() > 1.0
    assert (h1_noise[:, 1] - h1_noise[:, 0]).max(initial=0) < 1.0


def test_the_takens_embedding_is_continuous_across_calls():
    whole = PointSource("sine", dim=3, seed=5, noise=0.0).next(40)
    source = PointSource("sine", dim=3, seed=5, noise=0.0)
    parts = np.concatenate([source.next(13), source.next(27)])
    np.testing.assert_allclose(parts, whole)
    # delay coordinates: point i's second coordinate is point i+delay's first
    np.testing.assert_allclose(whole[:-4, 1], whole[4:, 0])


def test_switching_changes_regime_every_regime_points():
    source = PointSource("switching", dim=3, seed=0, regime_points=50)
    pts = source.next(150)
    radius = np.linalg.norm(pts[:, :2], axis=1)
    assert np.allclose(radius[:50], 1.0, atol=0.3)  # circle
    assert radius[100:].mean() > 1.2  # torus (radii 2 +- 0.7)


def test_load_patterns_have_the_asked_mean_rate():
    assert points_due(LoadSpec(rate=100), 2.0) == pytest.approx(200)
    ramp = LoadSpec(rate=100, pattern="ramp", duration=10)
    assert points_due(ramp, 10.0) == pytest.approx(100 * (1.0 + 4.5))
    bursts = LoadSpec(rate=100, pattern="bursts")
    assert points_due(bursts, 0.5) == pytest.approx(250)
    assert points_due(bursts, 3.0) == points_due(bursts, 1.0) == pytest.approx(500)
    assert points_due(bursts, 10.0) == pytest.approx(1000)
    assert points_due(LoadSpec(), 1.0) == float("inf")
    with pytest.raises(ValueError):
        LoadSpec(pattern="ramp")


def test_tail_line_names_stream_scale_seq_bars_and_longest_h1():
    wd = WindowDiagram(
        "s-7",
        128,
        32,
        41,
        [np.array([[0.0, 0.1], [0.0, np.inf]]), np.array([[0.31, 0.52], [0.2, 0.25]])],
        "gpu",
        0.8,
    )
    assert longest_bar(wd, 1) == pytest.approx((0.21, 0.31, 0.52))
    assert format_window(wd) == (
        "s-7  128#41  H0:2 H1:2  longest H1 0.210 [0.310, 0.520)  gpu 0.80 ms"
    )
    wd.diagrams = wd.diagrams[:1]
    assert "longest H1 -" in format_window(wd)
