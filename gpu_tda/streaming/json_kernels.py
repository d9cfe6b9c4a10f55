"""JSON input messages -> the binary encoding, in numba: a micro-batch's JSON in one call.

``decode.decode_json`` costs about 18 µs for a message of 32 points, most of it building a
numpy array from nested Python lists. ``json_to_binary`` reads the messages' bytes directly:
each message it accepts becomes the binary message (``decode``'s layout) that
``encode_points_binary(*decode_json(value))`` would give, bit for bit, and
``ring_kernels.append_binary`` applies it like any other.

It accepts only the common form, strictly by the JSON grammar: an object with a ``"points"``
list of equally long rows of numbers and an optional integer ``"ts"``, whitespace anywhere
between tokens. Anything else (other or repeated keys, escapes, a float or null ``ts``,
integers of more than 15 digits, numbers of more than 19 significant digits or that
``decimal_float`` cannot round, empty lists, invalid JSON) is refused, and the caller decodes
that message in Python, which either reads it or says why it is invalid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba as nb
import numpy as np

from gpu_tda.streaming.decimal_float import MAX_DIGITS, to_float64
from gpu_tda.streaming.decode import FLAG_TS, HEADER, MAGIC, MAX_DIM, TS, VERSION

OK, REFUSED = 0, 1
"""``json_to_binary``'s status of each message."""

_MAX_INT_DIGITS = 15  # an integer literal this long is an exact double, whatever numpy makes of it
_MAX_TS_DIGITS = 18  # fits an int64
_HEADER, _TS, _VERSION, _FLAG_TS = HEADER.size, TS.size, VERSION, FLAG_TS  # decode's layout
_MAGIC = np.frombuffer(MAGIC, dtype=np.uint8).copy()
_TEN = np.uint64(10)
_POINTS_KEY = np.frombuffer(b"points", dtype=np.uint8).copy()


def as_binary(values: Sequence[bytes]) -> list[memoryview | None]:
    """Each JSON message of ``values`` as its binary message (a view of one buffer), or None
    where ``json_to_binary`` refused it: one numba call for all of them."""
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    starts = np.zeros_like(lengths)
    np.cumsum(lengths[:-1], out=starts[1:])
    raw = np.frombuffer(b"".join(values), dtype=np.uint8)
    # a number takes at least 2 bytes of JSON (a digit and a separator) and 8 of binary
    words = 4 * int(lengths.sum()) // 8 + (_HEADER + _TS + 8) // 8 * len(values) + 1
    out = np.empty(words, dtype=np.int64).view(np.uint8)
    at, size = np.empty_like(lengths), np.empty_like(lengths)
    status = np.empty(len(values), dtype=np.int8)
    json_to_binary(raw, starts, lengths, out, at, size, status)
    view = memoryview(out)
    return [
        view[a : a + n] if s == OK else None
        for a, n, s in zip(at.tolist(), size.tolist(), status.tolist(), strict=True)
    ]


@nb.njit(cache=True, nogil=True, inline="always")
def _skip_ws(raw, pos, end):
    while pos < end:
        c = raw[pos]
        if c != 32 and c != 10 and c != 13 and c != 9:
            break
        pos += 1
    return pos


