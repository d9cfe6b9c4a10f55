"""The Kafka wire format as the broker sees it: size-prefixed frames, request headers, and one
version of each API it serves.

The request and response layouts are aiokafka's protocol structs, decoded and encoded here from
the other side. The broker offers exactly one version of each API (``VERSIONS``), all of them
non-flexible (plain request header v1, response header v0), so a client's ApiVersions
negotiation always lands on a layout both sides share.
"""

from __future__ import annotations

import importlib
import inspect
import struct
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from aiokafka.protocol.api import RequestStruct, Response

API_VERSIONS = 18

VERSIONS: dict[int, int] = {
    0: 3,  # Produce
    1: 4,  # Fetch
    2: 2,  # ListOffsets
    3: 4,  # Metadata
    8: 2,  # OffsetCommit
    9: 2,  # OffsetFetch
    10: 1,  # FindCoordinator
    11: 2,  # JoinGroup
    12: 1,  # Heartbeat
    13: 1,  # LeaveGroup
    14: 1,  # SyncGroup
    18: 0,  # ApiVersions
    19: 2,  # CreateTopics
}
"""API key -> the one version served."""

_PROTOCOL_MODULES = ("admin", "commit", "coordination", "fetch", "group", "metadata", "offset",
                     "produce")  # fmt: skip
_HEAD = struct.Struct(">hhih")  # api key, api version, correlation id, client id length
_SIZE = struct.Struct(">i")


def _request_classes() -> dict[int, type[RequestStruct]]:
    classes: dict[int, type[RequestStruct]] = {}
    for module in _PROTOCOL_MODULES:
        for _, cls in inspect.getmembers(importlib.import_module(f"aiokafka.protocol.{module}")):
            if (
                inspect.isclass(cls)
                and issubclass(cls, RequestStruct)
                and VERSIONS.get(getattr(cls, "API_KEY", -1)) == getattr(cls, "API_VERSION", -1)
            ):
                classes[cls.API_KEY] = cls
    missing = set(VERSIONS) - set(classes)
    if missing:
        raise ImportError(f"aiokafka lacks the request layouts for API keys {sorted(missing)}")
    return classes


REQUESTS = _request_classes()


class Malformed(ValueError):
    """A frame that is not a request this broker can read."""


@dataclass(frozen=True, slots=True)
class Request:
    """One decoded request: its header fields and its body (an aiokafka request struct)."""

    api_key: int
    api_version: int
    correlation_id: int
    client_id: str
    body: Any

    @property
    def supported(self) -> bool:
        return self.body is not None

    def response_type(self) -> type[Response]:
        return REQUESTS[self.api_key].RESPONSE_TYPE


def decode_request(frame: bytes) -> Request:
    """Parse a request frame (without its size prefix); ``body`` is None for an API or version
    this broker does not serve."""
    if len(frame) < _HEAD.size:
        raise Malformed(f"a {len(frame)}-byte frame is too short for a request header")
    api_key, api_version, correlation_id, id_length = _HEAD.unpack_from(frame)
    start = _HEAD.size + max(id_length, 0)
    client_id = frame[_HEAD.size : start].decode("utf-8", "replace")
    if VERSIONS.get(api_key) != api_version:
        return Request(api_key, api_version, correlation_id, client_id, None)
    try:
        body = REQUESTS[api_key].decode(BytesIO(frame[start:]))
    except Exception as exc:  # any layout error: the frame is not what its header says
        raise Malformed(f"API {api_key} v{api_version}: {exc}") from exc
    return Request(api_key, api_version, correlation_id, client_id, body)


def encode_response(correlation_id: int, response: Any) -> bytes:
    """A size-prefixed response frame (response header v0)."""
    body = response.encode()
    return _SIZE.pack(len(body) + 4) + _SIZE.pack(correlation_id) + body


def read_size(prefix: bytes) -> int:
    return int(_SIZE.unpack(prefix)[0])
