"""Database helpers every app uses."""

from __future__ import annotations

from typing import TypeVar

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
