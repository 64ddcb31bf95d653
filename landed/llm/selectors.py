"""Reading what accounts used of the LLM provider."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Sum

from landed.llm.models import LlmUsage


@dataclass(frozen=True)
class LlmUsageTotals:
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal


def llm_usage_totals(
    *, account_id: uuid.UUID | str, since: datetime | None = None
) -> LlmUsageTotals:
    """The account's requests, tokens and cost (since `since`, when given)."""
    rows = LlmUsage.objects.filter(account_id=account_id)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    totals = rows.aggregate(
        requests=Count("id"),
        prompt_tokens=Sum("prompt_tokens"),
        completion_tokens=Sum("completion_tokens"),
        cost_usd=Sum("cost_usd"),
    )
    return LlmUsageTotals(
        requests=totals["requests"],
        prompt_tokens=totals["prompt_tokens"] or 0,
        completion_tokens=totals["completion_tokens"] or 0,
        cost_usd=totals["cost_usd"] or Decimal(0),
    )
