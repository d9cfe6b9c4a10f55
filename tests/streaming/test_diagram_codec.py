"""WindowDiagram <-> the output topic's JSON (schema gpu-tda.diagram/1)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from gpu_tda.streaming import WindowDiagram, decode_diagram, encode_diagram
from gpu_tda.streaming.diagram import diagram_to_dict, encode_diagrams


def sample() -> WindowDiagram:
    return WindowDiagram(
        stream="s-7",
        size=128,
        stride=32,
        seq=41,
        diagrams=[np.array([[0.0, 0.12], [0.0, np.inf]]), np.array([[0.31, 0.52]])],
        backend="gpu",
        compute_ms=0.8,
        partition=0,
        first_offset=1200,
        last_offset=1327,
        start_ts=0,
        end_ts=0,
        maxdim=1,
        emitted_ts=1764190000000,
    )


def test_encoding_is_exactly_the_contract_document():
    doc = json.loads(encode_diagram(sample()))
    assert doc == {
        "schema": "gpu-tda.diagram/1",
        "stream": "s-7",
        "window": {
            "size": 128,
            "stride": 32,
            "seq": 41,
            "partition": 0,
            "first_offset": 1200,
            "last_offset": 1327,
            "start_ts": 0,
            "end_ts": 0,
        },
        "maxdim": 1,
        "threshold": None,
        "backend": "gpu",
        "precision": "float64",
        "diagrams": [[[0.0, 0.12], [0.0, None]], [[0.31, 0.52]]],
        "compute_ms": 0.8,
        "emitted_ts": 1764190000000,
    }


def test_float32_bars_are_written_in_their_shortest_float32_form_and_read_back_exactly():
    wd = sample()
    wd.diagrams = [d.astype(np.float32).astype(np.float64) for d in wd.diagrams]
    value = encode_diagram(wd)
    assert b'"precision":"float32","diagrams":[[[0.0,0.12],[0.0,null]],[[0.31,0.52]]]' in value
    back = decode_diagram(value)
    for a, b in zip(back.diagrams, wd.diagrams, strict=True):
        np.testing.assert_array_equal(a, b)  # the float32 values, not the doubles 0.12 ...
    assert back.diagrams[0][0, 1] != 0.12


def test_an_engine_diagram_round_trips_bit_exactly_in_half_the_bytes():
    rng = np.random.default_rng(3)
    bars = np.c_[np.zeros(127), np.sort(rng.random(127) * 5)].astype(np.float32)
    wd = sample()
    wd.diagrams = [bars.astype(np.float64), np.empty((0, 2))]
    value = encode_diagram(wd)
    back = decode_diagram(value)
    np.testing.assert_array_equal(back.diagrams[0], wd.diagrams[0])
    as_doubles = json.dumps(diagram_to_dict(sample()) | {"diagrams": [bars.tolist()]})
    assert len(value) < 0.7 * len(as_doubles)


def test_round_trip_keeps_every_field_and_exact_bars():
    wd = sample()
    wd.diagrams = [np.random.default_rng(0).random((50, 2)), np.empty((0, 2))]
    wd.threshold = 2.5
    back = decode_diagram(encode_diagram(wd))
    for name in (f.name for f in dataclasses.fields(WindowDiagram) if f.name != "diagrams"):
        assert getattr(back, name) == getattr(wd, name), name
    for a, b in zip(back.diagrams, wd.diagrams, strict=True):
        np.testing.assert_array_equal(a, b)  # shortest repr round-trips float64 exactly
    assert back.diagrams[1].shape == (0, 2)
    assert back.same_bars(wd) and back.key == ("s-7", 128, 41)


def test_infinite_deaths_and_threshold_are_null_and_come_back_as_inf():
    back = decode_diagram(encode_diagram(sample()).decode())
    assert math.isinf(back.diagrams[0][1, 1]) and math.isinf(back.threshold)


def test_unknown_fields_of_an_embedded_window_are_null():
    wd = WindowDiagram("s", 4, 2, 0, [np.empty((0, 2))], "cpu", 0.1)
    doc = json.loads(encode_diagram(wd))
    assert doc["window"]["first_offset"] is None and doc["emitted_ts"] is None
    assert doc["maxdim"] == 0


@pytest.mark.parametrize(
    "value",
    [
        b"not json",
        b"[]",
        b'{"schema": "other/1"}',
        b'{"schema": "gpu-tda.diagram/1"}',
        b'{"schema":"gpu-tda.diagram/1","stream":"s","window":{"size":1,"stride":1,"seq":0},'
        b'"backend":"cpu","diagrams":[[[1]]]}',
    ],
)
def test_decoding_something_else_raises_value_error(value):
    with pytest.raises(ValueError):
        decode_diagram(value)


def test_same_bars_ignores_order_but_not_content():
    a = sample()
    b = sample()
    b.diagrams = [d[::-1] for d in b.diagrams]
    assert a.same_bars(b)
    b.diagrams[1] = np.array([[0.31, 0.53]])
    assert not a.same_bars(b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fast_encoder_writes_the_same_text_as_the_stdlib_one(dtype):
    rng = np.random.default_rng(5)
    bars0 = np.c_[np.zeros(40), np.sort(rng.random(40))]
    bars0[-1, 1] = np.inf
    tiny = rng.random((3, 2)) * 1e-7
    huge = np.array([[1.5e16, 2.5e30], [3.0, 1e-5], [-0.0, 0.5]])
    diagrams = [b.astype(dtype).astype(np.float64) for b in (bars0, tiny, huge)]
    wd = WindowDiagram('s-"1"\u00e9\n', 128, 32, 9, diagrams, "cpu", 0.25, threshold=2.5)
    wd.emitted_ts = 1764190000000
    stdlib = json.dumps(diagram_to_dict(wd), separators=(",", ":"), ensure_ascii=False)
    assert encode_diagram(wd) == stdlib.encode()


def test_a_batch_encodes_each_window_as_alone_and_refuses_any_bad_bar():
    from gpu_tda.streaming.diagram import encode_diagrams

    rng = np.random.default_rng(8)
    windows = [sample()]
    for seq in range(5):
        bars = [np.c_[np.zeros(6), rng.random(6)], rng.random((seq, 2)), np.empty((0, 2))]
        windows.append(WindowDiagram("s-2", 16, 4, seq, bars, "cpu", 0.1, maxdim=2))
    assert encode_diagrams(windows) == [encode_diagram(wd) for wd in windows]
    assert encode_diagrams([]) == []
    for bad in ([[np.nan, 1.0]], [[np.inf, np.inf]], [[0.0, np.nan]]):
        broken = sample()
        broken.diagrams[1] = np.array(bad)
        with pytest.raises(ValueError, match="cannot be encoded"):
            encode_diagrams([*windows, broken])


def test_the_longest_numbers_fit_the_buffer_bound():
    from gpu_tda.streaming.diagram_json import max_bytes

    longest = -2.2250738585072014e-308 * 0.5555555555555556  # a 17-digit negative subnormal
    bars = np.full((50, 2), longest)
    bars[:, 0] = -1.2345678901234567e-300
    low = -(2**63)
    wd = WindowDiagram("s", low, low, low, [bars], "cpu", longest, low, low, low, low, low)
    wd.maxdim, wd.threshold, wd.emitted_ts = low, longest, low
    values = encode_diagrams([wd, wd])
    stdlib = json.dumps(diagram_to_dict(wd), separators=(",", ":"), ensure_ascii=False)
    assert values == [stdlib.encode()] * 2
    assert sum(map(len, values)) <= max_bytes(2, 2, 100, 2 * len(b'"s""cpu"'))


def test_warm_up_compiles_the_encoder():
    from gpu_tda.streaming import diagram_json
    from gpu_tda.streaming.diagram import warm_up

    assert warm_up() > 0
    assert diagram_json.write_documents.signatures
