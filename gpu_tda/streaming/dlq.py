"""Dead letters: an input record the worker cannot use, forwarded unchanged with why.

The DLQ record keeps the original key, value and headers, and adds:

* ``error``: ``"<reason>: <detail>"``, e.g. ``"wrong_dimension: this stream has 3 ..."``
* ``error.reason``: the reason code alone (also the ``tda_dlq_messages_total`` label)
* ``source``: ``"<topic>/<partition>/<offset>"`` of the original record
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpu_tda.streaming.exceptions import InvalidMessage


@dataclass(frozen=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    reason: str


def dead_letter(record: Any, error: InvalidMessage) -> DeadLetter:
    """The DLQ record for ``record`` (an aiokafka ConsumerRecord) rejected with ``error``."""
    headers = [(k, v) for k, v in (record.headers or ()) if k not in _OURS]
    headers += [
        ("error", error.header.encode("utf-8", "replace")),
        ("error.reason", error.reason.encode()),
        ("source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
    ]
    return DeadLetter(record.key, record.value, headers, error.reason)


_OURS = frozenset({"error", "error.reason", "source"})
