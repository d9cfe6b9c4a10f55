"""float64 / float32 / int64 -> JSON number text in numba, for writing output values in bulk.

``write_float(out, pos, x)`` writes the text Python's ``repr(x)`` gives for a finite double
(``0.1``, ``123.0``, ``1e-05``, ``1.2345678901234568e+16``): the shortest decimal that reads
back as exactly ``x``, and of those the nearest to ``x``. That keeps ``decode_diagram(
encode_diagram(wd))`` bit-exact, and the text the same as the standard library's ``json``.
``write_float32`` does the same for a float32 value: numpy's shortest digits for it (at most
9), laid out as ``repr`` lays out a double. Written in numba they run outside the GIL, beside
the kernels, where ``json`` or orjson would hold it for every bar.

The digits come from Giulietti's Schubfach method ("The Schubfach way to render doubles",
2020): with ``x = c 2**q``, pick ``k = floor(log10(2**q))``, so that the interval of decimals
rounding to ``x`` (width ``2**q``) holds at most one multiple of ``10**(k+1)`` and one or two
of ``10**k``. Scale ``c``, and the interval's ends, by a 126-bit approximation ``g`` of
``10**-k`` (one table row per ``k``) rounded to odd, which the method proves exact enough to
decide membership. If a multiple of ``10**(k+1)`` lies inside, it is the shortest decimal;
otherwise the nearer member at ``10**k`` is. For float32 the same steps need only the table's
high word. Trailing zeros are then dropped and the digits laid out as ``repr`` does: plain
notation for decimal exponents -4 to 15, scientific beyond. Unlike Java's ``toString``, whose
reference implementation this follows, a one-digit result is allowed (``5e-324``, as ``repr``).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from gpu_tda.kernels.bits import leading_zeros, mul128

MAX_FLOAT_CHARS = 24
"""Longest text ``write_float`` writes (``-1.2345678901234567e-308``)."""

MAX_INT_CHARS = 20
"""Longest text ``write_int`` writes (``-9223372036854775808``)."""

_Q_MIN = -1074  # the binary exponent of subnormals: x = c 2**q
_C_MIN = 1 << 52  # the hidden bit: normal significands are >= this
_Q_MIN32, _C_MIN32 = -149, 1 << 23  # the same for float32
_K_MIN, _K_MAX = -324, 292  # flog10pow2(_Q_MIN), flog10pow2(971)


@nb.njit(cache=True, nogil=True, inline="always")
def flog10pow2(e: int) -> int:
    """floor(log10(2**e)), exact over every binary exponent of a double (tested)."""
    return (e * 661_971_961_083) >> 41


@nb.njit(cache=True, nogil=True, inline="always")
def flog10_three_quarters_pow2(e: int) -> int:
    """floor(log10(3/4 * 2**e)): ``k`` for a power of two, whose lower gap is half the upper."""
    return (e * 661_971_961_083 - 274_743_187_321) >> 41


@nb.njit(cache=True, nogil=True, inline="always")
def flog2pow10(e: int) -> int:
    """floor(log2(10**e)), exact over every decimal exponent of a double (tested)."""
    return (e * 913_124_641_741) >> 38


def _g_table() -> np.ndarray:
    """(K_MAX - K_MIN + 1, 2) uint64: ``g = floor(10**-k * 2**(125 - flog2pow10(-k))) + 1``
    (126 bits) split as ``g // 2**63`` and ``g % 2**63``, exactly, from Python integers."""
    rows = []
    for k in range(_K_MIN, _K_MAX + 1):
        shift = 125 - flog2pow10(-k)  # 10**-k * 2**shift lies in [2**125, 2**126)
        num, den = (10**-k, 1) if k <= 0 else (1, 10**k)
        if shift >= 0:
            num <<= shift
        else:
            den <<= -shift
        g = num // den + 1
        rows.append((g >> 63, g & ((1 << 63) - 1)))
    return np.array(rows, dtype=np.uint64)


_G = _g_table()
_U1, _U2, _U23, _U31, _U32 = np.uint64(1), np.uint64(2), np.uint64(23), np.uint64(31), np.uint64(32)
_U52, _U63 = np.uint64(52), np.uint64(63)
_LOW32 = np.uint64((1 << 32) - 1)
_LOW63 = np.uint64((1 << 63) - 1)
_LOW31 = np.uint64((1 << 31) - 1)
_FRACTION = np.uint64((1 << 52) - 1)
_FRACTION32 = np.uint64((1 << 23) - 1)
_TENTH = np.uint64(115_292_150_460_684_698 << 4)  # ceil(2**64 / 10): mulhi(s, it) = s // 10
_TEN, _E8 = np.uint64(10), np.uint64(10**8)
_HUNDRED32 = np.uint32(100)
_POW10 = np.array([10**i for i in range(20)], dtype=np.uint64)
_PAIRS = np.frombuffer("".join(f"{i:02d}" for i in range(100)).encode(), dtype=np.uint8).copy()


