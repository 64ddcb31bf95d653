"""What each request to the LLM provider used: tokens and their cost, per account."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class LlmUsage(models.Model):
    """One request to the provider (a structured answer or a stream). `account` is null for an
    anonymous caller (the support chat signed out). `estimated`: the server reported no usage
    (a stream closed or timed out before its last chunk) and the tokens are counted from the
    text, about four characters a token."""

    account = models.ForeignKey(
        "accounts.Account", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    purpose = models.CharField(max_length=64)
    model = models.CharField(max_length=200)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=16, decimal_places=8, default=0)
    estimated = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["account", "created_at"], name="llm_usage_account_time")]
        verbose_name = "LLM usage"
        verbose_name_plural = "LLM usage"

    def __str__(self) -> str:
        return f"{self.purpose} {self.model} ({self.prompt_tokens}+{self.completion_tokens})"
