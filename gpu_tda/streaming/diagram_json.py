"""Window diagrams -> output-topic JSON values, in numba: a whole batch in one call, off the GIL.

``diagram.Headers`` holds a batch's headers as arrays (the header's integers, its two floats,
the stream and backend as JSON strings), built from ``WindowDiagram``s or from the worker's
due windows; with every bar, ``write_documents`` writes each window's document after the
previous one in one buffer. The text is what ``json.dumps(diagram_to_dict(wd), separators=(
",", ":"), ensure_ascii=False)`` writes: keys in the schema's order, an unknown integer, an
infinite threshold or death and a non-finite ``compute_ms`` as ``null``, floats as ``repr``
writes them (``shortest_float``), except the bars of a window whose bars are all float32
values (the engines' output): those are written in their shortest float32 form, under
``"precision": "float32"``.

The worker encodes every window it publishes, 255 numbers for a maxdim-0 window of 128
points. orjson did that under the GIL, for about a third of the compute thread's time per
window, and wrote each float32 value with the 17 digits of its double (3.5 KB per window
against 2.4 KB now: less to checksum, copy, store and fetch).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from gpu_tda.streaming.shortest_float import (
    MAX_FLOAT_CHARS,
    MAX_INT_CHARS,
    write_float,
    write_float32,
    write_int,
)

INT_FIELDS = (
    "size",
    "stride",
    "seq",
    "partition",
    "first_offset",
    "last_offset",
    "start_ts",
    "end_ts",
    "maxdim",
    "emitted_ts",
)
"""The integer columns of ``write_documents``' ``ints``, in the order the document has them."""

_PIECES = (
    b'{"schema":"gpu-tda.diagram/1","stream":',
    b',"window":{"size":',
    b',"stride":',
    b',"seq":',
    b',"partition":',
    b',"first_offset":',
    b',"last_offset":',
    b',"start_ts":',
    b',"end_ts":',
    b'},"maxdim":',
    b',"threshold":',
    b',"backend":',
    b',"precision":"float32","diagrams":[',
    b'],"compute_ms":',
    b',"emitted_ts":',
    b"}",
    b',"precision":"float64","diagrams":[',
)
PIECES = np.frombuffer(b"".join(_PIECES), dtype=np.uint8).copy()
PIECE_AT = np.cumsum([0] + [len(p) for p in _PIECES]).astype(np.int64)

_BAR_CHARS = 2 * MAX_FLOAT_CHARS + 4  # [birth,death] and a comma


def max_bytes(windows: int, dims: int, bars: int, text: int) -> int:
    """An upper bound on what ``write_documents`` writes for that many windows, dimensions
    (over all windows), bars and bytes of stream and backend text."""
    per_window = len(PIECES) + len(INT_FIELDS) * MAX_INT_CHARS + 2 * MAX_FLOAT_CHARS
    return windows * per_window + dims * 3 + bars * _BAR_CHARS + text


@nb.njit(cache=True, nogil=True, inline="always")
def _copy(out, pos, text, start, end):
    for i in range(start, end):
        out[pos] = text[i]
        pos += 1
    return pos


@nb.njit(cache=True, nogil=True, inline="always")
def _piece(out, pos, j):
    return _copy(out, pos, PIECES, PIECE_AT[j], PIECE_AT[j + 1])


@nb.njit(cache=True, nogil=True, inline="always")
def _null(out, pos):
    out[pos] = 110  # "null"
    out[pos + 1] = 117
    out[pos + 2] = 108
    out[pos + 3] = 108
    return pos + 4


@nb.njit(cache=True, nogil=True, inline="always")
def _number(out, pos, value, known):
    return write_int(out, pos, value) if known else _null(out, pos)


@nb.njit(cache=True, nogil=True, inline="always")
def _finite(out, pos, value):
    return write_float(out, pos, value) if np.isfinite(value) else _null(out, pos)


@nb.njit(cache=True, nogil=True, inline="always")
def _all_float32(bars, first, last):
    """Whether every bar of ``bars[first:last]`` is a float32 value (an infinite death is)."""
    for b in range(first, last):
        for v in (bars[b, 0], bars[b, 1]):
            if np.float64(np.float32(v)) != v:
                return False
    return True


@nb.njit(cache=True, nogil=True, inline="always")
def _bar(out, pos, birth, death, single):
    """Write ``[birth,death]`` (an infinite death as null), as float32 when ``single``."""
    out[pos] = 91
    if birth == 0.0 and not np.signbit(birth):  # "[0.0,": every H0 bar's birth
        out[pos + 1] = 48
        out[pos + 2] = 46
        out[pos + 3] = 48
        pos += 4
    elif single:
        pos = write_float32(out, pos + 1, birth)
    else:
        pos = write_float(out, pos + 1, birth)
    out[pos] = 44
    pos += 1
    if not np.isfinite(death):
        pos = _null(out, pos)
    elif single:
        pos = write_float32(out, pos, death)
    else:
        pos = write_float(out, pos, death)
    out[pos] = 93  # "]"
    return pos + 1


@nb.njit(cache=True, nogil=True)
def write_documents(ints, known, floats, text, text_at, dims_at, bar_counts, bars, out, ends):
    """Write window ``w``'s document to ``out[ends[w - 1]:ends[w]]`` for every window.

    ``ints`` (B, len(INT_FIELDS)) int64 and ``known`` (same shape, bool: False writes null);
    ``floats`` (B, 2): threshold, compute_ms; ``text`` uint8 with ``text_at`` (B, 4): the start
    and end of the stream's and of the backend's JSON string; window ``w``'s dimensions are
    ``bar_counts[dims_at[w]:dims_at[w + 1]]`` bars each, the bars (total, 2) float64 in window
    and dimension order, none NaN, no birth infinite (an infinite death is null). ``out`` must
    hold ``max_bytes`` of them. Returns the bytes written.
    """
    pos = 0
    bar = 0
    for w in range(ints.shape[0]):
        pos = _piece(out, pos, 0)
        pos = _copy(out, pos, text, text_at[w, 0], text_at[w, 1])
        for j in range(9):  # size ... maxdim
            pos = _piece(out, pos, j + 1)
            pos = _number(out, pos, ints[w, j], known[w, j])
        pos = _piece(out, pos, 10)
        pos = _finite(out, pos, floats[w, 0])
        pos = _piece(out, pos, 11)
        pos = _copy(out, pos, text, text_at[w, 2], text_at[w, 3])
        first, last = bar, bar + bar_counts[dims_at[w] : dims_at[w + 1]].sum()
        single = _all_float32(bars, first, last)
        pos = _piece(out, pos, 12 if single else 16)
        for d in range(dims_at[w], dims_at[w + 1]):
            if d > dims_at[w]:
                out[pos] = 44  # ","
                pos += 1
            out[pos] = 91  # "["
            pos += 1
            for b in range(bar, bar + bar_counts[d]):
                if b > bar:
                    out[pos] = 44
                    pos += 1
                pos = _bar(out, pos, bars[b, 0], bars[b, 1], single)
            bar += bar_counts[d]
            out[pos] = 93
            pos += 1
        pos = _piece(out, pos, 13)
        pos = _finite(out, pos, floats[w, 1])
        pos = _piece(out, pos, 14)
        pos = _number(out, pos, ints[w, 9], known[w, 9])
        pos = _piece(out, pos, 15)
        ends[w] = pos
    return pos