@nb.njit(cache=True, nogil=True, inline="always")
def _rop(g1, g0, cp):
    """``cp * g / 2**127`` rounded to odd (its last bit set when inexact), g = g1 2**63 + g0."""
    x1, _ = mul128(g0, cp)
    y1, y0 = mul128(g1, cp)
    z = (y0 >> _U1) + x1
    whole = y1 + (z >> _U63)
    return whole | (((z & _LOW63) + _LOW63) >> _U63)


@nb.njit(cache=True, nogil=True)
def _schubfach(q, c):
    """(f, e): the shortest (then nearest) decimal ``f 10**e`` that rounds to ``c 2**q``."""
    odd = c & _U1  # an odd significand's interval is open: its ends round away
    cb = c << _U2
    cbr = cb + _U2
    if c != np.uint64(_C_MIN) or q == _Q_MIN:
        cbl = cb - _U2
        k = flog10pow2(q)
    else:  # a power of two: the gap below is half the gap above
        cbl = cb - _U1
        k = flog10_three_quarters_pow2(q)
    h = np.uint64(q + flog2pow10(-k) + 2)
    g1, g0 = _G[k - _K_MIN, 0], _G[k - _K_MIN, 1]
    vb = _rop(g1, g0, cb << h)
    vbl = _rop(g1, g0, cbl << h)
    vbr = _rop(g1, g0, cbr << h)
    return _choose(vb, vbl, vbr, odd, k)


@nb.njit(cache=True, nogil=True, inline="always")
def _choose(vb, vbl, vbr, odd, k):
    """Schubfach's last step: ``vb``, ``vbl``, ``vbr`` are the value and its interval's ends
    scaled by ``10**-k`` (times 4, rounded to odd); the decimal (f, e) to write."""
    s = vb >> _U2
    if s >= np.uint64(10):  # the one multiple of 10**(k+1) inside, if any: the shortest
        hi, _ = mul128(s, _TENTH)
        sp10 = _TEN * hi
        tp10 = sp10 + _TEN
        upin = vbl + odd <= sp10 << _U2
        wpin = (tp10 << _U2) + odd <= vbr
        if upin != wpin:
            return (sp10 if upin else tp10), k
    t = s + _U1
    uin = vbl + odd <= s << _U2
    win = (t << _U2) + odd <= vbr
    if uin != win:
        return (s if uin else t), k
    cmp = np.int64(vb) - np.int64((s + t) << _U1)  # both inside: the nearer, ties to even
    return (s if cmp < 0 or (cmp == 0 and s & _U1 == 0) else t), k


@nb.njit(cache=True, nogil=True, inline="always")
def _rop32(g, cp):
    """``cp * g / 2**95`` rounded to odd, for float32 significands (g: 63 bits)."""
    x1, _ = mul128(g, cp)
    return (x1 >> _U31) | (((x1 & _LOW32) + _LOW32) >> _U32)


@nb.njit(cache=True, nogil=True)
def _schubfach32(q, c):
    """``_schubfach`` for a float32 ``c 2**q``: the same steps, with a 64-bit ``g`` (the
    double table's high word plus one) and a 32-bit ``cp``."""
    odd = c & _U1
    cb = c << _U2
    cbr = cb + _U2
    if c != np.uint64(_C_MIN32) or q == _Q_MIN32:
        cbl = cb - _U2
        k = flog10pow2(q)
    else:
        cbl = cb - _U1
        k = flog10_three_quarters_pow2(q)
    h = np.uint64(q + flog2pow10(-k) + 33)
    g = _G[k - _K_MIN, 0] + _U1
    vb = _rop32(g, cb << h)
    vbl = _rop32(g, cbl << h)
    vbr = _rop32(g, cbr << h)
    return _choose(vb, vbl, vbr, odd, k)


@nb.njit(cache=True, nogil=True)
def _decimal(bits):
    """(f, e) of the finite, nonzero double with magnitude bits ``bits``."""
    biased = np.int64(bits >> _U52)
    fraction = bits & _FRACTION
    if biased == 0:  # subnormal
        return _schubfach(_Q_MIN, fraction)
    c = fraction | np.uint64(_C_MIN)
    down = 1075 - biased  # x = c / 2**down
    whole = c >> np.uint64(down) if 0 < down < 53 else np.uint64(0)
    if whole and whole << np.uint64(down) == c:  # an integer below 2**53 is its own form
        return whole, 0
    return _schubfach(-down, c)


@nb.njit(cache=True, nogil=True)
def _decimal32(bits):
    """(f, e) of the finite, nonzero float32 with magnitude bits ``bits`` (a uint64)."""
    biased = np.int64(bits >> _U23)
    fraction = bits & _FRACTION32
    if biased == 0:
        return _schubfach32(_Q_MIN32, fraction)
    c = fraction | np.uint64(_C_MIN32)
    down = 150 - biased
    whole = c >> np.uint64(down) if 0 < down < 24 else np.uint64(0)
    if whole and whole << np.uint64(down) == c:
        return whole, 0
    return _schubfach32(-down, c)


@nb.njit(cache=True, nogil=True, inline="always")
def _put_small(out, end, v, n):
    """Write the ``n`` (< 9) digits of the uint32 ``v`` so that the last is at ``end - 1``."""
    i = end
    while n >= 2:
        pair = v % _HUNDRED32
        v //= _HUNDRED32
        i -= 2
        out[i] = _PAIRS[2 * pair]
        out[i + 1] = _PAIRS[2 * pair + 1]
        n -= 2
    if n:
        out[i - 1] = _PAIRS[2 * v + 1]


