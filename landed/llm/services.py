"""Recording what a request to the LLM provider used."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings

from landed.llm.models import LlmUsage

_PER_MILLION = Decimal(1_000_000)


def llm_cost_usd(*, prompt_tokens: int, completion_tokens: int) -> Decimal:
    """The cost at the configured prices (LLM_INPUT/OUTPUT_USD_PER_MILLION_TOKENS)."""
    cost = (
        Decimal(prompt_tokens) * settings.LLM_INPUT_USD_PER_MILLION_TOKENS
        + Decimal(completion_tokens) * settings.LLM_OUTPUT_USD_PER_MILLION_TOKENS
    ) / _PER_MILLION
    return cost.quantize(Decimal("0.00000001"))


def _usage_row(
    *,
    account_id: uuid.UUID | str | None,
    purpose: str,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    estimated: bool,
) -> LlmUsage:
    return LlmUsage(
        account_id=account_id,
        purpose=purpose[:64],
        model=model[:200],
        prompt_tokens=max(prompt_tokens, 0),
        completion_tokens=max(completion_tokens, 0),
        cost_usd=llm_cost_usd(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
        estimated=estimated,
    )


def llm_usage_record(
    *,
    account_id: uuid.UUID | str | None,
    purpose: str,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    estimated: bool = False,
) -> LlmUsage:
    usage = _usage_row(
        account_id=account_id,
        purpose=purpose,
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        estimated=estimated,
    )
    usage.save()
    return usage


async def allm_usage_record(
    *,
    account_id: uuid.UUID | str | None,
    purpose: str,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    estimated: bool = False,
) -> LlmUsage:
    usage = _usage_row(
        account_id=account_id,
        purpose=purpose,
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        estimated=estimated,
    )
    await usage.asave()
    return usage
