"""Database helpers every app uses."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.db import connection, transaction
from django.db.models import Model, QuerySet

_M = TypeVar("_M", bound=Model)

# Rows deleted per statement by `delete_in_batches`.
PRUNE_BATCH = 2000


def delete_in_batches(queryset: QuerySet[_M], model: type[_M]) -> int:
    """Delete in bounded batches: the first prune after a long pause must neither hold one
    huge transaction nor collect every row in memory."""
    deleted = 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:PRUNE_BATCH])
        if not ids:
            return deleted
        # `_default_manager`: Model itself declares no `objects` (and the models pruned here
        # have no other manager).
        rows = model._default_manager.filter(pk__in=ids)
        deleted += rows.delete()[1].get(model._meta.label, 0)


@contextmanager
def snapshot() -> Iterator[None]:
    """Reads that all see the database at one moment: a transaction that is REPEATABLE READ
    on PostgreSQL (whose default, READ COMMITTED, gives each statement a moment of its own,
    so that a row and its children read by two queries can disagree). On SQLite any
    transaction reads one moment (Landed's begin IMMEDIATE: a read holds writers off for its
    few milliseconds). Inside a transaction already begun, its own isolation stands."""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def release_thread_connection() -> None:
    """Close the database connection of a thread of its own (a sync's read-ahead, a connection
    test), unless it holds a transaction. Django closes connections at the end of requests and
    tasks, which such threads do not see: a token lookup made there would otherwise leave its
    connection open for as long as the thread lives."""
    if threading.current_thread() is not threading.main_thread() and not (
        connection.in_atomic_block
    ):
        connection.close()
