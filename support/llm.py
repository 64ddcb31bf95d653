"""The support chat's use of the LLM provider (landed.llm): whether one is configured, and the
answer's text as a stream.

landed.llm is built alongside this app; until a build has it, the chat answers without an
LLM (the retrieved passages), as it does when no provider is configured.
"""

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

try:
    from landed.llm.client import LlmError, achat_stream, llm_configured
except ImportError:  # a build without landed.llm: never configured

    class LlmError(Exception):  # type: ignore[no-redef]
        def __init__(self, kind: str, message: str, retryable: bool | None = None) -> None:
            self.kind = kind
            self.message = message
            self.retryable = bool(retryable)
            super().__init__(f"{kind}: {message}")

    def llm_configured() -> bool:
        return False

    def achat_stream(**kwargs: Any) -> AsyncIterator[str]:
        raise LlmError("not_configured", "No LLM provider in this build.", retryable=False)


PURPOSE = "support_chat"

__all__ = ["PURPOSE", "LlmError", "answer_stream", "llm_configured"]


def answer_stream(
    *,
    account_id: uuid.UUID | None,
    messages: Sequence[Mapping[str, Any]],
    deadline: float,
) -> AsyncIterator[str]:
    """The answer as it is written (`deadline` a time.monotonic() instant); `aclose()` stops
    the generation upstream."""
    return achat_stream(
        account_id=account_id, purpose=PURPOSE, messages=messages, deadline=deadline
    )
