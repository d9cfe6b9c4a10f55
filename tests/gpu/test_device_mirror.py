"""The worker's device mirror under the simulator: slots, origins and growth; gathered windows
equal to the host windows (wrap-around, several scales, merged jobs); windows older than a
slot falling back to host points; device batches computed to the CPU's very diagrams; a
revoked partition's slots released; a failed device append leaving its windows to the host."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from aiokafka import TopicPartition

from gpu_tda.metrics import WorkerMetrics
from gpu_tda.streaming import encode_points_json
from gpu_tda.streaming.batch import WindowComputer
from gpu_tda.streaming.checkpoint import PartitionState
from gpu_tda.streaming.device_mirror import DeviceMirror
from gpu_tda.streaming.device_ring import DeviceRingBuffers
from gpu_tda.streaming.intake import Job, build_job
from gpu_tda.streaming.rebalance import Rebalancer
from gpu_tda.streaming.ring_buffer import RingBuffer
from gpu_tda.streaming.windows import buffer_capacity, make_specs
from tests.diagram_oracle import assert_identical_results

pytestmark = pytest.mark.gpu_sim

SPECS = make_specs(["8", "12"], 4)  # two scales, one ring of capacity 12


class Feed:
    """Micro-batches of one partition's records, built like the worker's intake builds them."""

    def __init__(self, rng: np.random.Generator, dims: dict[str, int]) -> None:
        self.rng = rng
        self.dims = dims
        self.state = PartitionState("points", 0, SPECS, start_offset=0)
        self.mirror = DeviceMirror(buffer_capacity(SPECS), initial_slots=2)
        self.metrics = WorkerMetrics()
        self.offset = 0

    def job(self, messages: int, max_points: int = 5, backend: str = "gpu") -> Job:
        records = []
        for _ in range(messages):
            stream = str(self.rng.choice(sorted(self.dims)))
            n = int(self.rng.integers(1, max_points + 1))
            points = self.rng.normal(size=(n, self.dims[stream]))
            value = encode_points_json(points)
            records.append(
                SimpleNamespace(key=stream.encode(), value=value, offset=self.offset, timestamp=0)
            )
            self.offset += 1
        batch = {TopicPartition("points", 0): records}
        return build_job(
            batch, {0: self.state}, self.metrics, lambda s: (backend, False), self.mirror
        )


def _gathered(job: Job) -> dict[int, np.ndarray]:
    """Window index in ``job.due`` -> its gathered points, copied to the host."""
    out = {}
    for (size, dim), batch in job.device_batches.items():
        points = np.asarray(batch.points)
        assert points.shape == (len(batch.indices), size, dim)
        for b, i in enumerate(batch.indices):
            assert batch.windows[b] is job.due[i].points
            out[i] = points[b]
    return out


def _still_held(job: Job, state: PartitionState, origin: dict[str, int]) -> set[int]:
    """Windows of ``job`` whose points are all in their slot once the job's points are in."""
    return {
        i
        for i, w in enumerate(job.due)
        if w.spec.first_index(w.seq) >= max(origin[w.stream], state.buffers[w.stream].count - 12)
    }


def test_slots_origins_growth_and_release():
    mirror = DeviceMirror(capacity=8, initial_slots=2)
    buffers = [RingBuffer(f"s{i}", SPECS, 2) for i in range(5)] + [RingBuffer("t", SPECS, 3)]
    restored = RingBuffer("r", SPECS, 2, count=20)  # a stream rebuilt from a checkpoint
    for buf in [*buffers, restored]:
        points = np.ones((3, buf.dim))
        start = buf.count
        buf.append(points)
        mirror.stage(0, buf, points, start)
    mirror.flush()
    assert mirror.slots(2) == 8 and mirror.slots(3) == 2  # 2 -> 4 -> 8 for six streams
    assert [mirror.origin(0, b.stream) for b in buffers] == [0] * 6
    assert mirror.origin(0, "r") == 20
    assert mirror.memory_bytes() == 8 * 8 * 2 * 8 + 2 * 8 * 3 * 8
    mirror.release(0)
    assert mirror.origin(0, "s0") is None
    for i in range(8):  # freed slots are reused: no growth
        buf = RingBuffer(f"u{i}", SPECS, 2)
        buf.append(np.ones((1, 2)))
        mirror.stage(1, buf, np.ones((1, 2)), 0)
    mirror.flush()
    assert mirror.slots(2) == 8


def test_gathered_windows_equal_the_host_windows(rng):
    feed = Feed(rng, {"a": 2, "b": 3, "c": 2})
    gathered = 0
    for messages in [3, 6, 1, 8, 5, 30]:  # 30 messages: some windows overwritten in-batch
        job = feed.job(messages, max_points=6)
        on_device = _gathered(job)
        assert set(on_device) == _still_held(job, feed.state, dict.fromkeys("abcd", 0))
        for i, points in on_device.items():
            assert np.array_equal(points, job.due[i].points)
        gathered += len(on_device)
    assert gathered > 10 and len(job.due) > len(_gathered(job))
    assert {size for size, _ in job.device_batches} == {8, 12}
    assert max(b.count for b in feed.state.buffers.values()) > 3 * 12  # wrapped around


