"""The ring buffers' hot path in numba: append messages' points and cut the windows they complete.

Many streams of one dimension share one ``RingStore`` (``ring_buffer``): arrays indexed by the
stream's slot. ``append_points`` applies one message given as an array; ``append_binary``
applies a run of binary-encoded messages (``decode``'s layout) straight from their bytes,
checking each one as ``decode.decode_binary`` and ``decode.check_dimension`` do. So the worker's
intake costs one call per micro-batch, not several numpy calls per message.

Both return the windows that fell due as ``(out, win, counts)``: ``out`` is one flat float64
array holding each scale's windows as a block (``counts[k]`` windows of ``sizes[k]`` points,
scale 0's block first), ``win`` one metadata row per window (``WIN_COLUMNS``), in the same order.
Within a block, windows are in the order their last point arrived.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from gpu_tda.streaming.decode import FLAG_TS, HEADER, TS, VERSION

META_OFFSET, META_TS, META_START = 0, 1, 2
"""Columns of a store's per-point metadata: its message's offset and timestamp, and the
per-stream index of that message's first point."""

CUR_COUNT, CUR_VALID_FROM, CUR_EMITTED_UPTO, CUR_LAST_OFFSET = 0, 1, 2, 3
"""Columns of a store's per-stream cursor (see ``RingBuffer``)."""

WIN_COLUMNS = (
    "scale", "slot", "seq", "first_offset", "last_offset", "start_ts", "end_ts", "record",
)  # fmt: skip
"""A due window's metadata row; ``record`` is its message's index in the run."""

OK, BAD = 0, 1
"""``append_binary``'s status of each message: applied, or refused (``decode`` says why)."""

_N_WIN = len(WIN_COLUMNS)
_VERSION, _FLAG_TS, _HEADER, _TS = VERSION, FLAG_TS, HEADER.size, TS.size  # decode's layout


