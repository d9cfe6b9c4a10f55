"""The broker's group coordinator: Kafka's classic consumer-group protocol, and group offsets.

A group moves through the states Kafka's coordinator uses:

* ``EMPTY``: no members (committed offsets are kept).
* ``PREPARING``: a rebalance began (a member joined, left or timed out). Every member must send
  JoinGroup again; heartbeats answer REBALANCE_IN_PROGRESS to tell them. The joins are held
  until every member has rejoined or the longest rebalance timeout passed (members that did
  not rejoin by then are dropped). The first join of an empty group is also held for
  ``initial_delay`` (Kafka's ``group.initial.rebalance.delay.ms``), so that members started
  together form one generation instead of one each.
* ``COMPLETING``: the joins were answered with a new generation (the leader also got every
  member's subscription); SyncGroup requests wait for the leader's assignments.
* ``STABLE``: assignments handed out; heartbeats keep the members' sessions alive.

A member whose session timeout passes without a request from it leaves the group, which then
rebalances. Offsets are committed by members of the current generation, also while a rebalance
is being prepared (a consumer commits in its partitions-revoked callback), or by a client with
no group membership (generation -1).
"""

from __future__ import annotations

import asyncio
import enum
import time
import uuid
from dataclasses import dataclass, field

from aiokafka.errors import (
    IllegalGenerationError,
    InconsistentGroupProtocolError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)

NONE = 0
UNKNOWN_MEMBER = UnknownMemberIdError.errno
ILLEGAL_GENERATION = IllegalGenerationError.errno
REBALANCING = RebalanceInProgressError.errno
INCONSISTENT_PROTOCOL = InconsistentGroupProtocolError.errno


class State(enum.Enum):
    EMPTY = "empty"
    PREPARING = "preparing"
    COMPLETING = "completing"
    STABLE = "stable"


@dataclass(frozen=True)
class JoinResult:
    """What a JoinGroup answer carries (``members`` only for the leader)."""

    error: int
    generation: int = -1
    protocol: str = ""
    leader: str = ""
    member_id: str = ""
    members: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class Member:
    member_id: str
    session_timeout: float  # seconds
    rebalance_timeout: float
    protocols: list[tuple[str, bytes]]
    last_seen: float
    join: asyncio.Future[JoinResult] | None = None
    sync: asyncio.Future[tuple[int, bytes]] | None = None
    assignment: bytes = b""

    @property
    def joining(self) -> bool:
        return self.join is not None and not self.join.done()

    def protocol_names(self) -> set[str]:
        return {name for name, _ in self.protocols}


@dataclass
class Group:
    name: str
    state: State = State.EMPTY
    generation: int = 0
    protocol_type: str | None = None
    protocol: str = ""
    leader: str = ""
    members: dict[str, Member] = field(default_factory=dict)
    offsets: dict[tuple[str, int], tuple[int, str]] = field(default_factory=dict)
    deadline: asyncio.TimerHandle | None = None
    held_until: float = 0.0  # loop time before which the rebalance does not complete


