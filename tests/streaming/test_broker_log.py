"""The embedded broker's partition log and consumer-group coordinator, without a network."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_tda.streaming.broker.groups import (
    ILLEGAL_GENERATION,
    NONE,
    REBALANCING,
    UNKNOWN_MEMBER,
    GroupCoordinator,
    State,
)
from gpu_tda.streaming.broker.log import CorruptBatch, PartitionLog, split_batches


def record_batch(values: list[bytes], timestamp: int = 1_000) -> bytes:
    """A v2 record batch as aiokafka's producer builds it (base offset 0)."""
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=0, is_transactional=0, producer_id=-1, producer_epoch=-1,
        base_sequence=-1, batch_size=1 << 20,
    )  # fmt: skip
    for i, value in enumerate(values):
        builder.append(i, timestamp=timestamp + i, key=None, value=value, headers=[])
    return bytes(builder.build())


def decoded(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, value) of every record in ``data``, a run of batches."""
    out = []
    pos = 0
    while pos < len(data):
        length = int.from_bytes(data[pos + 8 : pos + 12], "big")
        batch = DefaultRecordBatch(data[pos : pos + 12 + length])
        out += [(record.offset, record.value) for record in batch]
        pos += 12 + length
    return out


def test_split_batches_counts_records_and_rejects_what_is_not_a_v2_batch():
    one, two = record_batch([b"a", b"b", b"c"]), record_batch([b"d"])
    assert [(n, raw) for n, raw in split_batches(one + two)] == [(3, one), (1, two)]
    with pytest.raises(CorruptBatch, match="trailing"):
        split_batches(one + b"\x00" * 10)
    with pytest.raises(CorruptBatch, match="does not fit"):
        split_batches(one[:-5])
    legacy = bytearray(one)
    legacy[16] = 1
    with pytest.raises(CorruptBatch, match="format v1"):
        split_batches(bytes(legacy))


def test_append_assigns_offsets_and_the_consumer_reads_them_back():
    log = PartitionLog(retention_bytes=1 << 20)
    assert log.append(split_batches(record_batch([b"a", b"b"]))) == 0
    assert log.append(split_batches(record_batch([b"c"]) + record_batch([b"d", b"e"]))) == 2
    assert (log.start, log.end) == (0, 5)
    assert decoded(log.read(0, 1 << 20)) == [(0, b"a"), (1, b"b"), (2, b"c"), (3, b"d"), (4, b"e")]
    # a read from inside a batch starts with that whole batch; max_bytes still gives one batch
    assert decoded(log.read(4, 1)) == [(3, b"d"), (4, b"e")]
    assert log.read(5, 1 << 20) == b""


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=25), st.integers(200, 2_000))
def test_every_kept_offset_is_readable_and_retention_drops_the_oldest(counts, retention):
    log = PartitionLog(retention_bytes=retention)
    values = []
    for count in counts:
        batch = [f"v{len(values) + i}".encode() for i in range(count)]
        log.append(split_batches(record_batch(batch)))
        values += batch
    assert log.end == len(values)
    assert 0 <= log.start < log.end  # the newest batch is always kept
    for offset in range(log.start, log.end):
        records = decoded(log.read(offset, 1))
        assert records[0][0] <= offset <= records[-1][0]
        assert (offset, values[offset]) in records
    everything = decoded(log.read(log.start, 1 << 30))
    assert everything == [(o, values[o]) for o in range(log.start, log.end)]


def test_offset_for_a_timestamp_is_the_first_batch_reaching_it():
    log = PartitionLog(retention_bytes=1 << 20)
    log.append(split_batches(record_batch([b"a", b"b"], timestamp=100)))  # 100, 101
    log.append(split_batches(record_batch([b"c"], timestamp=200)))
    assert [log.offset_at(t) for t in (0, 101, 102, 200, 201)] == [0, 0, 2, 2, 3]


async def test_a_waiting_fetch_is_woken_by_the_next_append():
    log = PartitionLog(retention_bytes=1 << 20)
    arrived = asyncio.get_running_loop().create_future()
    log.notify(arrived)
    assert not arrived.done()
    log.append(split_batches(record_batch([b"x"])))
    assert arrived.done()


# -- groups ---------------------------------------------------------------------------------------
PROTOCOLS = [("roundrobin", b"meta")]


async def join(coordinator, member_id="", session_ms=10_000, rebalance_ms=10_000):
    return await coordinator.join("g", member_id, "client", session_ms, rebalance_ms, "consumer",
                                  PROTOCOLS)  # fmt: skip


async def test_two_members_join_one_generation_and_the_leader_assigns():
    groups = GroupCoordinator()
    assert groups.state("g") is State.EMPTY
    first = await join(groups)
    assert (first.error, first.generation, first.leader) == (NONE, 1, first.member_id)
    assert groups.state("g") is State.COMPLETING
    assert await groups.sync("g", 1, first.member_id, [(first.member_id, b"all")]) == (NONE, b"all")

    second_join = asyncio.create_task(join(groups))
    await asyncio.sleep(0.01)
    assert not second_join.done()  # held until the first member rejoins
    assert groups.heartbeat("g", 1, first.member_id) == REBALANCING
    again = await join(groups, first.member_id)
    second = await second_join
    assert again.generation == second.generation == 2
    assert again.leader == first.member_id and again.members  # only the leader gets members
    assert second.members == []

    follower = asyncio.create_task(groups.sync("g", 2, second.member_id, []))
    await asyncio.sleep(0.01)
    assert not follower.done()  # waits for the leader's assignments
    plan = [(first.member_id, b"p0"), (second.member_id, b"p1")]
    assert await groups.sync("g", 2, first.member_id, plan) == (NONE, b"p0")
    assert await follower == (NONE, b"p1")
    assert groups.state("g") is State.STABLE
    assert groups.heartbeat("g", 2, second.member_id) == NONE
    assert groups.heartbeat("g", 1, second.member_id) == ILLEGAL_GENERATION
    assert groups.heartbeat("g", 2, "stranger") == UNKNOWN_MEMBER


async def test_a_silent_member_is_expired_and_the_group_rebalances():
    groups = GroupCoordinator()
    first = await join(groups, session_ms=100)
    await groups.sync("g", 1, first.member_id, [])
    second_join = asyncio.create_task(join(groups, session_ms=10_000, rebalance_ms=200))
    await asyncio.sleep(0.15)
    groups.expire_sessions()  # the first member never heartbeated nor rejoined
    second = await second_join
    assert second.error == NONE and second.leader == second.member_id
    assert second.generation == 2
    assert groups.heartbeat("g", 2, first.member_id) == UNKNOWN_MEMBER


async def test_a_member_that_does_not_rejoin_in_time_is_dropped():
    groups = GroupCoordinator()
    first = await join(groups, rebalance_ms=100)
    await groups.sync("g", 1, first.member_id, [])
    second = await join(groups, rebalance_ms=100)  # the first never rejoins: dropped at 100 ms
    assert (second.error, second.generation, second.leader) == (NONE, 2, second.member_id)


async def test_leaving_empties_the_group_but_keeps_its_offsets():
    groups = GroupCoordinator()
    member = await join(groups)
    await groups.sync("g", 1, member.member_id, [])
    assert groups.commit("g", 1, member.member_id, [("t", 0, 42, "")]) == NONE
    assert groups.commit("g", 0, member.member_id, [("t", 0, 1, "")]) == ILLEGAL_GENERATION
    assert groups.leave("g", member.member_id) == NONE
    assert groups.state("g") is State.EMPTY
    assert groups.committed("g", "t", 0) == (42, "")
    assert groups.commit("g", -1, "", [("t", 1, 7, "m")]) == NONE  # outside any generation
    assert groups.committed("g", "t", 1) == (7, "m")
    assert groups.committed("g", "t", 2) == (-1, "")


async def test_commits_are_accepted_while_a_rebalance_is_prepared():
    groups = GroupCoordinator()
    first = await join(groups)
    await groups.sync("g", 1, first.member_id, [])
    pending = asyncio.create_task(join(groups))  # starts a rebalance
    await asyncio.sleep(0.01)
    assert groups.commit("g", 1, first.member_id, [("t", 0, 5, "")]) == NONE
    await join(groups, first.member_id)
    await pending
    assert groups.commit("g", 2, first.member_id, [("t", 0, 6, "")]) == REBALANCING  # no sync yet


async def test_a_member_with_other_protocols_is_refused():
    groups = GroupCoordinator()
    await join(groups)
    other = await groups.join("g", "", "client", 10_000, 10_000, "consumer", [("range", b"")])
    assert other.error != NONE


async def test_members_started_together_form_one_generation_with_an_initial_delay():
    groups = GroupCoordinator(initial_delay=0.3)
    first = asyncio.create_task(join(groups))
    await asyncio.sleep(0.1)
    assert not first.done()  # held for the initial delay, waiting for more members
    second = await join(groups)
    first_result = await first
    assert first_result.generation == second.generation == 1
    assert {first_result.leader} == {second.leader}
    # a later rebalance of the now non-empty group is not delayed
    await groups.sync("g", 1, first_result.member_id, [])
    third = asyncio.create_task(join(groups))
    rejoined = await asyncio.wait_for(
        asyncio.gather(join(groups, first_result.member_id), join(groups, second.member_id)), 1
    )
    assert [r.generation for r in rejoined] == [2, 2]
    assert (await third).generation == 2
