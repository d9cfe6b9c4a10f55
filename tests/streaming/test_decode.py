"""Input messages -> points: both encodings and every contract error case with its reason."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_tda.streaming import InvalidMessage, encode_points_binary, encode_points_json
from gpu_tda.streaming.decode import HEADER, check_dimension, decode_message


def test_json_message_decodes_to_float64_points_and_ts():
    msg = decode_message(b"s-1", b'{"points": [[1, 2.5, 3], [4, 5, 6]], "ts": 1700000000000}')
    assert msg.stream == "s-1" and msg.ts == 1700000000000
    assert msg.points.dtype == np.float64
    np.testing.assert_array_equal(msg.points, [[1, 2.5, 3], [4, 5, 6]])
    assert decode_message(b"s", b'{"points": [[1]]}').ts is None


@pytest.mark.parametrize("ts", [None, 1764190000123])
def test_binary_round_trip_is_exact(ts):
    X = np.random.default_rng(0).normal(size=(37, 3))
    value = encode_points_binary(X, ts=ts)
    assert value[:4] == b"GTDA" and len(value) == 16 + (8 if ts else 0) + 37 * 3 * 8
    msg = decode_message("ström".encode(), value)
    assert msg.stream == "ström" and msg.ts == ts
    np.testing.assert_array_equal(msg.points, X)


def test_json_round_trip_is_exact():
    X = np.random.default_rng(1).normal(size=(5, 2))
    msg = decode_message(b"k", encode_points_json(X, ts=5))
    np.testing.assert_array_equal(msg.points, X)
    assert msg.ts == 5


BINARY_OK = encode_points_binary(np.ones((2, 2)))

CASES = [
    (None, b'{"points": [[1, 2]]}', "empty_key"),
    (b"", b'{"points": [[1, 2]]}', "empty_key"),
    (b"\xff\xfe", b'{"points": [[1, 2]]}', "bad_key"),
    (b"s", b"not json", "not_json"),
    (b"s", b"", "not_json"),
    (b"s", None, "not_json"),
    (b"s", b"\xff\x00garbage", "not_json"),
    (b"s", b"[[1, 2]]", "bad_schema"),
    (b"s", b'{"pts": [[1, 2]]}', "bad_schema"),
    (b"s", b'{"points": []}', "bad_shape"),
    (b"s", b'{"points": [1, 2]}', "bad_shape"),
    (b"s", b'{"points": [[1, 2], [3]]}', "bad_shape"),
    (b"s", b'{"points": [[]]}', "bad_shape"),
    (b"s", b'{"points": "1,2"}', "bad_shape"),
    (b"s", b'{"points": [["a", "b"]]}', "not_numeric"),
    (b"s", b'{"points": [[true, false]]}', "not_numeric"),
    (b"s", b'{"points": [[1, NaN]]}', "non_finite"),
    (b"s", b'{"points": [[Infinity, 1]]}', "non_finite"),
    (b"s", b'{"points": [[1e999, 1]]}', "non_finite"),
    (b"s", b'{"points": [[1, 2]], "ts": "yesterday"}', "bad_ts"),
    (b"s", b'{"points": [[1, 2]], "ts": 1e30}', "bad_ts"),
    (b"s", b'{"points": [[1, 2]], "ts": -1e19}', "bad_ts"),
    (b"s", encode_points_binary(np.array([[1.0, np.nan]])), "non_finite"),
    (b"s", BINARY_OK[:-3], "bad_binary"),
    (b"s", BINARY_OK[:10], "bad_binary"),
    (b"s", b"GTDA" + bytes([9]) + BINARY_OK[5:], "bad_binary"),
    (b"s", HEADER.pack(b"GTDA", 1, 0, 2, 0, 0), "bad_shape"),
    (b"s", HEADER.pack(b"GTDA", 1, 1, 1, 1, 0), "bad_binary"),
]


@pytest.mark.parametrize(("key", "value", "reason"), CASES)
def test_invalid_messages_raise_with_a_reason_code(key, value, reason):
    with pytest.raises(InvalidMessage) as info:
        decode_message(key, value)
    assert info.value.reason == reason
    assert info.value.header.startswith(reason + ": ")
    assert isinstance(info.value, ValueError)


def test_wrong_dimension_for_the_stream():
    points = decode_message(b"s", b'{"points": [[1, 2, 3]]}').points
    check_dimension(points, None)
    check_dimension(points, 3)
    with pytest.raises(InvalidMessage) as info:
        check_dimension(points, 2)
    assert info.value.reason == "wrong_dimension"