def test_merged_jobs_join_their_device_batches(rng):
    feed = Feed(rng, {"a": 2, "b": 2})
    first, second = feed.job(8, max_points=3), feed.job(8, max_points=3)
    base, expected = len(first.due), [w.points for w in first.due + second.due]
    held = set(_gathered(first)) | {base + i for i in _gathered(second)}
    first.merge(second)
    on_device = _gathered(first)
    assert set(on_device) == held and len(held) > 4
    for i, points in on_device.items():
        assert np.array_equal(points, expected[i])


def test_windows_older_than_a_slot_keep_their_host_points(rng):
    feed = Feed(rng, {"a": 2})
    feed.job(3)
    feed.mirror.release(0)  # e.g. the partition was revoked and came back unchanged
    origin = feed.state.buffers["a"].count
    job = feed.job(20)
    assert feed.mirror.origin(0, "a") == origin
    on_device = _gathered(job)
    older = [i for i, w in enumerate(job.due) if w.spec.first_index(w.seq) < origin]
    assert older and not set(older) & set(on_device)
    assert set(on_device) == _still_held(job, feed.state, {"a": origin})
    cpu = WindowComputer(maxdim=1, backend="cpu").compute(job.due)
    gpu = WindowComputer(maxdim=1, backend="gpu").compute(
        job.due, job.backends, device_batches=job.device_batches.values()
    )
    assert [w.backend for w in gpu] == ["gpu"] * len(job.due)
    assert [(w.stream, w.size, w.seq, w.first_offset) for w in gpu] == [
        (w.stream, w.size, w.seq, w.first_offset) for w in cpu
    ]
    assert_identical_results([w.diagrams for w in gpu], [w.diagrams for w in cpu])


def test_cpu_streams_are_not_gathered(rng):
    feed = Feed(rng, {"a": 2, "b": 3})
    job = feed.job(10, backend="cpu")
    assert job.due and not job.device_batches


async def test_a_revoked_partition_releases_its_slots(rng):
    feed = Feed(rng, {"a": 2, "b": 3})
    feed.job(6)
    committed = []

    async def commit(docs):
        committed.extend(docs)

    async def drain():
        pass

    rebalancer = Rebalancer(
        "points",
        SPECS,
        {0: feed.state},
        consumer=None,
        store=None,
        committer=SimpleNamespace(commit=commit),
        drain=drain,
        pause=None,
        release=feed.mirror.release,
    )
    await rebalancer.on_partitions_revoked({TopicPartition("points", 0)})
    assert committed and feed.mirror.origin(0, "a") is None and feed.mirror.origin(0, "b") is None


def test_a_failed_device_append_sends_its_streams_to_the_host(rng, monkeypatch):
    feed = Feed(rng, {"a": 2})
    feed.job(4)

    def broken(*args, **kwargs):
        raise RuntimeError("injected device failure")

    with monkeypatch.context() as patch:
        patch.setattr(DeviceRingBuffers, "append_many", broken)
        job = feed.job(6)
    assert job.due and not job.device_batches and feed.mirror.origin(0, "a") is None
    origin = feed.state.buffers["a"].count
    job = feed.job(12)
    assert feed.mirror.origin(0, "a") == origin
    assert set(_gathered(job)) == _still_held(job, feed.state, {"a": origin}) != set()


def test_ring_work_runs_on_the_rings_stream_and_compute_waits_for_it(rng, monkeypatch):
    """Intake must not queue behind the compute thread's batches: every ring kernel is launched
    on the mirror's side stream, each gathered or joined batch carries the event recorded after
    it on that stream, and the compute side waits for that event before its first kernel
    (which runs on the default stream)."""
    from numba.cuda.simulator import kernel

    from gpu_tda import device
    from gpu_tda.streaming.batch import persistence_of_batch_fn

    launches: list[tuple[str, int]] = []
    configure = kernel.FakeCUDAKernel.__getitem__

    def record(self, configuration):
        stream = configuration[2] if len(configuration) > 2 else 0
        launches.append((self.fn.__name__, id(stream) if stream else 0))
        return configure(self, configuration)

    monkeypatch.setattr(kernel.FakeCUDAKernel, "__getitem__", record)
    feed = Feed(rng, {"a": 2, "b": 2})
    first, second = feed.job(8, max_points=3), feed.job(8, max_points=3)
    gathered = first.device_batches[(8, 2)], second.device_batches[(8, 2)]
    first.merge(second)
    batch = first.device_batches[(8, 2)]
    ring_stream = id(batch.stream.launch)
    assert {name for name, _ in launches} == {"_scatter_kernel", "_gather_kernel"}
    assert {stream for _, stream in launches} == {ring_stream}
    events = [b.ready for b in (*gathered, batch)]
    assert all(e is not None for e in events) and len({id(e) for e in events}) == 3

    launches.clear()
    waited: list[object] = []
    monkeypatch.setattr(device, "wait_for", lambda event: waited.append((event, len(launches))))
    persistence_of_batch_fn(batch, maxdim=1, threshold=np.inf)
    assert waited == [(batch.ready, 0)]  # before the engine's first kernel
    assert launches and {stream for _, stream in launches} == {0}


def test_a_device_without_streams_leaves_every_stream_on_the_host(rng, monkeypatch):
    from gpu_tda import device

    def broken():
        raise RuntimeError("injected: no stream on this device")

    monkeypatch.setattr(device, "SideStream", broken)
    feed = Feed(rng, {"a": 2})
    job = feed.job(12)
    assert job.due and not job.device_batches and feed.mirror.origin(0, "a") is None
