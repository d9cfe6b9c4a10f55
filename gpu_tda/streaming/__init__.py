"""Streaming persistent homology: sliding windows per stream, computed in batches.

The data path, one module per step::

    message -> decode -> ring_buffer -> (due windows) -> batch -> kernel -> diagram -> encode
    decode.py  ring_buffer.py (windows.py defines them)  batch.py  gpu_tda.api  diagram.py

``StreamingProcessor`` is the embeddable part (no Kafka). The Kafka worker
(``gpu_tda.streaming.worker``) wraps it; it is imported only when used, so
``import gpu_tda.streaming`` does not load aiokafka.
"""

from gpu_tda.streaming.decode import encode_points_binary, encode_points_json
from gpu_tda.streaming.diagram import WindowDiagram, decode_diagram, encode_diagram
from gpu_tda.streaming.exceptions import InvalidMessage, StreamingError, WindowConfigError
from gpu_tda.streaming.processor import StreamingProcessor
from gpu_tda.streaming.protocols import DataWindow, StreamAdapter, StreamingTDAProcessor
from gpu_tda.streaming.ring_buffer import DueWindow, RingBuffer
from gpu_tda.streaming.windows import WindowSpec

__all__ = [
    "DataWindow",
    "DueWindow",
    "InvalidMessage",
    "RingBuffer",
    "StreamAdapter",
    "StreamingError",
    "StreamingProcessor",
    "StreamingTDAProcessor",
    "WindowConfigError",
    "WindowDiagram",
    "WindowSpec",
    "decode_diagram",
    "encode_diagram",
    "encode_points_binary",
    "encode_points_json",
]