@nb.njit(cache=True, nogil=True, inline="always")
def _number(raw, pos, end):
    """The JSON number at ``pos``: (position after it, ok, value, is an integer literal)."""
    negative = pos < end and raw[pos] == 45  # '-'
    if negative:
        pos += 1
    if pos >= end or not 48 <= raw[pos] <= 57:
        return pos, False, 0.0, False
    w = np.uint64(0)
    digits = 0  # significant digits in w
    q = 0
    if raw[pos] == 48:  # '0': no more integer digits may follow
        pos += 1
    else:
        first = pos
        while pos < end and 48 <= raw[pos] <= 57:
            w = w * _TEN + np.uint64(raw[pos] - 48)
            pos += 1
        digits = pos - first
    integer = True
    if pos < end and raw[pos] == 46:  # '.'
        integer = False
        pos += 1
        if pos >= end or not 48 <= raw[pos] <= 57:
            return pos, False, 0.0, False
        first = pos
        if digits == 0:  # leading zeros of the fraction are not significant
            while pos < end and raw[pos] == 48:
                pos += 1
        significant = pos
        while pos < end and 48 <= raw[pos] <= 57:
            w = w * _TEN + np.uint64(raw[pos] - 48)
            pos += 1
        digits += pos - significant
        q -= pos - first
    if pos < end and (raw[pos] == 101 or raw[pos] == 69):  # 'e' or 'E'
        integer = False
        pos += 1
        exp_negative = pos < end and raw[pos] == 45
        if pos < end and (raw[pos] == 43 or raw[pos] == 45):  # '+' or '-'
            pos += 1
        if pos >= end or not 48 <= raw[pos] <= 57:
            return pos, False, 0.0, False
        exponent = 0
        while pos < end and 48 <= raw[pos] <= 57:
            if exponent > 100000:
                return pos, False, 0.0, False
            exponent = exponent * 10 + (raw[pos] - 48)
            pos += 1
        q += -exponent if exp_negative else exponent
    if digits > (_MAX_INT_DIGITS if integer else MAX_DIGITS):
        return pos, False, 0.0, False
    if integer:  # numpy reads an integer literal as an int: "-0" is 0.0, not -0.0
        value = np.float64(w)
        return pos, True, -value if negative and digits else value, True
    ok, value = to_float64(w, q, negative)
    return pos, ok, value, False


@nb.njit(cache=True, nogil=True)
def _key(raw, pos, end):
    """The object key at ``pos`` (after its opening quote): (position after the closing
    quote, 1 for "points", 2 for "ts", 0 for any other key or an escape)."""
    first = pos
    while pos < end and raw[pos] != 34:  # '"'
        if raw[pos] == 92:  # a backslash: refused
            return end, 0
        pos += 1
    if pos >= end:
        return end, 0
    n = pos - first
    which = 0
    if n == _POINTS_KEY.shape[0]:
        which = 1  # points
        for j in range(n):
            if raw[first + j] != _POINTS_KEY[j]:
                which = 0
    elif n == 2 and raw[first] == 116 and raw[first + 1] == 115:
        which = 2  # ts
    return pos + 1, which


@nb.njit(cache=True, nogil=True)
def _points(raw, pos, end, data, at):
    """The "points" list at ``pos``: its numbers written to ``data[at:]`` row by row.
    Returns (position after it, ok, rows, numbers per row)."""
    if pos >= end or raw[pos] != 91:  # '['
        return pos, False, 0, 0
    pos = _skip_ws(raw, pos + 1, end)
    rows = 0
    dim = -1
    k = at
    while True:
        if pos >= end or raw[pos] != 91:
            return pos, False, 0, 0
        pos = _skip_ws(raw, pos + 1, end)
        count = 0
        while True:
            pos, ok, value, _ = _number(raw, pos, end)
            if not ok:
                return pos, False, 0, 0
            data[k] = value
            k += 1
            count += 1
            pos = _skip_ws(raw, pos, end)
            if pos >= end:
                return pos, False, 0, 0
            if raw[pos] == 93:  # ']'
                break
            if raw[pos] != 44:  # ','
                return pos, False, 0, 0
            pos = _skip_ws(raw, pos + 1, end)
        if dim == -1:
            dim = count
        if count != dim or dim > MAX_DIM:
            return pos, False, 0, 0
        rows += 1
        pos = _skip_ws(raw, pos + 1, end)
        if pos >= end:
            return pos, False, 0, 0
        if raw[pos] == 93:
            return pos + 1, True, rows, dim
        if raw[pos] != 44:
            return pos, False, 0, 0
        pos = _skip_ws(raw, pos + 1, end)


