"""The numba JSON path against ``decode``: a message ``json_kernels`` accepts becomes exactly
the binary message that ``encode_points_binary(*decode_json(value))`` gives, one it refuses is
left to ``decode``, and it never accepts a value that ``decode`` finds invalid. Underneath,
``decimal_float.to_float64`` equals Python's ``float()`` wherever it answers."""

from __future__ import annotations

import json
import math
import struct
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_tda.streaming import encode_points_binary, encode_points_json
from gpu_tda.streaming.decimal_float import to_float64
from gpu_tda.streaming.decode import decode_json
from gpu_tda.streaming.exceptions import InvalidMessage
from gpu_tda.streaming.json_kernels import as_binary


def python_binary(value: bytes) -> bytes | None:
    """What the Python path makes of ``value``: its binary message, or None (invalid)."""
    try:
        return encode_points_binary(*decode_json(value))
    except InvalidMessage:
        return None


def kernel_binary(values: list[bytes]) -> list[bytes | None]:
    return [None if view is None else bytes(view) for view in as_binary(values)]


def assert_agrees(values: list[bytes]) -> int:
    """Every value: refused, or converted exactly as Python does (and only when valid).
    Returns how many the kernel converted."""
    converted = 0
    for value, got in zip(values, kernel_binary(values), strict=True):
        if got is not None:
            assert got == python_binary(value), value
            converted += 1
    return converted


def split_decimal(text: str) -> tuple[int, int, bool]:
    """A decimal literal as (digits, exponent, negative): text = digits * 10**exponent."""
    negative = text.startswith("-")
    mantissa, _, exponent = text.lstrip("-").lower().partition("e")
    whole, _, fraction = mantissa.partition(".")
    return int(whole + fraction), int(exponent or 0) - len(fraction), negative


def same_double(a: float, b: float) -> bool:
    return struct.pack("<d", a) == struct.pack("<d", b)


# -- decimal_float ------------------------------------------------------------------------------


@settings(max_examples=3000, deadline=None)
@given(x=st.floats(allow_nan=False, allow_infinity=False))
def test_shortest_reprs_of_doubles_round_trip(x):
    w, q, negative = split_decimal(repr(x))
    ok, value = to_float64(np.uint64(w), q, negative)
    if ok:
        assert same_double(value, x)


@settings(max_examples=3000, deadline=None)
@given(w=st.integers(0, 2**64 - 1), q=st.integers(-360, 330), negative=st.booleans())
def test_any_decimal_is_rounded_as_python_rounds_it_or_refused(w, q, negative):
    text = f"{'-' if negative else ''}{w}e{q}"
    ok, value = to_float64(np.uint64(w), q, negative)
    if ok:
        assert same_double(value, float(text))


@settings(max_examples=1000, deadline=None)
@given(m=st.integers(2**52, 2**53 - 1), e=st.integers(-3, 10), nudge=st.sampled_from([-1, 0, 1]))
def test_decimals_at_and_next_to_half_way_points(m, e, nudge):
    """Exactly half-way between two doubles (refused, or rounded to even) and one unit of the
    last decimal digit either side of it (the exponents whose half-way points have at most
    the 19 digits a uint64 holds)."""
    half = Fraction(2 * m + 1) * Fraction(2) ** (e - 1)
    k = half.denominator.bit_length() - 1  # half = digits / 10**k, exactly
    digits = half.numerator * 5**k + nudge
    assert digits < 2**64
    ok, value = to_float64(np.uint64(digits), -k, False)
    if ok:
        assert same_double(value, float(f"{digits}e-{k}"))


def test_exact_cases():
    assert to_float64(np.uint64(0), 5, True) == (True, -0.0)
    assert same_double(to_float64(np.uint64(0), 5, True)[1], -0.0)
    assert to_float64(np.uint64(1), -1, False) == (True, 0.1)
    assert to_float64(np.uint64(17976931348623157), 292, False) == (True, 1.7976931348623157e308)
    assert not to_float64(np.uint64(1), 309, False)[0]  # overflows: refused
    assert not to_float64(np.uint64(1), 23, False)[0]  # 1e23 lies exactly half-way
    assert not to_float64(np.uint64(2**53 + 1), 0, False)[0]  # so does 2**53 + 1


# -- json_kernels -------------------------------------------------------------------------------

numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.floats(-1e6, 1e6).map(lambda x: round(x, 3)),
    st.integers(-(10**15) + 1, 10**15 - 1),
)


def formatted(x: float | int, style: int) -> str:
    if isinstance(x, int):
        return str(x)
    return [repr, lambda v: f"{v:.17e}", lambda v: f"{v:.6E}", lambda v: f"{v:.25f}"][style](x)


@st.composite
def documents(draw) -> bytes:
    """A points message as some producer may write it: any number formatting, whitespace,
    key order, with or without ts."""
    n, d = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    style = draw(st.integers(0, 3))
    ws = draw(st.sampled_from(["", " ", "\n  ", "\t", "\r\n"]))
    rows = [
        "[" + f",{ws}".join(formatted(draw(numbers), style) for _ in range(d)) + ws + "]"
        for _ in range(n)
    ]
    members = [f'"points"{ws}:{ws}[{ws}{f",{ws}".join(rows)}]']
    ts = draw(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)))
    if ts is not None:
        members.append(f'"ts"{ws}:{ws}{ts}')
    if draw(st.booleans()):
        members.reverse()
    return f"{ws}{{{ws}{f',{ws}'.join(members)}{ws}}}{ws}".encode()


