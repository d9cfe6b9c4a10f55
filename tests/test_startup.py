"""The worker's and the broker's start-up: what they do besides signals (those are tested with
a real process in test_worker_faults)."""

from __future__ import annotations

import gc

from gpu_tda.startup import freeze_startup_objects


def test_startup_objects_leave_the_collectors_scans():
    gc.unfreeze()
    before = len(gc.get_objects())
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() >= before // 2  # what was alive is now frozen
        assert len(gc.get_objects()) < before // 10  # ... and out of every generation
    finally:
        gc.unfreeze()
