"""The real Redis broker as the tests read it: what waits in a Celery queue."""

import base64
import json
import os
from collections.abc import Iterator

import pytest
import redis


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    """The test broker (REDIS_URL), emptied before and after."""
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.flushdb()
    yield client
    client.flushdb()


def queued(broker: redis.Redis, queue: str = "webhooks") -> list[tuple[str, list]]:
    """(task name, args) of the messages waiting in `queue`, oldest first."""
    messages = [json.loads(raw) for raw in reversed(broker.lrange(queue, 0, -1))]
    return [
        (m["headers"]["task"], json.loads(base64.b64decode(m["body"]).decode())[0])
        for m in messages
    ]
