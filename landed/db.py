"""Database helpers every app uses."""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet

# Rows deleted per statement by `delete_in_batches`.
PRUNE_BATCH = 2000


def delete_in_batches(queryset: QuerySet[Any], model: type[Model]) -> int:
    """Delete in bounded batches: the first prune after a long pause must neither hold one
    huge transaction nor collect every row in memory."""
    deleted = 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:PRUNE_BATCH])
        if not ids:
            return deleted
        deleted += model.objects.filter(pk__in=ids).delete()[1].get(model._meta.label, 0)
