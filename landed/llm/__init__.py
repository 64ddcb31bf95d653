"""The optional LLM provider: one client for OpenAI-compatible Chat Completions servers, and the
tokens and cost each account's requests used (docs/llm.md)."""
