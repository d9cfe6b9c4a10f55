"""Decimal -> float64 in numba, correctly rounded or refused: for parsing JSON numbers in bulk.

``to_float64(w, q, negative)`` gives the double nearest to ``w * 10**q`` (ties to even), the
value Python's ``float()`` gives for the same text, or reports that it cannot decide. Two
methods, both exact where they answer:

- Clinger's fast path: when ``w < 2**53`` and ``|q| <= 22``, ``w`` and ``10**|q|`` are exact
  doubles, so one IEEE multiplication or division rounds correctly.
- The Eisel-Lemire method: multiply ``w`` (normalized) by a 128-bit approximation of
  ``5**q``, keep the top 54 bits and round. The approximation's error cannot change the result
  except in cases it detects (the product's low bits too close to a half-way point, a value
  that lands exactly half-way, a subnormal or overflowing result): those are refused, about
  one input in a billion for random decimals, and the caller parses the text another way.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from gpu_tda.kernels.bits import mul128

MIN_Q, MAX_Q = -342, 308
"""Decimal exponents with a power in the table (others: the value is 0 or inf, refused)."""

MAX_DIGITS = 19
"""Significant digits that fit ``w`` (a uint64) without loss."""


def _power_table() -> np.ndarray:
    """(MAX_Q - MIN_Q + 1, 2) uint64: the high and low words of ``5**q`` normalized to 128 bits
    (top bit set): truncated for q >= 0; for q < 0 the reciprocal, rounded up for q >= -27 (where
    it fits 128 bits exactly) and computed wider then truncated below. This is fast_float's
    table; the checks in ``to_float64`` that refuse what it cannot decide are Go's
    (``eiselLemire64``), correct on this table by Mushtak and Lemire's analysis of the method,
    and tested against ``float()`` at and around half-way points."""
    rows = []
    for q in range(MIN_Q, MAX_Q + 1):
        if q >= 0:
            c = 5**q
            shift = c.bit_length() - 128
            c = c >> shift if shift > 0 else c << -shift
        else:
            p = 5**-q
            z = p.bit_length()  # the least z with 2**z >= p, as p is odd and > 1
            if q >= -27:  # p < 2**64: one 128-bit quotient, exact to its last bit
                c = (1 << (z + 127)) // p + 1
            else:
                c = (1 << (2 * z + 128)) // p + 1
                c >>= max(0, c.bit_length() - 128)
        rows.append((c >> 64, c & ((1 << 64) - 1)))
    return np.array(rows, dtype=np.uint64)


_POWERS = _power_table()
_EXACT_POWERS = np.array([10.0**k for k in range(23)])  # 10**22 is the last exact double
_TWO53 = np.uint64(1 << 53)
_U0, _U1, _U3 = np.uint64(0), np.uint64(1), np.uint64(3)
_U9, _U63 = np.uint64(9), np.uint64(63)
_LOW9 = np.uint64(0x1FF)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_TOP = np.uint64(1 << 63)


@nb.njit(cache=True, nogil=True)
def to_float64(w, q, negative):
    """(ok, value): the double nearest ``(-1 if negative else 1) * w * 10**q`` for a uint64
    ``w``; ok is False when this cannot decide (see the module doc), value then meaningless."""
    w = np.uint64(w)  # numba mixing a signed w into the uint64 arithmetic would round it
    if w == _U0:
        return True, -0.0 if negative else 0.0
    if w <= _TWO53 and -22 <= q <= 22:  # Clinger: one correctly rounded operation
        value = np.float64(w)
        value = value * _EXACT_POWERS[q] if q >= 0 else value / _EXACT_POWERS[-q]
        return True, -value if negative else value
    if q < MIN_Q or q > MAX_Q:
        return False, 0.0
    clz = 0
    while w & _TOP == _U0:
        w <<= _U1
        clz += 1
    exp2 = np.int64(((217706 * q) >> 16) + 64 + 1023 - clz)
    high, low = _POWERS[q - MIN_Q, 0], _POWERS[q - MIN_Q, 1]
    x_hi, x_lo = mul128(w, high)
    if x_hi & _LOW9 == _LOW9 and x_lo + w < w:  # the truncated product may be off: widen it
        y_hi, y_lo = mul128(w, low)
        merged_hi, merged_lo = x_hi, x_lo + y_hi
        if merged_lo < x_lo:
            merged_hi += _U1
        if merged_hi & _LOW9 == _LOW9 and merged_lo == _ALL and y_lo + w < w:
            return False, 0.0
        x_hi, x_lo = merged_hi, merged_lo
    msb = x_hi >> _U63
    mantissa = x_hi >> (msb + _U9)
    exp2 -= 1 - np.int64(msb)
    if x_lo == _U0 and x_hi & _LOW9 == _U0 and mantissa & _U3 == _U1:  # exactly half-way
        return False, 0.0
    mantissa += mantissa & _U1
    mantissa >>= _U1
    if mantissa >= _TWO53:  # rounding carried into a new bit
        mantissa >>= _U1
        exp2 += 1
    if exp2 < 1 or exp2 > 0x7FE:  # subnormal, zero or infinite: refused
        return False, 0.0
    value = math.ldexp(np.float64(mantissa), exp2 - 1075)  # both exact: a normal double
    return True, -value if negative else value
