"""The Celery queues, by workload: long syncs apart from light, frequent work."""

from enum import StrEnum


class Queue(StrEnum):
    SYNCS = "syncs"
    DEFAULT = "default"
