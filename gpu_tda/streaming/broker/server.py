"""The embedded Kafka-protocol broker: one node, memory only, on an asyncio event loop.

It serves what Kafka clients need to produce, fetch, create topics and run consumer groups
(see ``wire.VERSIONS``). Requests on one connection are answered one at a time and in order,
as a Kafka broker does. A fetch that finds less than ``min_bytes`` waits until a produce
appends to one of its partitions or ``max_wait_ms`` passes, whichever comes first, so a consumer
sees a record as soon as it is stored. A topic is created on first use (a metadata request for
it) with ``default_partitions`` partitions. Transactions, idempotent producers, ACLs and
quotas are not served; a client asking for them is told the API is unsupported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka.errors import (
    CorruptRecordException,
    InvalidPartitionsError,
    InvalidTopicError,
    OffsetOutOfRangeError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
    UnsupportedVersionError,
)
from aiokafka.protocol.admin import ApiVersionResponse_v0

from gpu_tda.streaming.broker import wire
from gpu_tda.streaming.broker.groups import GroupCoordinator
from gpu_tda.streaming.broker.log import CorruptBatch, Topics, legal_topic_name, split_batches

log = logging.getLogger(__name__)

NODE_ID = 0
CLUSTER_ID = "gpu-tda"
MAX_FRAME = 100 * 1024 * 1024
SESSION_CHECK_S = 0.1
EARLIEST, LATEST = -2, -1


class KafkaBroker:
    """A Kafka broker on ``host:port``; it tells clients it is at ``advertised`` (by default its
    own address: ``advertise()`` changes that, e.g. for a proxy in front of it).

    ``await start()`` binds (``port`` 0: a free one, then in ``port``); ``await close()`` stops.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        default_partitions: int = 4,
        retention_bytes: int = 1 << 30,
        initial_rebalance_delay: float = 0.0,
    ) -> None:
        self.host, self.port = host, port
        self._advertised: tuple[str, int] | None = None
        self.topics = Topics(default_partitions, retention_bytes)
        self.groups = GroupCoordinator(initial_rebalance_delay)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._expiry: asyncio.Task[None] | None = None
        self._handlers = {
            0: self._produce,
            1: self._fetch,
            2: self._list_offsets,
            3: self._metadata,
            8: self._offset_commit,
            9: self._offset_fetch,
            10: self._find_coordinator,
            11: self._join_group,
            12: self._heartbeat,
            13: self._leave_group,
            14: self._sync_group,
            18: self._api_versions,
            19: self._create_topics,
        }

    @property
    def advertised(self) -> tuple[str, int]:
        return self._advertised or (self.host, self.port)

    def advertise(self, host: str, port: int) -> None:
        self._advertised = (host, port)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve_connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._expiry = asyncio.create_task(self._expire_sessions())

    async def close(self) -> None:
        """Stop listening and drop every connection (held requests are not answered)."""
        if self._server is not None:
            self._server.close()
        tasks = [t for t in (self._expiry, *self._connections) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    # -- connections ----------------------------------------------------------------------------
    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        try:
            while True:
                size = wire.read_size(await reader.readexactly(4))
                if not 0 < size <= MAX_FRAME:
                    log.warning("closing %s: a %d-byte frame", peer, size)
                    return
                request = wire.decode_request(await reader.readexactly(size))
                response = await self._answer(request)
                if response is None:  # a produce with acks=0 is not answered
                    continue
                writer.write(wire.encode_response(request.correlation_id, response))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        except asyncio.CancelledError:
            pass  # the broker is closing: end quietly (asyncio's server would log a cancel)
        except wire.Malformed as exc:
            log.warning("closing %s: %s", peer, exc)
        finally:
            self._connections.discard(task)
            writer.close()

    async def _answer(self, request: wire.Request) -> Any:
        if not request.supported:
            if request.api_key == wire.API_VERSIONS:  # answer in v0 so that any client reads it
                return self._api_versions(request, UnsupportedVersionError.errno)
            raise wire.Malformed(
                f"API {request.api_key} v{request.api_version} is not served "
                f"(client {request.client_id!r})"
            )
        result = self._handlers[request.api_key](request)
        return await result if asyncio.iscoroutine(result) else result

    async def _expire_sessions(self) -> None:
        while True:
            await asyncio.sleep(SESSION_CHECK_S)
            self.groups.expire_sessions()

    # -- cluster --------------------------------------------------------------------------------
    def _api_versions(self, request: wire.Request, error: int = 0) -> Any:
        versions = [(key, version, version) for key, version in sorted(wire.VERSIONS.items())]
        return ApiVersionResponse_v0(error, versions)

    def _metadata(self, request: wire.Request) -> Any:
        body = request.body
        names = self.topics.names() if body.topics is None else body.topics
        topics = []
        for name in names:
            logs = self.topics.get(name)
            if logs is None and body.allow_auto_topic_creation and legal_topic_name(name):
                logs = self.topics.create(name)
            if logs is None:
                code = (UnknownTopicOrPartitionError if legal_topic_name(name)
                        else InvalidTopicError).errno  # fmt: skip
                topics.append((code, name, False, []))
                continue
            parts = [(0, i, NODE_ID, [NODE_ID], [NODE_ID]) for i in range(len(logs))]
            topics.append((0, name, False, parts))
        host, port = self.advertised
        return request.response_type()(
            0, [(NODE_ID, host, port, None)], CLUSTER_ID, NODE_ID, topics
        )

    def _create_topics(self, request: wire.Request) -> Any:
        body = request.body
        results = []
        for name, partitions, _replication, _assignment, _configs in body.create_topic_requests:
            if not legal_topic_name(name):
                results.append((name, InvalidTopicError.errno, f"illegal topic name {name!r}"))
            elif self.topics.get(name) is not None:
                results.append((name, TopicAlreadyExistsError.errno, f"{name!r} exists"))
            elif partitions == 0 or partitions < -1:
                results.append((name, InvalidPartitionsError.errno, f"{partitions} partitions"))
            else:
                if not body.validate_only:
                    self.topics.create(name, None if partitions == -1 else partitions)
                results.append((name, 0, None))
        return request.response_type()(0, results)

    def _find_coordinator(self, request: wire.Request) -> Any:
        host, port = self.advertised
        return request.response_type()(0, 0, None, NODE_ID, host, port)

    # -- records --------------------------------------------------------------------------------
    def _produce(self, request: wire.Request) -> Any:
        body = request.body
        topics = []
        for name, partitions in body.topics:
            answers = []
            for index, data in partitions:
                log_ = self.topics.partition(name, index)
                if log_ is None:
                    answers.append((index, UnknownTopicOrPartitionError.errno, -1, -1))
                    continue
                try:
                    batches = split_batches(data or b"")
                except CorruptBatch as exc:
                    log.warning("produce to %s-%d rejected: %s", name, index, exc)
                    answers.append((index, CorruptRecordException.errno, -1, -1))
                    continue
                answers.append((index, 0, log_.append(batches), -1))
            topics.append((name, answers))
        if body.required_acks == 0:
            return None
        return request.response_type()(topics, 0)

    async def _fetch(self, request: wire.Request) -> Any:
        body = request.body
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(body.max_wait_time, 0) / 1000
        while True:
            topics, size = self._read(body.topics, body.max_bytes)
            left = deadline - loop.time()
            if size >= body.min_bytes or left <= 0:
                return request.response_type()(0, topics)
            arrived = loop.create_future()
            for name, partitions in body.topics:
                for index, _offset, _max in partitions:
                    log_ = self.topics.partition(name, index)
                    if log_ is not None:
                        log_.notify(arrived)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(arrived, left)

    def _read(self, wanted: list, max_bytes: int) -> tuple[list, int]:
        topics, size = [], 0
        for name, partitions in wanted:
            answers = []
            for index, offset, partition_max in partitions:
                log_ = self.topics.partition(name, index)
                if log_ is None:
                    answers.append((index, UnknownTopicOrPartitionError.errno, -1, -1, [], b""))
                elif not log_.start <= offset <= log_.end:
                    code = OffsetOutOfRangeError.errno
                    answers.append((index, code, log_.end, log_.end, [], b""))
                else:
                    budget = min(partition_max, max_bytes - size)
                    data = log_.read(offset, budget) if budget > 0 or size == 0 else b""
                    size += len(data)
                    answers.append((index, 0, log_.end, log_.end, [], data))
            topics.append((name, answers))
        return topics, size

    def _list_offsets(self, request: wire.Request) -> Any:
        topics = []
        for name, partitions in request.body.topics:
            answers = []
            for index, timestamp in partitions:
                log_ = self.topics.partition(name, index)
                if log_ is None:
                    answers.append((index, UnknownTopicOrPartitionError.errno, -1, -1))
                elif timestamp == EARLIEST:
                    answers.append((index, 0, -1, log_.start))
                elif timestamp == LATEST:
                    answers.append((index, 0, -1, log_.end))
                else:
                    answers.append((index, 0, timestamp, log_.offset_at(timestamp)))
            topics.append((name, answers))
        return request.response_type()(0, topics)

    # -- groups ---------------------------------------------------------------------------------
    async def _join_group(self, request: wire.Request) -> Any:
        b = request.body
        result = await self.groups.join(b.group, b.member_id, request.client_id,
                                        b.session_timeout, b.rebalance_timeout, b.protocol_type,
                                        list(b.group_protocols))  # fmt: skip
        return request.response_type()(0, result.error, result.generation, result.protocol,
                                       result.leader, result.member_id, result.members)  # fmt: skip

    async def _sync_group(self, request: wire.Request) -> Any:
        b = request.body
        error, assignment = await self.groups.sync(
            b.group, b.generation_id, b.member_id, list(b.group_assignment)
        )
        return request.response_type()(0, error, assignment)

    def _heartbeat(self, request: wire.Request) -> Any:
        b = request.body
        return request.response_type()(0, self.groups.heartbeat(b.group, b.generation_id,
                                                                b.member_id))  # fmt: skip

    def _leave_group(self, request: wire.Request) -> Any:
        b = request.body
        return request.response_type()(0, self.groups.leave(b.group, b.member_id))

    def _offset_commit(self, request: wire.Request) -> Any:
        b = request.body
        offsets = [(topic, index, offset, metadata or "")
                   for topic, partitions in b.topics
                   for index, offset, metadata in partitions]  # fmt: skip
        error = self.groups.commit(
            b.consumer_group, b.consumer_group_generation_id, b.consumer_id, offsets
        )
        topics = [(topic, [(index, error) for index, *_ in partitions])
                  for topic, partitions in b.topics]  # fmt: skip
        return request.response_type()(topics)

    def _offset_fetch(self, request: wire.Request) -> Any:
        b = request.body
        group = b.consumer_group
        if b.topics is None:
            wanted: dict[str, list[int]] = {}
            for topic, index in self.groups.committed_partitions(group):
                wanted.setdefault(topic, []).append(index)
            pairs = list(wanted.items())
        else:
            pairs = [(topic, list(partitions)) for topic, partitions in b.topics]
        topics = []
        for topic, partitions in pairs:
            answers = []
            for index in partitions:
                offset, metadata = self.groups.committed(group, topic, index)
                answers.append((index, offset, metadata, 0))
            topics.append((topic, answers))
        return request.response_type()(topics, 0)