@nb.njit(cache=True, nogil=True)
def _first_due(size, stride, count):
    """The first window not yet due once ``count`` points have arrived (``next_seq``)."""
    return max(0, -((size - 1 - count) // stride))


@nb.njit(cache=True, nogil=True)
def _due_range(size, stride, before, after, valid_from, emitted_upto):
    """Seqs of the windows due while the count went ``before`` -> ``after`` that start at or
    after ``valid_from`` and end at or after ``emitted_upto``: ``range(lo, hi)``."""
    lo = max(_first_due(size, stride, before), -(-valid_from // stride))
    lo = max(lo, -((size - 1 - emitted_upto) // stride))
    return lo, max(lo, _first_due(size, stride, after))


@nb.njit(cache=True, nogil=True)
def _blocks(counts, sizes, dim):
    """Where each scale's block starts: (first rows of ``win``, first elements of ``out``, and
    the total of each)."""
    k = counts.shape[0]
    rows = np.zeros(k, np.int64)
    elements = np.zeros(k, np.int64)
    r = 0
    e = 0
    for i in range(k):
        rows[i] = r
        elements[i] = e
        r += counts[i]
        e += counts[i] * sizes[i] * dim
    return rows, elements, r, e


@nb.njit(cache=True, nogil=True)
def _count_due(before, m, slot, cursor, sizes, strides, counts):
    """Add the windows that ``m`` more points complete to ``counts`` (per scale)."""
    for k in range(sizes.shape[0]):
        lo, hi = _due_range(
            sizes[k], strides[k], before, before + m,
            cursor[slot, CUR_VALID_FROM], cursor[slot, CUR_EMITTED_UPTO],
        )  # fmt: skip
        counts[k] += hi - lo


@nb.njit(cache=True, nogil=True)
def _apply(data, start, m, offset, ts, slot, record, points, meta, cursor, sizes, strides,
           out, win, rows, elements, filled):  # fmt: skip
    """Cut the windows that ``m`` points (``data[start:]``, row-major) complete, then write the
    points to the slot's ring. ``filled[k]`` counts the windows already in scale k's block."""
    cap, dim = points.shape[1], points.shape[2]
    before = cursor[slot, CUR_COUNT]
    for k in range(sizes.shape[0]):
        size, stride = sizes[k], strides[k]
        lo, hi = _due_range(
            size, stride, before, before + m,
            cursor[slot, CUR_VALID_FROM], cursor[slot, CUR_EMITTED_UPTO],
        )  # fmt: skip
        for seq in range(lo, hi):
            row = rows[k] + filled[k]
            at = elements[k] + filled[k] * size * dim
            filled[k] += 1
            first = seq * stride
            n_old = min(size, max(0, before - first))  # points already in the ring
            ring = first % cap
            for _ in range(n_old):
                for c in range(dim):
                    out[at + c] = points[slot, ring, c]
                at += dim
                ring = ring + 1 if ring + 1 < cap else 0
            src = start + (first + n_old - before) * dim  # then points of this message
            for i in range((size - n_old) * dim):
                out[at + i] = data[src + i]
            win[row, 0] = k
            win[row, 1] = slot
            win[row, 2] = seq
            if first >= before:
                win[row, 3] = offset
                win[row, 5] = ts
            else:
                win[row, 3] = meta[slot, first % cap, META_OFFSET]
                win[row, 5] = meta[slot, first % cap, META_TS]
            win[row, 4] = offset  # the last point always came with this message
            win[row, 6] = ts
            win[row, 7] = record
    skip = max(0, m - cap)  # a message longer than the ring keeps its tail
    ring = (before + skip) % cap
    src = start + skip * dim
    for _ in range(m - skip):
        for c in range(dim):
            points[slot, ring, c] = data[src + c]
        meta[slot, ring, META_OFFSET] = offset
        meta[slot, ring, META_TS] = ts
        meta[slot, ring, META_START] = before
        src += dim
        ring = ring + 1 if ring + 1 < cap else 0
    cursor[slot, CUR_COUNT] = before + m
    if m > 0:
        cursor[slot, CUR_LAST_OFFSET] = offset


@nb.njit(cache=True, nogil=True)
def append_points(data, m, offset, ts, slot, points, meta, cursor, sizes, strides):
    """Append one message's ``m`` points (``data``: row-major, float64) to ``slot``."""
    counts = np.zeros(sizes.shape[0], np.int64)
    _count_due(cursor[slot, CUR_COUNT], m, slot, cursor, sizes, strides, counts)
    rows, elements, n_rows, n_elements = _blocks(counts, sizes, points.shape[2])
    out = np.empty(n_elements, np.float64)
    win = np.empty((n_rows, _N_WIN), np.int64)
    filled = np.zeros(sizes.shape[0], np.int64)
    _apply(data, 0, m, offset, ts, slot, 0, points, meta, cursor, sizes, strides,
           out, win, rows, elements, filled)  # fmt: skip
    return out, win, counts


@nb.njit(cache=True, nogil=True)
def _check_binary(raw, words, start, length, dim):
    """(points, first float64 word of the points, has a ts?, ts) of one binary message of
    ``dim`` coordinates; points = -1 when ``decode.decode_binary`` or ``check_dimension`` would
    refuse it. ``start`` and ``length`` are multiples of 8."""
    if length < _HEADER or raw[start + 4] != _VERSION:
        return -1, 0, False, 0
    d = raw[start + 6] | (nb.int64(raw[start + 7]) << 8)
    n = nb.int64(0)
    for i in range(4):
        n |= nb.int64(raw[start + 8 + i]) << (8 * i)
    header = _HEADER
    has_ts = (raw[start + 5] & _FLAG_TS) != 0
    ts = nb.int64(0)
    if has_ts:
        if length < _HEADER + _TS:
            return -1, 0, False, 0
        ts = words[(start + _HEADER) // 8]
        header += _TS
    if d == 0 or n == 0 or length != header + 8 * n * d or d != dim:
        return -1, 0, False, 0
    first = (start + header) // 8
    data = words.view(np.float64)
    for i in range(first, first + n * d):
        if not np.isfinite(data[i]):
            return -1, 0, False, 0
    return n, first, has_ts, ts


@nb.njit(cache=True, nogil=True)
def append_binary(raw, starts, lengths, slots, offsets, kafka_ts, points, meta, cursor, sizes,
                  strides, status, placed):  # fmt: skip
    """Apply a run of binary messages (all of this store's dimension) in order.

    ``raw`` holds the messages' bytes back to back, each 8-byte aligned (``starts``,
    ``lengths``); message r goes to ``slots[r]`` with its Kafka ``offsets[r]`` and timestamp
    ``kafka_ts[r]`` (used when it carries none). Sets ``status[r]`` (``OK`` / ``BAD``) and
    ``placed[r]``: the per-stream index of its first point, where its points start in ``raw``
    viewed as float64, and how many there are (meaningful when ``OK``). Returns (out, win, counts,
    points applied).
    """
    dim = points.shape[2]
    words = raw.view(np.int64)
    data = words.view(np.float64)
    k = sizes.shape[0]
    counts = np.zeros(k, np.int64)
    count = cursor[:, CUR_COUNT].copy()  # pass 1: check every message, count the windows
    stamps = np.empty(starts.shape[0], np.int64)
    applied = 0
    for r in range(starts.shape[0]):
        n, first, has_ts, ts = _check_binary(raw, words, starts[r], lengths[r], dim)
        if n < 0:
            status[r] = BAD
            continue
        status[r] = OK
        placed[r, 1] = first
        placed[r, 2] = n
        stamps[r] = ts if has_ts else kafka_ts[r]
        slot = slots[r]
        _count_due(count[slot], n, slot, cursor, sizes, strides, counts)
        count[slot] += n
        applied += n
    rows, elements, n_rows, n_elements = _blocks(counts, sizes, dim)
    out = np.empty(n_elements, np.float64)
    win = np.empty((n_rows, _N_WIN), np.int64)
    filled = np.zeros(k, np.int64)
    for r in range(starts.shape[0]):  # pass 2: cut and write, from what pass 1 read
        if status[r] != OK:
            continue
        slot = slots[r]
        placed[r, 0] = cursor[slot, CUR_COUNT]
        _apply(data, placed[r, 1], placed[r, 2], offsets[r], stamps[r], slot, r,
               points, meta, cursor, sizes, strides, out, win, rows, elements, filled)  # fmt: skip
    return out, win, counts, applied