@nb.njit(cache=True, nogil=True)
def _ts(raw, pos, end):
    """The integer "ts" at ``pos``: (position after it, ok, ts)."""
    negative = pos < end and raw[pos] == 45
    if negative:
        pos += 1
    if pos >= end or not 48 <= raw[pos] <= 57:
        return pos, False, 0
    digits = 0
    ts = 0
    if raw[pos] == 48:
        pos += 1
        digits = 1
    else:
        while pos < end and 48 <= raw[pos] <= 57:
            ts = ts * 10 + (raw[pos] - 48)
            digits += 1
            pos += 1
    if digits > _MAX_TS_DIGITS:
        return pos, False, 0
    if pos < end and (raw[pos] == 46 or raw[pos] == 101 or raw[pos] == 69):  # a float ts
        return pos, False, 0
    return pos, True, -ts if negative else ts


@nb.njit(cache=True, nogil=True)
def _message(raw, pos, end, out, at):
    """One message at ``raw[pos:end]`` written as binary at ``out[at:]`` (8-byte aligned):
    its length in bytes, or -1 when refused."""
    words = out.view(np.int64)
    data = words.view(np.float64)
    first = (at + _HEADER + _TS) // 8  # points go after a ts slot; moved down if no ts
    pos = _skip_ws(raw, pos, end)
    if pos >= end or raw[pos] != 123:  # '{'
        return -1
    pos = _skip_ws(raw, pos + 1, end)
    n = dim = -1
    has_ts = False
    ts = 0
    while True:
        if pos >= end or raw[pos] != 34:
            return -1
        pos, which = _key(raw, pos + 1, end)
        pos = _skip_ws(raw, pos, end)
        if which == 0 or pos >= end or raw[pos] != 58:  # ':'
            return -1
        pos = _skip_ws(raw, pos + 1, end)
        if which == 1 and n == -1:
            pos, ok, n, dim = _points(raw, pos, end, data, first)
        elif which == 2 and not has_ts:
            pos, ok, ts = _ts(raw, pos, end)
            has_ts = True
        else:  # a repeated key
            return -1
        if not ok:
            return -1
        pos = _skip_ws(raw, pos, end)
        if pos >= end:
            return -1
        if raw[pos] == 125:  # '}'
            break
        if raw[pos] != 44:
            return -1
        pos = _skip_ws(raw, pos + 1, end)
    if _skip_ws(raw, pos + 1, end) != end or n == -1:
        return -1
    for j in range(_MAGIC.shape[0]):
        out[at + j] = _MAGIC[j]
    out[at + 4] = _VERSION
    out[at + 5] = _FLAG_TS if has_ts else 0
    out[at + 6] = dim & 0xFF
    out[at + 7] = dim >> 8
    for b in range(4):
        out[at + 8 + b] = (n >> (8 * b)) & 0xFF
        out[at + 12 + b] = 0
    if has_ts:
        words[(at + _HEADER) // 8] = ts
        return _HEADER + _TS + 8 * n * dim
    for k in range(first, first + n * dim):  # no ts: the points start right after the header
        data[k - 1] = data[k]
    return _HEADER + 8 * n * dim


@nb.njit(cache=True, nogil=True)
def json_to_binary(raw, starts, lengths, out, out_starts, out_lengths, status):
    """Each JSON message ``raw[starts[i]:starts[i] + lengths[i]]`` as a binary message at
    ``out[out_starts[i]:out_starts[i] + out_lengths[i]]`` (``status[i]`` OK), or refused
    (REFUSED; see the module doc). ``out`` is 8-byte aligned and holds 4 bytes per byte of
    JSON plus 32 per message. Returns the bytes of ``out`` used."""
    at = 0
    for i in range(starts.shape[0]):
        length = _message(raw, starts[i], starts[i] + lengths[i], out, at)
        if length < 0:
            status[i] = REFUSED
            out_starts[i] = at
            out_lengths[i] = 0
        else:
            status[i] = OK
            out_starts[i] = at
            out_lengths[i] = length
            at += length
    return at
