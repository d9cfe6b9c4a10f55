"""One window's persistence diagrams, and their JSON form on the output topic.

The value written to the output topic (schema ``gpu-tda.diagram/1``)::

    {"schema": "gpu-tda.diagram/1", "stream": "s-7",
     "window": {"size": 128, "stride": 32, "seq": 41, "partition": 0,
                "first_offset": 1200, "last_offset": 1327, "start_ts": 0, "end_ts": 0},
     "maxdim": 1, "threshold": null, "backend": "gpu",
     "diagrams": [[[0.0, 0.12], [0.0, null]], [[0.31, 0.52]]],
     "compute_ms": 0.8, "emitted_ts": 1764190000000}

An infinite death is ``null``; so is an infinite threshold and any field that is unknown (a
window cut by the embeddable processor has no offsets). ``"precision"`` (after ``backend``) is
``"float32"`` when every bar is a float32 value, as the engines compute them: each bar is then
written in its shortest float32 form and read back through float32. Otherwise it is
``"float64"`` and bars are written as ``repr`` writes them. Either way ``decode_diagram(
encode_diagram(wd))`` gives back the same bars, bit for bit.

Encoding many small diagrams is a hot path of the worker: ``encode_diagrams`` writes a whole
batch in one numba call that releases the GIL (``diagram_json``), the same text as
``json.dumps(diagram_to_dict(wd))`` without spaces. ``Headers`` is what that call takes
besides the bars; the worker's CPU path builds it from the due windows (``of_windows``) and
writes each engine chunk's documents straight from the kernel's bars.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

import numpy as np

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; the stdlib path stays correct
    orjson = None

from gpu_tda.streaming.diagram_json import INT_FIELDS, max_bytes, write_documents
from gpu_tda.streaming.ring_buffer import NO_VALUE, DueWindow

SCHEMA = "gpu-tda.diagram/1"


@dataclass(eq=False)
class WindowDiagram:
    """Persistence diagrams of one window of one stream at one scale.

    ``diagrams[d]`` is a float64 array of shape (k, 2) holding the (birth, death) bars of
    dimension d, death = inf for essential bars. ``(stream, size, seq)`` names the window: a
    replay after a crash re-emits the same name with the same bars.
    """

    stream: str
    size: int
    stride: int
    seq: int
    diagrams: list[np.ndarray]
    backend: str
    compute_ms: float
    partition: int | None = None
    first_offset: int | None = None
    last_offset: int | None = None
    start_ts: int | None = None
    end_ts: int | None = None
    maxdim: int | None = None
    threshold: float = math.inf
    emitted_ts: int | None = None

    @property
    def key(self) -> tuple[str, int, int]:
        """``(stream, size, seq)``: the window's identity on the output topic."""
        return (self.stream, self.size, self.seq)

    def bars(self, dim: int) -> np.ndarray:
        """The (k, 2) bars of dimension ``dim`` (empty when ``dim`` was not computed)."""
        if 0 <= dim < len(self.diagrams):
            return self.diagrams[dim]
        return np.empty((0, 2), dtype=np.float64)

    def same_bars(self, other: WindowDiagram, atol: float = 0.0) -> bool:
        """True when both carry the same multiset of bars in every dimension."""
        if len(self.diagrams) != len(other.diagrams):
            return False
        return all(
            _sorted_bars(a).shape == _sorted_bars(b).shape
            and np.allclose(_sorted_bars(a), _sorted_bars(b), rtol=0.0, atol=atol)
            for a, b in zip(self.diagrams, other.diagrams, strict=True)
        )


def _sorted_bars(bars: np.ndarray) -> np.ndarray:
    bars = np.asarray(bars, dtype=np.float64).reshape(-1, 2)
    return bars[np.lexsort((bars[:, 1], bars[:, 0]))]


