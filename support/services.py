"""Writes of the support chat: a turn's question, then its answer."""

import uuid
from dataclasses import dataclass

from django.db import transaction

from support.models import MessageRole, SupportConversation, SupportMessage
from support.selectors import conversation_get, conversation_history


@dataclass(frozen=True)
class ChatTurn:
    """A question received and stored, with what answering it needs."""

    conversation: SupportConversation
    question: SupportMessage
    # The messages before the question, oldest first.
    history: list[SupportMessage]
    account_id: uuid.UUID | None


def support_question_add(
    *,
    account_id: uuid.UUID | None,
    conversation_id: uuid.UUID | None,
    message: str,
    history_limit: int,
) -> ChatTurn:
    """Store the caller's question in its conversation (a new one without an id); 404 for a
    conversation the caller may not continue."""
    with transaction.atomic():
        if conversation_id is None:
            conversation = SupportConversation.objects.create(account_id=account_id)
            history: list[SupportMessage] = []
        else:
            conversation = conversation_get(conversation_id=conversation_id, account_id=account_id)
            history = conversation_history(conversation=conversation, limit=history_limit)
        question = SupportMessage.objects.create(
            conversation=conversation, role=MessageRole.USER, content=message
        )
    return ChatTurn(
        conversation=conversation, question=question, history=history, account_id=account_id
    )


def support_answer_add(
    *, conversation: SupportConversation, content: str, sources: list[dict[str, str]]
) -> SupportMessage:
    return SupportMessage.objects.create(
        conversation=conversation, role=MessageRole.ASSISTANT, content=content, sources=sources
    )
