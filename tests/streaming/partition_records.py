"""One input partition as a list of records, without Kafka: streams of two dimensions
interleaved, JSON and binary, some messages longer than the windows, and every kind of bad
message the intake must turn into a dead letter."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from gpu_tda.streaming import encode_points_binary, encode_points_json
from gpu_tda.streaming.decode import HEADER

DIMS = {"a": 2, "b": 3, "c": 2}


def bad_value(rng: np.random.Generator, dim: int) -> bytes:
    """A message that the stream of dimension ``dim`` must refuse (some of them 8-byte
    multiples, which the binary fast path reads)."""
    good = encode_points_binary(rng.normal(size=(3, dim)), ts=7)
    nan = rng.normal(size=(3, dim))
    nan[int(rng.integers(3)), int(rng.integers(dim))] = np.nan
    return [
        b"{broken",
        b'{"points": [[1, 2, 3]], "ts": 1e30}',
        b'{"points": [[1, 2, 3]], "ts": "noon"}',
        encode_points_json(rng.normal(size=(2, 5))),  # wrong dimension
        encode_points_binary(rng.normal(size=(2, dim + 1))),  # wrong dimension
        encode_points_binary(nan),
        good[:-8],  # one point short
        good[:-3],
        b"GTDA" + bytes([2]) + good[5:],  # unknown version
        good[:16],  # the ts flag is set but the ts is missing
        HEADER.pack(b"GTDA", 1, 0, dim, 0, 0),  # no points
        HEADER.pack(b"GTDA", 1, 0, 0, 1, 0) + bytes(8),  # no coordinates
    ][int(rng.integers(12))]


def make_partition(seed: int, n_messages: int) -> list[SimpleNamespace]:
    """``n_messages`` records of partition 0 at offsets 0, 1, ..."""
    rng = np.random.default_rng(seed)
    records = []
    for offset in range(n_messages):
        stream = str(rng.choice(list(DIMS)))
        dim = DIMS[stream]
        kind = rng.random()
        key = stream.encode()
        if kind < 0.15:
            value = bad_value(rng, dim)
        elif kind < 0.18:
            key, value = b"", encode_points_json(rng.normal(size=(2, dim)))
        else:
            n = int(rng.integers(1, 8)) if kind < 0.95 else int(rng.integers(9, 25))
            points = rng.normal(size=(n, dim))
            ts = int(rng.integers(-5, 10**12)) if rng.random() < 0.5 else None
            encode = encode_points_binary if rng.random() < 0.5 else encode_points_json
            value = encode(points, ts=ts)
        records.append(
            SimpleNamespace(
                key=key,
                value=value,
                offset=offset,
                timestamp=offset,
                headers=(),
                topic="points",
                partition=0,
            )
        )
    return records
