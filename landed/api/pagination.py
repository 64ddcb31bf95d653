"""The one pagination: `limit`/`offset` in, `{items, total, limit, offset, has_next}` out."""

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.request import Request

from landed.api.serializers import QueryInteger
from landed.api.validation import parse_query

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Far past any real list, and inside what every database accepts as an OFFSET.
MAX_OFFSET = 1_000_000_000


class PageQuerySerializer(serializers.Serializer):
    limit = QueryInteger(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)
    offset = QueryInteger(min_value=0, max_value=MAX_OFFSET, default=0)


def paginate(
    request: Request, queryset: QuerySet, item_serializer: type[serializers.Serializer]
) -> dict[str, Any]:
    """One page of `queryset` (already filtered and ordered) as the list envelope."""
    page = parse_query(PageQuerySerializer, request).validated_data
    limit, offset = page["limit"], page["offset"]
    total = queryset.count()
    rows = list(queryset[offset : offset + limit])
    return {
        "items": item_serializer(rows, many=True).data,
        "total": total,
        "limit": limit,
        "offset": offset,
        "has_next": offset + len(rows) < total,
    }


def page_serializer(item_serializer: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The envelope's schema around `item_serializer`, for the OpenAPI description."""
    name = item_serializer.__name__.removesuffix("Serializer") + "Page"
    return type(
        name,
        (serializers.Serializer,),
        {
            "items": item_serializer(many=True),
            "total": serializers.IntegerField(),
            "limit": serializers.IntegerField(),
            "offset": serializers.IntegerField(),
            "has_next": serializers.BooleanField(),
        },
    )