@nb.njit(cache=True, nogil=True, inline="always")
def _put_digits(out, end, f, n):
    """Write the ``n`` digits of the uint64 ``f`` (leading zeros included) so that the last is
    at ``end - 1``: eight at a time in 32-bit arithmetic, whose chains overlap."""
    while n > 8:
        _put_small(out, end, np.uint32(f % _E8), 8)
        f //= _E8
        end -= 8
        n -= 8
    _put_small(out, end, np.uint32(f), n)


@nb.njit(cache=True, nogil=True)
def write_float(out, pos, x):
    """Write ``repr(x)`` of a finite double ``x`` to the uint8 array ``out`` at ``pos``; return
    the position after it. ``out`` must have ``MAX_FLOAT_CHARS`` bytes free there."""
    bits = np.float64(x).view(np.uint64)
    pos = _sign(out, pos, bits >> _U63)
    bits &= _LOW63
    if bits == 0:
        return _zero(out, pos)
    f, e = _decimal(bits)
    return _layout(out, pos, f, e)


@nb.njit(cache=True, nogil=True)
def write_float32(out, pos, x):
    """Write the shortest text that reads back as the finite float32 ``x`` (rounded to
    float32), laid out as ``repr`` lays out a double: ``repr(float(t))`` of numpy's shortest
    ``t``. At most ``MAX_FLOAT_CHARS`` bytes."""
    bits = np.uint64(np.float32(x).view(np.uint32))
    pos = _sign(out, pos, bits >> _U31)
    bits &= _LOW31
    if bits == 0:
        return _zero(out, pos)
    f, e = _decimal32(bits)
    return _layout(out, pos, f, e)


@nb.njit(cache=True, nogil=True, inline="always")
def _sign(out, pos, negative):
    if negative:
        out[pos] = 45  # "-"
        return pos + 1
    return pos


@nb.njit(cache=True, nogil=True, inline="always")
def _zero(out, pos):
    out[pos] = 48  # "0.0"
    out[pos + 1] = 46
    out[pos + 2] = 48
    return pos + 3


@nb.njit(cache=True, nogil=True)
def _layout(out, pos, f, e):
    """Write ``f 10**e`` (f > 0) as ``repr`` would: trailing zeros dropped, plain notation
    for decimal exponents -4 to 15, scientific beyond."""
    while f % _TEN == 0:
        f //= _TEN
        e += 1
    t = ((64 - leading_zeros(f)) * 1233) >> 12  # floor(log10(2**bit_length)), n or n - 1
    n = t + 1 if f >= _POW10[t] else t
    point = e + n  # x = 0.d1d2...dn * 10**point
    if point <= 0 and point > -4:  # 0.000ddd (repr's plain notation reaches down to 1e-4)
        out[pos] = 48
        out[pos + 1] = 46
        for i in range(-point):
            out[pos + 2 + i] = 48
        end = pos + 2 - point + n
        _put_digits(out, end, f, n)
        return end
    if 0 < point < n:  # ddd.ddd
        low = n - point
        _put_digits(out, pos + n + 1, f % _POW10[low], low)
        out[pos + point] = 46
        _put_digits(out, pos + point, f // _POW10[low], point)
        return pos + n + 1
    if n <= point <= 16:  # ddd000.0 (and up to 1e16)
        _put_digits(out, pos + n, f, n)
        for i in range(point - n):
            out[pos + n + i] = 48
        end = pos + point
        out[end] = 46
        out[end + 1] = 48
        return end + 2
    out[pos] = _PAIRS[2 * (f // _POW10[n - 1]) + 1]  # scientific: d[.ddd]e(+|-)XX
    pos += 1
    if n > 1:
        out[pos] = 46
        _put_digits(out, pos + n, f % _POW10[n - 1], n - 1)
        pos += n
    exp = point - 1
    out[pos] = 101  # "e"
    out[pos + 1] = 45 if exp < 0 else 43
    pos += 2
    exp = abs(exp)
    if exp >= 100:
        out[pos] = 48 + exp // 100
        pos += 1
    out[pos] = 48 + exp // 10 % 10
    out[pos + 1] = 48 + exp % 10
    return pos + 2


@nb.njit(cache=True, nogil=True)
def write_int(out, pos, value):
    """Write the decimal text of the int64 ``value`` at ``pos``; return the position after it.
    ``out`` must have ``MAX_INT_CHARS`` bytes free there."""
    v = np.int64(value)
    if v < 0:
        out[pos] = 45
        pos += 1
    magnitude = np.uint64(0) - np.uint64(v) if v < 0 else np.uint64(v)  # int64 min included
    n = 1
    rest = magnitude // np.uint64(10)
    while rest:
        rest //= np.uint64(10)
        n += 1
    for i in range(n - 1, -1, -1):
        out[pos + i] = 48 + magnitude % _TEN
        magnitude //= _TEN
    return pos + n