def _bars_to_json(bars: np.ndarray, single: bool) -> list[list[float | None]]:
    """Rows of [birth, death]; ``single``: each value the double nearest its shortest float32
    text, which ``json.dumps`` then writes as that text."""
    array = _bar_array(bars)
    if single:
        rows = [[float(str(v)) for v in row] for row in array.astype(np.float32)]
    else:
        rows = array.tolist()
    for row in rows:
        if math.isinf(row[1]):
            row[1] = None
        if math.isinf(row[0]):  # a birth is never infinite; refuse to write invalid JSON
            raise ValueError(f"a bar with infinite birth cannot be encoded: {row}")
    return rows


def _bars_from_json(rows: Any, single: bool) -> np.ndarray:
    if not isinstance(rows, list):
        raise ValueError("each entry of 'diagrams' must be a list of [birth, death] bars")
    if not rows:
        return np.empty((0, 2), dtype=np.float64)
    try:
        bars = np.array(
            [[math.inf if v is None else v for v in row] for row in rows], dtype=np.float64
        )
    except (TypeError, ValueError):
        raise ValueError(
            "bars must be [birth, death] pairs of numbers (death may be null)"
        ) from None
    if bars.ndim != 2 or bars.shape[1] != 2:
        raise ValueError(f"bars must be [birth, death] pairs, got shape {bars.shape}")
    return bars.astype(np.float32).astype(np.float64) if single else bars


def is_single_precision(wd: WindowDiagram) -> bool:
    """Whether every bar of ``wd`` is a float32 value (what the engines compute), so that its
    document says ``"precision": "float32"`` and writes them in their shortest float32 form."""
    with np.errstate(over="ignore"):  # a value past float32's range becomes inf: not equal
        return all(np.array_equal(np.asarray(b, dtype=np.float32), b) for b in wd.diagrams)


def diagram_to_dict(wd: WindowDiagram) -> dict[str, Any]:
    """The JSON-ready dict of schema ``gpu-tda.diagram/1``."""
    doc = _header_dict(wd)
    single = is_single_precision(wd)
    doc["precision"] = "float32" if single else "float64"
    doc["diagrams"] = [_bars_to_json(bars, single) for bars in wd.diagrams]
    doc["compute_ms"] = float(wd.compute_ms)
    doc["emitted_ts"] = wd.emitted_ts
    return doc


def encode_diagram(wd: WindowDiagram) -> bytes:
    """The output-topic value of ``wd``: compact UTF-8 JSON, schema ``gpu-tda.diagram/1``."""
    return encode_diagrams([wd])[0]


def encode_diagrams(wds: list[WindowDiagram]) -> list[bytes]:
    """``encode_diagram`` of each window, written by one numba call outside the GIL
    (``diagram_json``); ValueError (nothing encoded) when any bar has a NaN or an infinite
    birth."""
    if not wds:
        return []
    bars = [_bar_array(b) for wd in wds for b in wd.diagrams]
    every = np.concatenate(bars) if bars else np.empty((0, 2))
    bar_counts = np.fromiter(map(len, bars), dtype=np.int64, count=len(bars))
    dims_at = np.zeros(len(wds) + 1, dtype=np.int64)
    np.cumsum([len(wd.diagrams) for wd in wds], out=dims_at[1:])
    return Headers.of_diagrams(wds).write(dims_at, bar_counts, every)