@settings(max_examples=400, deadline=None)
@given(values=st.lists(documents(), min_size=1, max_size=8))
def test_documents_convert_as_python_decodes_them(values):
    assert_agrees(values)


@settings(max_examples=300, deadline=None)
@given(
    value=documents(),
    edits=st.lists(
        st.tuples(st.integers(0, 10_000), st.sampled_from(list(b' ,.:[]{}"-+eE0159xtn'))),
        min_size=1,
        max_size=3,
    ),
    kind=st.sampled_from(["insert", "replace", "delete"]),
)
def test_damaged_documents_are_refused_unless_python_reads_them_alike(value, edits, kind):
    """Random edits of valid documents: whatever the kernel accepts, Python reads the same."""
    data = bytearray(value)
    for at, byte in edits:
        at %= len(data) + (kind == "insert")
        if kind == "insert":
            data.insert(at, byte)
        elif kind == "replace" and at < len(data):
            data[at] = byte
        elif at < len(data) and len(data) > 1:
            del data[at]
    assert_agrees([bytes(data), value])


def test_what_the_producer_writes_is_always_converted():
    rng = np.random.default_rng(0)
    values = [
        encode_points_json(rng.normal(size=(32, 3)) * 10.0 ** rng.integers(-8, 8), ts=ts)
        for ts in [None, 0, 1_764_190_000_000, -5] * 50
    ]
    assert assert_agrees(values) == len(values)


@pytest.mark.parametrize(
    "value",
    [
        b'{"points":[[1,2],[3,-0]],"ts":12}',  # "-0" is an integer: 0.0, as numpy reads it
        b'{"points":[[-0.0, 0e5, -0E-0, 1E+2, 0.000123e-7]]}',
        b' {\n "ts" : -5 ,\r\n\t"points" : [ [ 0.1 , 2 ] , [3,4] ] } ',
    ],
)
def test_edge_forms_are_converted_as_python_reads_them(value):
    assert assert_agrees([value]) == 1


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (b'{"ts":null,"points":[[1]]}', True),
        (b'{"points":[[1]],"ts":1.5}', True),  # a float ts: Python truncates it
        (b'{"points":[[1]],"extra":{"a":[1]}}', True),
        (b'{"points":[[1]],"points":[[2, 3]]}', True),  # Python keeps the last one
        (b'{"poin\\u0074s":[[1]]}', True),
        (b'{"points":[[12345678901234567]]}', True),  # more digits than the kernel reads
        (b'{"points":[[1.00000000000000000000001]]}', True),
        (b'{"points":[[1e23, 9007199254740993]]}', True),  # half-way: Python rounds to even
        (b'{"points":[[01,2]]}', False),
        (b'{"points":[[1.]]}', False),
        (b'{"points":[[.5]]}', False),
        (b'{"points":[[+1]]}', False),
        (b'{"points":[[1e]]}', False),
        (b'{"points":[[1e400]]}', False),  # inf
        (b'{"points":[[NaN]]}', False),
        (b'{"points":[[true]]}', False),
        (b'{"points":[[]]}', False),
        (b'{"points":[]}', False),
        (b'{"points":[[1,2],[3]]}', False),
        (b'{"points":[[[1]]]}', False),
        (b'{"points":[[1]],"ts":1e30}', False),
        (b'{"points":[[1]],"ts":"noon"}', False),
        (b'{"points":[[1]],"ts":99999999999999999999}', False),
        (b'{"points":[[1]]} x', False),
        (b'{"points":[[1]],}', False),
        (b"[1]", False),
        (b"{}", False),
        (b"\xef\xbb\xbf" + b'{"points":[[1]]}', True),  # json.loads takes the UTF-8 BOM
    ],
)
def test_odd_values_are_refused_and_left_to_python(value, valid):
    (got,) = kernel_binary([value])
    assert got is None
    assert (python_binary(value) is not None) == valid


def test_a_message_with_ts_and_one_without_in_one_call():
    values = [encode_points_json(np.eye(3), ts=7), encode_points_json(np.ones((2, 3)))]
    assert kernel_binary(values) == [encode_points_binary(np.eye(3), 7),
                                     encode_points_binary(np.ones((2, 3)))]  # fmt: skip


def test_extreme_but_finite_values():
    xs = [5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1e-300, 1e300]
    value = json.dumps({"points": [[x] for x in xs]}).encode()
    (got,) = kernel_binary([value])  # the subnormal 5e-324 is refused, so Python decodes it
    assert got is None and python_binary(value) is not None
    value = json.dumps({"points": [[x] for x in xs[1:]]}).encode()
    assert kernel_binary([value]) == [python_binary(value)]
    assert all(math.isfinite(x) for x in xs)
