"""Per-partition stream state and the checkpoints that let a restarted worker replay exactly.

Why a checkpoint at all: windows are counted per stream (window ``k`` = the stream's points
``k*S .. k*S+N-1``), so after a restart the worker must know which per-stream index each replayed
point has. Committing a Kafka offset alone cannot say that.

What is saved, per input partition, after every window due so far has been published::

    {"v": 1, "topic": "points", "partition": 0, "offset": C, "position": P,
     "windows": [[128, 32]], "streams": {stream: [a, b, u, d], ...}}

* ``position`` P: the next offset the worker would have read.
* ``streams[s] = [a, b, u, d]``: replaying this partition, messages of ``s`` with offset < ``a``
  are skipped (already counted); the first message of ``s`` at offset >= ``a`` starts at
  per-stream index ``b``; every window whose last index is < ``u`` was already published;
  ``d`` is the stream's dimension. If some future window needs buffered points, ``a`` is the
  offset of the message holding the oldest such point and ``b`` that message's first index;
  otherwise ``a`` = the stream's last offset + 1 and ``b`` = ``u`` = its point count.
* ``offset`` C = min(P, min ``a`` over streams that need buffered points): the replay start.
  This is also the offset committed to Kafka.

On assignment the worker reads the partition's latest checkpoint, rebuilds this state (empty
ring buffers, counters at ``b``) and seeks to C. Points replayed from C refill the buffers with
the same indices, so every window is cut again from the same points: identical bars. Windows
ending before ``u`` are not re-emitted; the ones published after the checkpoint are (at least
once). The checkpoint record is written before the offset commit, and the worker seeks to the
checkpoint's own C, so a crash between the two is harmless.

Checkpoints go to a topic of their own (partition p holds input partition p's), as zlib JSON;
the embedded broker keeps no commit metadata, and Kafka limits it to 4 KB anyway.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from typing import Any

import numpy as np

from gpu_tda.streaming.exceptions import CheckpointError
from gpu_tda.streaming.ring_buffer import NO_VALUE, RingBuffer, RingStore
from gpu_tda.streaming.windows import WindowSpec

VERSION = 1


class PartitionState:
    """The streams of one input partition: ring buffers, replay skips and the position."""

    def __init__(
        self,
        topic: str,
        partition: int,
        specs: tuple[WindowSpec, ...],
        start_offset: int | None = None,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.specs = specs
        self.buffers: dict[str, RingBuffer] = {}
        self._by_key: dict[bytes, RingBuffer] = {}  # the same buffers, by message key
        self._stores: dict[int, RingStore] = {}  # dimension -> the rings of its streams
        self.start_offset = start_offset
        self.position: int | None = start_offset
        self.dirty = False
        # stream -> (a, b, u, d) restored from a checkpoint, until the replay reaches offset a
        self._pending: dict[str, tuple[int, int, int, int]] = {}
        # stream -> its [a, b, u, d] as of the last snapshot; only the streams in _changed
        # (handed out for appending, or whose replay anchor was reached) are recomputed, so a
        # snapshot costs what changed, not every stream of the partition
        self._entries: dict[str, list[int]] = {}
        self._changed: set[str] = set()

    # -- the data path --------------------------------------------------------------------------
    def skips(self, stream: str, offset: int) -> bool:
        """True when this message was already counted before the checkpoint (replay)."""
        pending = self._pending.get(stream)
        if pending is None:
            return False
        if offset < pending[0]:
            return True
        del self._pending[stream]  # the replay reached the anchor: the stream runs normally
        self._changed.add(stream)
        return False

    def running_buffer(self, key: bytes | None) -> RingBuffer | None:
        """The buffer of the stream keyed ``key`` when it exists and no replay anchor of it is
        pending: its messages can be applied without looking at ``skips``."""
        buf = self._by_key.get(key)  # type: ignore[arg-type]
        if buf is not None and self._pending and buf.stream in self._pending:
            return None
        return buf

    def appended(self, streams: Iterable[str]) -> None:
        """Record that ``streams`` got points without going through ``buffer``."""
        self._changed.update(streams)

    def dimension(self, stream: str) -> int | None:
        """The stream's fixed dimension, or None for a stream not seen yet."""
        buf = self.buffers.get(stream)
        return None if buf is None else buf.dim

    def buffer(self, stream: str, dim: int) -> RingBuffer:
        """The stream's ring buffer, to append to (created at its first point)."""
        buf = self.buffers.get(stream)
        if buf is None:
            buf = self._new_buffer(stream, dim)
        self._changed.add(stream)
        return buf

    def _new_buffer(
        self, stream: str, dim: int, count: int = 0, emitted_upto: int = 0
    ) -> RingBuffer:
        store = self._stores.get(dim)
        if store is None:
            store = self._stores[dim] = RingStore(self.specs, dim)
        buf = RingBuffer(
            stream, self.specs, dim, count=count, emitted_upto=emitted_upto,
            partition=self.partition, store=store,
        )  # fmt: skip
        self.buffers[stream] = self._by_key[stream.encode()] = buf
        return buf

    def advance(self, offset: int) -> None:
        """Record that the message at ``offset`` has been handled."""
        self.position = offset + 1
        self.dirty = True

    def memory_bytes(self) -> int:
        """Bytes of this partition's ring arrays, as allocated."""
        return sum(store.memory_bytes() for store in self._stores.values())

    # -- checkpoints ----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any] | None:
        """The checkpoint document of the current state (None before any position is known)."""
        if self.position is None:
            return None
        self._refresh_entries()
        commit = self.position
        for a, b, u, _ in self._entries.values():
            if b < u:  # points from offset a on are still needed
                commit = min(commit, a)
        return {
            "v": VERSION,
            "topic": self.topic,
            "partition": self.partition,
            "offset": commit,
            "position": self.position,
            "windows": [[s.size, s.stride] for s in self.specs],
            "streams": dict(self._entries),
        }

    def _refresh_entries(self) -> None:
        """Recompute the entries of the streams changed since the last snapshot: one
        ``RingStore.replay_entries`` pass per store (a stream at a time took 3.8 ms for the
        1,000 streams that all change between two snapshots of a loaded worker, on its event
        loop); a stream whose replay anchor is still ahead keeps its restored entry."""
        slots: dict[int, list[int]] = {}
        streams: dict[int, list[str]] = {}
        for stream in self._changed:
            pending = self._pending.get(stream)
            if pending is not None:
                self._entries[stream] = list(pending)
                continue
            buf = self.buffers[stream]
            slots.setdefault(buf.dim, []).append(buf.slot)
            streams.setdefault(buf.dim, []).append(stream)
        for dim, chosen in slots.items():
            rows = self._stores[dim].replay_entries(np.array(chosen, dtype=np.int64)).tolist()
            self._entries.update(zip(streams[dim], rows, strict=True))
        self._changed.clear()

    @classmethod
    def restore(
        cls, topic: str, partition: int, specs: tuple[WindowSpec, ...], doc: dict[str, Any]
    ) -> PartitionState:
        """Rebuild the state a checkpoint describes; the replay starts at ``doc["offset"]``."""
        if doc.get("v") != VERSION:
            raise CheckpointError(f"unsupported checkpoint version {doc.get('v')!r}")
        if doc.get("topic") != topic or doc.get("partition") != partition:
            raise CheckpointError(
                f"checkpoint is for {doc.get('topic')}/{doc.get('partition')}, "
                f"not {topic}/{partition}"
            )
        state = cls(topic, partition, specs, start_offset=int(doc["offset"]))
        for stream, (a, b, u, d) in doc["streams"].items():
            buf = state._new_buffer(stream, int(d), count=int(b), emitted_upto=int(u))
            buf.last_offset = int(a) - 1 if b == u else NO_VALUE
            state._pending[stream] = (int(a), int(b), int(u), int(d))
            state._entries[stream] = [int(a), int(b), int(u), int(d)]
        return state


def checkpoint_key(topic: str, partition: int) -> bytes:
    """The record key of a partition's checkpoints."""
    return f"{topic}/{partition}".encode()


def encode_checkpoint(doc: dict[str, Any]) -> bytes:
    """zlib-compressed compact JSON."""
    return zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), level=1)


def decode_checkpoint(value: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(zlib.decompress(value))
    except (zlib.error, ValueError) as exc:
        raise CheckpointError(f"unreadable checkpoint record: {exc}") from None
    if not isinstance(doc, dict):
        raise CheckpointError("a checkpoint record must be a JSON object")
    return doc
