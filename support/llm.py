"""The support chat's use of the LLM provider (landed.llm): whether one is configured, and the
answer's text as a stream."""

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from landed.llm.client import LlmError, achat_stream, llm_configured

PURPOSE = "support_chat"

__all__ = ["PURPOSE", "LlmError", "answer_stream", "llm_configured"]


def answer_stream(
    *,
    account_id: uuid.UUID | None,
    messages: Sequence[Mapping[str, Any]],
    deadline: float,
) -> AsyncIterator[str]:
    """The answer as it is written (`deadline` a time.monotonic() instant); closing it stops
    the generation upstream."""
    return achat_stream(
        account_id=account_id, purpose=PURPOSE, messages=messages, deadline=deadline
    )