class GroupCoordinator:
    """Every group of one broker (all state in memory, on the broker's event loop).

    ``initial_delay``: seconds the first join of an empty group waits for more members.
    """

    def __init__(self, initial_delay: float = 0.0) -> None:
        self.initial_delay = initial_delay
        self._groups: dict[str, Group] = {}

    def _group(self, name: str) -> Group:
        group = self._groups.get(name)
        if group is None:
            group = self._groups[name] = Group(name)
        return group

    # -- membership -----------------------------------------------------------------------------
    async def join(
        self,
        name: str,
        member_id: str,
        client_id: str,
        session_timeout_ms: int,
        rebalance_timeout_ms: int,
        protocol_type: str,
        protocols: list[tuple[str, bytes]],
    ) -> JoinResult:
        """Hold a JoinGroup until the rebalance it starts (or joins) completes."""
        group = self._group(name)
        names = {n for n, _ in protocols}
        others = [m for mid, m in group.members.items() if mid != member_id]
        if others and (
            protocol_type != group.protocol_type
            or not names.intersection(*(m.protocol_names() for m in others))
        ):
            return JoinResult(INCONSISTENT_PROTOCOL)
        now = time.monotonic()
        if not member_id:
            member_id = f"{client_id or 'member'}-{uuid.uuid4()}"
        elif member_id not in group.members:
            return JoinResult(UNKNOWN_MEMBER)
        member = group.members.get(member_id)
        if member is None:
            member = group.members[member_id] = Member(member_id, 0, 0, [], now)
        member.session_timeout = session_timeout_ms / 1000
        member.rebalance_timeout = rebalance_timeout_ms / 1000
        member.protocols = list(protocols)
        member.last_seen = now
        if member.joining:  # the same member joined again before its first join was answered
            member.join.set_result(JoinResult(REBALANCING))  # type: ignore[union-attr]
        loop = asyncio.get_running_loop()
        member.join = loop.create_future()
        group.protocol_type = protocol_type
        if group.state is State.EMPTY and self.initial_delay > 0:
            group.held_until = loop.time() + self.initial_delay
            loop.call_at(group.held_until, self._complete_if_all_joined, group)
        if group.state is not State.PREPARING:
            self._prepare(group)
        self._complete_if_all_joined(group)
        return await member.join

    async def sync(
        self, name: str, generation: int, member_id: str, assignments: list[tuple[str, bytes]]
    ) -> tuple[int, bytes]:
        """``(error, assignment)``; a follower waits here for the leader's assignments."""
        group, member = self._member(name, member_id)
        if member is None:
            return UNKNOWN_MEMBER, b""
        if group.state is State.PREPARING:
            return REBALANCING, b""
        if generation != group.generation:
            return ILLEGAL_GENERATION, b""
        if group.state is State.STABLE:
            return NONE, member.assignment
        if member_id == group.leader:
            for target, assignment in assignments:
                if target in group.members:
                    group.members[target].assignment = assignment
            group.state = State.STABLE
            for other in group.members.values():
                if other.sync is not None and not other.sync.done():
                    other.sync.set_result((NONE, other.assignment))
                other.sync = None
            return NONE, member.assignment
        member.sync = asyncio.get_running_loop().create_future()
        return await member.sync

    def heartbeat(self, name: str, generation: int, member_id: str) -> int:
        group, member = self._member(name, member_id)
        if member is None:
            return UNKNOWN_MEMBER
        if group.state is State.PREPARING:
            return REBALANCING
        return NONE if generation == group.generation else ILLEGAL_GENERATION

    def leave(self, name: str, member_id: str) -> int:
        group, member = self._member(name, member_id)
        if member is None:
            return UNKNOWN_MEMBER
        self._remove(group, [member_id])
        return NONE

    def expire_sessions(self) -> None:
        """Drop members whose session timed out (a member held in a join is not timed out)."""
        now = time.monotonic()
        for group in self._groups.values():
            gone = [
                mid
                for mid, m in group.members.items()
                if not m.joining and now - m.last_seen > m.session_timeout
            ]
            if gone:
                self._remove(group, gone)

    # -- offsets --------------------------------------------------------------------------------
    def commit(
        self, name: str, generation: int, member_id: str, offsets: list[tuple[str, int, int, str]]
    ) -> int:
        """Store ``(topic, partition, offset, metadata)`` for ``name``; a Kafka error code."""
        group = self._group(name)
        if generation >= 0 or member_id:
            member = group.members.get(member_id)
            if member is None:
                return UNKNOWN_MEMBER
            member.last_seen = time.monotonic()
            if generation != group.generation:
                return ILLEGAL_GENERATION
            if group.state is State.COMPLETING:
                return REBALANCING
        elif group.members:  # a client outside the group may not commit for an active group
            return UNKNOWN_MEMBER
        for topic, partition, offset, metadata in offsets:
            group.offsets[(topic, partition)] = (offset, metadata)
        return NONE

    def committed(self, name: str, topic: str, partition: int) -> tuple[int, str]:
        """``(offset, metadata)`` committed for ``name``, or ``(-1, "")``."""
        group = self._groups.get(name)
        if group is None:
            return -1, ""
        return group.offsets.get((topic, partition), (-1, ""))

    def state(self, name: str) -> State:
        """Where group ``name`` is in its rebalance cycle (EMPTY for a group never seen)."""
        group = self._groups.get(name)
        return State.EMPTY if group is None else group.state

    def committed_partitions(self, name: str) -> list[tuple[str, int]]:
        group = self._groups.get(name)
        return [] if group is None else list(group.offsets)

    # -- transitions ----------------------------------------------------------------------------
    def _member(self, name: str, member_id: str) -> tuple[Group, Member | None]:
        """The group and the member (None: unknown), whose session this request renews."""
        group = self._group(name)
        member = group.members.get(member_id)
        if member is not None:
            member.last_seen = time.monotonic()
        return group, member

    def _prepare(self, group: Group) -> None:
        group.state = State.PREPARING
        for member in group.members.values():
            if member.sync is not None and not member.sync.done():
                member.sync.set_result((REBALANCING, b""))
            member.sync = None
        timeout = max(m.rebalance_timeout for m in group.members.values())
        if group.deadline is not None:
            group.deadline.cancel()
        group.deadline = asyncio.get_running_loop().call_later(timeout, self._complete, group)

    def _complete_if_all_joined(self, group: Group) -> None:
        if (
            group.state is State.PREPARING
            and asyncio.get_running_loop().time() >= group.held_until
            and all(m.joining for m in group.members.values())
        ):
            self._complete(group)

    def _complete(self, group: Group) -> None:
        """End the rebalance: members that did not rejoin are dropped, the rest get answers."""
        if group.deadline is not None:
            group.deadline.cancel()
            group.deadline = None
        for mid in [mid for mid, m in group.members.items() if not m.joining]:
            del group.members[mid]
        group.generation += 1
        if not group.members:
            group.state, group.leader, group.protocol = State.EMPTY, "", ""
            return
        members = list(group.members.values())
        if group.leader not in group.members:
            group.leader = members[0].member_id
        common = set.intersection(*(m.protocol_names() for m in members))
        leader = group.members[group.leader]
        group.protocol = next(n for n, _ in leader.protocols if n in common)
        subscriptions = [(m.member_id, dict(m.protocols)[group.protocol]) for m in members]
        group.state = State.COMPLETING
        now = time.monotonic()
        for m in members:
            m.assignment = b""
            m.last_seen = now
            m.join.set_result(  # type: ignore[union-attr]
                JoinResult(
                    NONE,
                    group.generation,
                    group.protocol,
                    group.leader,
                    m.member_id,
                    subscriptions if m.member_id == group.leader else [],
                )
            )

    def _remove(self, group: Group, member_ids: list[str]) -> None:
        for mid in member_ids:
            member = group.members.pop(mid)
            if member.join is not None and not member.join.done():
                member.join.set_result(JoinResult(UNKNOWN_MEMBER))
            if member.sync is not None and not member.sync.done():
                member.sync.set_result((UNKNOWN_MEMBER, b""))
        if not group.members:
            if group.deadline is not None:
                group.deadline.cancel()
                group.deadline = None
            group.state, group.leader, group.protocol = State.EMPTY, "", ""
            group.generation += 1
            return
        if group.state is not State.PREPARING:
            self._prepare(group)
        self._complete_if_all_joined(group)
