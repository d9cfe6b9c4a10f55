"""Prometheus metrics of the flag system, registered on a registry the caller chooses.

- ``feature_flag_evaluations_total{flag,variant}``: evaluations; ``variant`` is the variant
  name when the flag has variants and is on, else ``"true"`` / ``"false"``.
- ``feature_flag_refresh_errors_total``: failed reads of definitions from Redis (connection
  lost, bad JSON in the hash).
- ``feature_flags_active``: enabled flags in the in-memory cache.
"""

from __future__ import annotations

import threading

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge


class FlagMetrics:
    """The three flag metrics, on ``registry`` (pass your own in tests and libraries)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.evaluations = Counter(
            "feature_flag_evaluations_total",
            "Feature flag evaluations, by flag and resulting variant (or true/false).",
            ["flag", "variant"],
            registry=registry,
        )
        self.refresh_errors = Counter(
            "feature_flag_refresh_errors_total",
            "Failed refreshes of feature flag definitions from Redis.",
            registry=registry,
        )
        self.active = Gauge(
            "feature_flags_active",
            "Enabled feature flags currently loaded in the in-memory cache.",
            registry=registry,
        )
        self._children: dict[tuple[str, str], Counter] = {}
        self._lock = threading.Lock()

    def count_evaluation(self, flag: str, enabled: bool, variant: str | None) -> None:
        """Count one evaluation (label children are cached: this runs per window)."""
        label = variant if variant is not None else ("true" if enabled else "false")
        child = self._children.get((flag, label))
        if child is None:
            with self._lock:
                child = self.evaluations.labels(flag=flag, variant=label)
                self._children[(flag, label)] = child
        child.inc()
