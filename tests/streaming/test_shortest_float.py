"""shortest_float: numbers as JSON text in numba, checked against Python's repr and numpy."""

from __future__ import annotations

from fractions import Fraction

import numba as nb
import numpy as np
import pytest

from gpu_tda.streaming.shortest_float import (
    MAX_FLOAT_CHARS,
    MAX_INT_CHARS,
    flog2pow10,
    flog10_three_quarters_pow2,
    flog10pow2,
    write_float,
    write_float32,
    write_int,
)


@nb.njit(cache=True)
def _texts(values, single):
    out = np.empty(values.shape[0] * MAX_FLOAT_CHARS, dtype=np.uint8)
    ends = np.empty(values.shape[0] + 1, dtype=np.int64)
    ends[0] = 0
    pos = 0
    for i in range(values.shape[0]):
        pos = write_float32(out, pos, values[i]) if single else write_float(out, pos, values[i])
        ends[i + 1] = pos
    return out, ends


@nb.njit(cache=True)
def _int_texts(values):
    out = np.empty(values.shape[0] * MAX_INT_CHARS, dtype=np.uint8)
    ends = np.empty(values.shape[0] + 1, dtype=np.int64)
    ends[0] = 0
    pos = 0
    for i in range(values.shape[0]):
        pos = write_int(out, pos, values[i])
        ends[i + 1] = pos
    return out, ends


def texts(values: np.ndarray, single: bool = False) -> list[bytes]:
    out, ends = _texts(np.asarray(values, dtype=np.float64), single)
    raw = out.tobytes()
    return [raw[a:b] for a, b in zip(ends[:-1].tolist(), ends[1:].tolist(), strict=True)]


def float32_text(value: float) -> bytes:
    """numpy's shortest float32 digits, laid out as repr lays out a double."""
    return repr(float(np.format_float_scientific(np.float32(value), unique=True))).encode()


def doubles_to_check() -> np.ndarray:
    rng = np.random.default_rng(11)
    random_bits = rng.integers(0, 0x7FF0000000000000, size=100_000, dtype=np.int64)
    powers = np.array([10.0**e for e in range(-323, 309)] + [2.0**e for e in range(-1074, 1024)])
    return np.concatenate([
        random_bits.view(np.float64),
        -random_bits[:2000].view(np.float64),
        powers,
        np.nextafter(powers, np.inf),
        np.nextafter(powers, 0.0),
        np.arange(1, 3000, dtype=np.int64).view(np.float64),  # the smallest subnormals
        rng.random(50_000).astype(np.float32),  # what the engines produce
        rng.integers(-(2**53), 2**53, size=5000).astype(np.float64),
        [0.0, -0.0, 1.0, 123.0, 1e15, 1e16, 2.0**53 - 1, 2.0**53, 1e-4, 1e-5, 0.1, 5e-324,
         np.finfo(np.float64).max, np.finfo(np.float64).tiny],
    ])  # fmt: skip


def test_write_float_is_repr_for_every_kind_of_double():
    values = doubles_to_check()
    got = texts(values)
    wrong = [(v, t) for v, t in zip(values.tolist(), got, strict=True) if t != repr(v).encode()]
    assert not wrong, wrong[:5]
    assert max(map(len, got)) <= MAX_FLOAT_CHARS


def test_write_float32_is_numpys_shortest_and_reads_back_as_the_same_float32():
    rng = np.random.default_rng(12)
    bits = rng.integers(0, 0x7F800000, size=100_000, dtype=np.int64).astype(np.uint32)
    powers = np.array([2.0**e for e in range(-149, 128)] + [10.0**e for e in range(-45, 39)])
    values = np.concatenate([
        bits.view(np.float32),
        -bits[:2000].view(np.float32),
        np.arange(1, 3000, dtype=np.uint32).view(np.float32),
        powers.astype(np.float32),
        rng.random(50_000).astype(np.float32),
        np.array([0.0, -0.0, 16777216.0, 16777215.0, 0.1, 1e-5, 3.4028235e38], np.float32),
    ]).astype(np.float64)  # fmt: skip
    got = texts(values, single=True)
    wrong = [(v, t) for v, t in zip(values.tolist(), got, strict=True) if t != float32_text(v)]
    assert not wrong, wrong[:5]
    back = np.array([float(t) for t in got]).astype(np.float32)
    np.testing.assert_array_equal(back, values.astype(np.float32))


def test_write_int_covers_the_int64_range():
    values = np.array(
        [0, 1, -1, 9, 10, 99, 100, 2**63 - 1, -(2**63), 1764190000000]
        + [10**k + d for k in range(1, 19) for d in (-1, 0, 1)],
        dtype=np.int64,
    )
    out, ends = _int_texts(values)
    raw = out.tobytes()
    got = [raw[a:b] for a, b in zip(ends[:-1].tolist(), ends[1:].tolist(), strict=True)]
    assert got == [str(v).encode() for v in values.tolist()]


@pytest.mark.parametrize(
    ("helper", "exact"),
    [
        (flog10pow2, lambda e: _log10_floor(Fraction(2) ** e)),
        (flog10_three_quarters_pow2, lambda e: _log10_floor(Fraction(3, 4) * Fraction(2) ** e)),
    ],
)
def test_log_helpers_are_exact_over_every_binary_exponent(helper, exact):
    for e in range(-1100, 1100):
        assert helper(e) == exact(e), e


def test_flog2pow10_is_exact_over_every_decimal_exponent():
    for e in range(-360, 360):
        value = Fraction(10) ** e
        expected = value.numerator.bit_length() - value.denominator.bit_length()
        if Fraction(2) ** expected > value:  # bit lengths can overshoot by one
            expected -= 1
        assert flog2pow10(e) == expected, e


def _log10_floor(value: Fraction) -> int:
    k = len(str(value.numerator)) - len(str(value.denominator))
    while Fraction(10) ** k > value:
        k -= 1
    while Fraction(10) ** (k + 1) <= value:
        k += 1
    return k
