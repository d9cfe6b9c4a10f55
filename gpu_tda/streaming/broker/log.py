"""The broker's storage: topics of partition logs holding Kafka record batches in memory.

A produced request carries whole record batches (message format v2). A log stores them as they
came, with only the base offset rewritten, and a fetch returns whole batches from the one that
holds the asked offset (the client skips the records before it, as with any Kafka broker).
Record CRCs are not checked here: the consumer checks them.

A partition keeps at most ``retention_bytes`` of batches: the oldest are dropped beyond that and
the log start offset moves past them, as Kafka's ``retention.bytes`` does.
"""

from __future__ import annotations

import asyncio
import bisect
import re
import struct
from collections.abc import Iterable

BATCH_OVERHEAD = 61
"""Bytes of a v2 record batch before its first record."""

_HEAD = struct.Struct(">qi")  # base offset, batch length (bytes after this field)
_LAST_DELTA = struct.Struct(">i")  # at byte 23
_MAX_TIMESTAMP = struct.Struct(">q")  # at byte 35
_LEGAL_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")


class CorruptBatch(ValueError):
    """Produced bytes that are not a sequence of whole v2 record batches."""


def split_batches(data: bytes) -> list[tuple[int, bytes]]:
    """``(record count, batch bytes)`` of each v2 record batch in ``data``."""
    batches = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < BATCH_OVERHEAD:
            raise CorruptBatch(f"{len(data) - pos} trailing bytes are not a record batch")
        _, length = _HEAD.unpack_from(data, pos)
        end = pos + 12 + length
        if length < BATCH_OVERHEAD - 12 or end > len(data):
            raise CorruptBatch(f"record batch length {length} does not fit the request")
        if data[pos + 16] != 2:
            raise CorruptBatch(f"message format v{data[pos + 16]} (only v2 is supported)")
        (last_delta,) = _LAST_DELTA.unpack_from(data, pos + 23)
        batches.append((last_delta + 1, data[pos:end]))
        pos = end
    return batches


def legal_topic_name(name: str) -> bool:
    """Kafka's rule: 1-249 of ``[a-zA-Z0-9._-]``, and not ``.`` or ``..``."""
    return bool(_LEGAL_NAME.fullmatch(name)) and name not in (".", "..")


class PartitionLog:
    """One partition: batches in offset order, ``start`` <= offsets < ``end``."""

    def __init__(self, retention_bytes: int) -> None:
        self.retention_bytes = retention_bytes
        self.start = 0
        self.end = 0
        self._bases: list[int] = []
        self._batches: list[bytes] = []
        self._bytes = 0
        self._waiters: list[asyncio.Future[None]] = []

    def append(self, batches: Iterable[tuple[int, bytes]]) -> int:
        """Store ``batches`` (from ``split_batches``); return the offset of the first record."""
        first = self.end
        for count, raw in batches:
            stamped = self.end.to_bytes(8, "big", signed=True) + raw[8:]
            self._bases.append(self.end)
            self._batches.append(stamped)
            self._bytes += len(stamped)
            self.end += count
        self._trim()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()
        return first

    def read(self, offset: int, max_bytes: int) -> bytes:
        """Whole batches from the one holding ``offset``, at least one, then up to ``max_bytes``
        (nothing when ``offset`` is the end)."""
        if offset >= self.end:
            return b""
        i = max(0, bisect.bisect_right(self._bases, offset) - 1)
        out: list[bytes] = []
        size = 0
        while i < len(self._batches):
            batch = self._batches[i]
            if out and size + len(batch) > max_bytes:
                break
            out.append(batch)
            size += len(batch)
            i += 1
        return b"".join(out)

    def offset_at(self, timestamp_ms: int) -> int:
        """Base offset of the first batch whose newest record is at or after ``timestamp_ms``
        (``end`` if none): Kafka's offsets-for-times, to the batch."""
        for base, batch in zip(self._bases, self._batches, strict=True):
            if _MAX_TIMESTAMP.unpack_from(batch, 35)[0] >= timestamp_ms:
                return base
        return self.end

    def notify(self, future: asyncio.Future[None]) -> None:
        """Resolve ``future`` at the next append (unless it is done by then)."""
        if len(self._waiters) >= 64:  # forget the waits that ended without an append
            self._waiters = [w for w in self._waiters if not w.done()]
        self._waiters.append(future)

    def _trim(self) -> None:
        drop = 0
        while self._bytes > self.retention_bytes and drop < len(self._batches) - 1:
            self._bytes -= len(self._batches[drop])
            drop += 1
        if drop:
            del self._batches[:drop]
            del self._bases[:drop]
            self.start = self._bases[0]


class Topics:
    """Every topic's partition logs; a topic is created explicitly or on first metadata use."""

    def __init__(self, default_partitions: int, retention_bytes: int) -> None:
        if default_partitions < 1:
            raise ValueError(f"default_partitions must be >= 1, got {default_partitions}")
        self.default_partitions = default_partitions
        self.retention_bytes = retention_bytes
        self._topics: dict[str, list[PartitionLog]] = {}

    def names(self) -> list[str]:
        return list(self._topics)

    def get(self, name: str) -> list[PartitionLog] | None:
        return self._topics.get(name)

    def partition(self, name: str, index: int) -> PartitionLog | None:
        logs = self._topics.get(name)
        return logs[index] if logs is not None and 0 <= index < len(logs) else None

    def create(self, name: str, partitions: int | None = None) -> list[PartitionLog]:
        """Create ``name`` (``default_partitions`` when None); the caller checked the name."""
        count = self.default_partitions if partitions is None else partitions
        logs = [PartitionLog(self.retention_bytes) for _ in range(count)]
        self._topics[name] = logs
        return logs