@dataclass
class Headers:
    """What a batch of documents says besides the bars, as ``diagram_json.write_documents``
    takes it: one row per window.

    ``ints`` (B, len(INT_FIELDS)) int64 and ``known`` (same shape; False writes null),
    ``floats`` (B, 2) threshold and compute_ms, ``text`` the distinct streams and backends as
    JSON strings in one uint8 array and ``text_at`` (B, 4) where each window's two are in it.
    """

    ints: np.ndarray
    known: np.ndarray
    floats: np.ndarray
    text: np.ndarray
    text_at: np.ndarray

    @classmethod
    def of_diagrams(cls, wds: list[WindowDiagram]) -> Headers:
        """The headers of ``wds``' documents."""
        ints, known = _int_columns(wds)
        floats = np.array([(wd.threshold, wd.compute_ms) for wd in wds], dtype=np.float64)
        text, text_at = _text_columns([wd.stream for wd in wds], [wd.backend for wd in wds])
        return cls(ints, known, floats, text, text_at)

    @classmethod
    def of_windows(
        cls, due: Sequence[DueWindow], maxdim: int, threshold: float, backend: str
    ) -> Headers:
        """The headers of due windows' documents before they are computed: ``emitted_ts`` and
        ``compute_ms`` are 0 until the caller sets them (``stamp``)."""
        rows = [
            (w.spec.size, w.spec.stride, w.seq, NO_VALUE if w.partition is None else w.partition,
             w.first_offset, w.last_offset, w.start_ts, w.end_ts, maxdim, 0)
            for w in due
        ]  # fmt: skip
        ints = np.array(rows, dtype=np.int64).reshape(len(rows), len(INT_FIELDS))
        known = np.ones(ints.shape, dtype=bool)
        known[:, _MAYBE_UNKNOWN] = ints[:, _MAYBE_UNKNOWN] != NO_VALUE
        floats = np.zeros((len(rows), 2), dtype=np.float64)
        floats[:, 0] = threshold
        text, text_at = _text_columns([w.stream for w in due], [backend])
        return cls(ints, known, floats, text, text_at)

    def rows(self, picked: list[int]) -> Headers:
        """The headers of windows ``picked`` (a copy: ``stamp`` leaves this one as it is)."""
        return Headers(
            self.ints[picked], self.known[picked], self.floats[picked], self.text,
            self.text_at[picked],
        )  # fmt: skip

    def stamp(self, emitted_ts: int, compute_ms: float) -> None:
        """Set every window's ``emitted_ts`` and ``compute_ms``."""
        self.ints[:, _EMITTED] = emitted_ts
        self.floats[:, 1] = compute_ms

    def write(self, dims_at: np.ndarray, bar_counts: np.ndarray, bars: np.ndarray) -> list[bytes]:
        """Each window's document, in one ``write_documents`` call. Window ``w``'s dimensions
        are ``bar_counts[dims_at[w]:dims_at[w + 1]]`` bars each, ``bars`` (total, 2) float64 in
        window and dimension order. ValueError (nothing encoded) when a bar has a NaN or an
        infinite birth."""
        if np.isnan(bars).any() or np.isinf(bars[:, 0]).any():
            raise ValueError("a bar with a NaN or an infinite birth cannot be encoded")
        windows = self.ints.shape[0]
        text_at = self.text_at
        text_bytes = int((text_at[:, 1] - text_at[:, 0] + text_at[:, 3] - text_at[:, 2]).sum())
        out = np.empty(max_bytes(windows, len(bar_counts), len(bars), text_bytes), np.uint8)
        ends = np.empty(windows + 1, dtype=np.int64)
        ends[0] = 0
        write_documents(
            self.ints, self.known, self.floats, self.text, text_at, dims_at, bar_counts, bars,
            out, ends[1:],
        )  # fmt: skip
        bounds = ends.tolist()
        return [out[bounds[i] : bounds[i + 1]].tobytes() for i in range(windows)]


_MAYBE_UNKNOWN = [INT_FIELDS.index(f) for f in ("partition", "first_offset", "last_offset",
                                               "start_ts", "end_ts")]  # fmt: skip
_EMITTED = INT_FIELDS.index("emitted_ts")


def warm_up() -> float:
    """Encode two throwaway windows (float32 and float64 bars), so that the encoder compiles
    now rather than on the first micro-batch (about 6 s on a cold cache). Returns the seconds
    it took."""
    started = time.perf_counter()
    bars = np.array([[0.0, 0.5], [0.25, np.inf]])
    encode_diagrams([WindowDiagram("w", 2, 1, 0, [b], "cpu", 0.0) for b in (bars, bars / 3)])
    return time.perf_counter() - started


def _bar_array(bars: np.ndarray) -> np.ndarray:
    if type(bars) is np.ndarray and bars.dtype == np.float64 and bars.ndim == 2:
        return bars
    return np.asarray(bars, dtype=np.float64).reshape(-1, 2)


