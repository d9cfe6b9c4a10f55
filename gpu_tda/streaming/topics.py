"""Creating the worker's topics when they are missing (aiokafka's admin client)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36


async def ensure_topics(
    bootstrap_servers: str,
    partitions: Mapping[str, int],
    *,
    configs: Mapping[str, Mapping[str, str]] | None = None,
    client_id: str = "gpu-tda-admin",
    timeout_s: float = 60.0,
) -> dict[str, int]:
    """Create each missing topic with its partition count; return every topic's partition count.

    Existing topics are left as they are (their partition count is reported, not changed).
    Raises TimeoutError when the cluster does not answer within ``timeout_s``.
    """
    try:
        return await asyncio.wait_for(
            _ensure_topics(bootstrap_servers, partitions, configs, client_id), timeout_s
        )
    except TimeoutError:
        raise TimeoutError(
            f"creating/describing topics {sorted(partitions)} on {bootstrap_servers} "
            f"took more than {timeout_s:.0f} s"
        ) from None


async def _ensure_topics(
    bootstrap_servers: str,
    partitions: Mapping[str, int],
    configs: Mapping[str, Mapping[str, str]] | None,
    client_id: str,
) -> dict[str, int]:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, client_id=client_id, request_timeout_ms=15_000
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in partitions if name not in existing]
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(
                        name,
                        num_partitions=partitions[name],
                        replication_factor=1,
                        topic_configs=dict((configs or {}).get(name, {})),
                    )
                    for name in missing
                ]
            )
            for name, code, message in _topic_errors(response):
                if code not in (0, TOPIC_ALREADY_EXISTS):
                    raise RuntimeError(f"cannot create topic {name!r}: {message} (code {code})")
            log.info("created topics %s", ", ".join(missing))
        return await partition_counts(admin, list(partitions))
    finally:
        await admin.close()


async def partition_counts(admin: object, topics: list[str]) -> dict[str, int]:
    """Partition count of each topic, from cluster metadata."""
    described = await admin.describe_topics(topics)  # type: ignore[attr-defined]
    counts: dict[str, int] = {}
    for entry in described:
        name = entry["topic"] if isinstance(entry, dict) else entry[1]
        parts = entry["partitions"] if isinstance(entry, dict) else entry[3]
        counts[name] = len(parts)
    return counts


def _topic_errors(response: object) -> list[tuple[str, int, str | None]]:
    out = []
    for item in response.topic_errors:  # type: ignore[attr-defined]
        name, code = item[0], item[1]
        message = item[2] if len(item) > 2 else None
        out.append((name, code, message))
    return out