def _int_columns(wds: list[WindowDiagram]) -> tuple[np.ndarray, np.ndarray]:
    """The header's integers in ``diagram_json.INT_FIELDS`` order, and which are known."""
    rows = [
        (wd.size, wd.stride, wd.seq, wd.partition, wd.first_offset, wd.last_offset,
         wd.start_ts, wd.end_ts, len(wd.diagrams) - 1 if wd.maxdim is None else wd.maxdim,
         wd.emitted_ts)
        for wd in wds
    ]  # fmt: skip
    try:  # the worker's windows know every field
        return np.array(rows, dtype=np.int64), np.ones((len(rows), len(INT_FIELDS)), dtype=bool)
    except TypeError:  # some are None
        cells = np.array(rows, dtype=object)
        known = cells != None  # noqa: E711 (elementwise)
        return np.where(known, cells, 0).astype(np.int64), known


def _text_columns(streams: list[str], backends: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct streams and backends as JSON strings in one uint8 array, and where each
    window's two are in it (B, 4): stream start, end, backend start, end. ``backends`` has one
    entry per window, or one for all."""
    index: dict[str, int] = {}
    picks = [index.setdefault(name, len(index)) for name in streams]
    chosen = [index.setdefault(name, len(index)) for name in backends]
    strings = [encode_basestring(name).encode() for name in index]
    starts = np.zeros(len(strings) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in strings], out=starts[1:])
    which = np.array(picks, dtype=np.int64)
    backend = np.array(chosen, dtype=np.int64)
    text_at = np.stack([starts[which], starts[which + 1],
                        np.broadcast_to(starts[backend], which.shape),
                        np.broadcast_to(starts[backend + 1], which.shape)], axis=1)  # fmt: skip
    return np.frombuffer(b"".join(strings), dtype=np.uint8), text_at


def _header_dict(wd: WindowDiagram) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "stream": wd.stream,
        "window": {
            "size": wd.size,
            "stride": wd.stride,
            "seq": wd.seq,
            "partition": wd.partition,
            "first_offset": wd.first_offset,
            "last_offset": wd.last_offset,
            "start_ts": wd.start_ts,
            "end_ts": wd.end_ts,
        },
        "maxdim": wd.maxdim if wd.maxdim is not None else len(wd.diagrams) - 1,
        "threshold": None if math.isinf(wd.threshold) else float(wd.threshold),
        "backend": wd.backend,
    }


def decode_diagram(value: bytes | str | dict[str, Any]) -> WindowDiagram:
    """Parse an output-topic value (bytes, str or an already-parsed dict) into a WindowDiagram.

    Raises ValueError when the value is not a ``gpu-tda.diagram/1`` document.
    """
    if isinstance(value, dict):
        doc = value
    else:
        try:
            doc = json.loads(value) if orjson is None else orjson.loads(value)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a JSON diagram document: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"expected schema {SCHEMA!r}, got {found!r}")
    try:
        window = doc["window"]
        threshold = doc.get("threshold")
        diagrams = doc["diagrams"]
        if not isinstance(diagrams, list):
            raise ValueError("'diagrams' must be a list (one entry per dimension)")
        single = doc.get("precision") == "float32"
        return WindowDiagram(
            stream=str(doc["stream"]),
            size=int(window["size"]),
            stride=int(window["stride"]),
            seq=int(window["seq"]),
            diagrams=[_bars_from_json(rows, single) for rows in diagrams],
            backend=str(doc["backend"]),
            compute_ms=float(doc.get("compute_ms") or 0.0),
            partition=_opt_int(window.get("partition")),
            first_offset=_opt_int(window.get("first_offset")),
            last_offset=_opt_int(window.get("last_offset")),
            start_ts=_opt_int(window.get("start_ts")),
            end_ts=_opt_int(window.get("end_ts")),
            maxdim=_opt_int(doc.get("maxdim")),
            threshold=math.inf if threshold is None else float(threshold),
            emitted_ts=_opt_int(doc.get("emitted_ts")),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed {SCHEMA} document: missing or bad field {exc}") from None


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)
