"""One client for OpenAI-compatible Chat Completions servers (OpenAI, Azure OpenAI, vLLM,
Ollama, llama.cpp), through the official `openai` library.

- `chat_json`: an answer that is a JSON object valid against a JSON Schema: asked for with
  `response_format` json_schema (strict); a server that ignores it and answers in prose with
  the object inside still works (the first JSON object in the text is taken), and one that
  refuses the parameter (400) is asked again with the schema in the instructions. Whatever
  the server sent is validated: the model's output is data, never trusted.
- `chat_stream` / `achat_stream`: the answer's text as it is written. Closing the iterator
  (or cancelling its task) closes the HTTP response, which stops the generation on the
  server; past the deadline it ends with `LlmError("timeout")`.
- Retries: the library's own (429 with the server's Retry-After, 408, 409, 5xx, lost
  connections; exponential backoff with jitter), LLM_MAX_RETRIES of them. A stream is retried
  only until its first byte.
- Every request that reached the server is recorded (`LlmUsage`: tokens and cost), for the
  account when there is one.

Failures are `LlmError` with a kind; callers fall back to their deterministic path.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx2

# Its stubs (types-jsonschema) are not a dependency: what it exports is Any here.
import jsonschema  # type: ignore[import-untyped]
import openai
from django.conf import settings
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from openai.types.completion_usage import CompletionUsage

from landed.llm.services import allm_usage_record, llm_usage_record

logger = logging.getLogger("landed.llm")

LlmErrorKind = Literal[
    "not_configured", "timeout", "rate_limited", "upstream_error", "invalid_output"
]

# A local server (Ollama, vLLM, llama.cpp) takes any key; the library refuses to start without.
PLACEHOLDER_API_KEY = "unused"
# An answer longer than this is not searched for a JSON object (the search is quadratic at
# worst); a structured answer is far smaller.
MAX_JSON_ANSWER_CHARS = 1_000_000
# Where the server reported no usage (a stream cut short): about four characters a token.
CHARS_PER_TOKEN = 4
_ERROR_MESSAGE_CHARS = 500


class LlmError(Exception):
    """A request to the provider that gave no usable answer. `retryable`: the same request may
    succeed later (a timeout, a rate limit, an unavailable server), as opposed to a request
    the server refused or an answer that was not what was asked for."""

    def __init__(self, kind: LlmErrorKind, message: str, retryable: bool | None = None) -> None:
        self.kind: LlmErrorKind = kind
        self.message = message
        self.retryable = (
            kind in ("timeout", "rate_limited", "upstream_error")
            if retryable is None
            else retryable
        )
        super().__init__(f"{kind}: {message}")


@dataclass(frozen=True)
class LlmResult:
    data: dict[str, Any]
    model: str
    prompt_tokens: int
    completion_tokens: int


def llm_configured() -> bool:
    """A model, and somewhere to send it: a base URL (any compatible server) or a key (OpenAI)."""
    return bool(settings.LLM_MODEL and (settings.LLM_BASE_URL or settings.LLM_API_KEY))


def _require_configured() -> None:
    if not llm_configured():
        raise LlmError(
            "not_configured",
            "No LLM provider is configured (LLM_MODEL with LLM_BASE_URL or LLM_API_KEY).",
            retryable=False,
        )


def _client_options() -> dict[str, Any]:
    return {
        "base_url": settings.LLM_BASE_URL or None,
        "api_key": settings.LLM_API_KEY or PLACEHOLDER_API_KEY,
        "timeout": settings.LLM_TIMEOUT_SECONDS,
        "max_retries": settings.LLM_MAX_RETRIES,
    }


_clients: dict[tuple[Any, ...], openai.OpenAI] = {}
_clients_lock = threading.Lock()


def _client() -> openai.OpenAI:
    """The synchronous client for the current settings, kept: its connection pool is reused
    from one request to the next (it is thread-safe)."""
    _require_configured()
    options = _client_options()
    key = tuple(sorted(options.items()))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = openai.OpenAI(**options)
        return client


def _async_client() -> openai.AsyncOpenAI:
    """A new asynchronous client (its connections belong to the running event loop, so it is
    not kept past the request)."""
    _require_configured()
    return openai.AsyncOpenAI(**_client_options())


def _short(text: str) -> str:
    return text if len(text) <= _ERROR_MESSAGE_CHARS else text[:_ERROR_MESSAGE_CHARS] + "..."


def llm_error_from(exc: BaseException) -> LlmError:
    """The library's (or the HTTP layer's, inside a stream) failure as an LlmError."""
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        return LlmError("timeout", "The LLM provider did not answer in time.")
    if isinstance(exc, openai.RateLimitError):
        return LlmError("rate_limited", _short(f"The LLM provider is rate limiting: {exc.message}"))
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
        return LlmError("upstream_error", "The LLM provider is unreachable.")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retryable = status >= 500 or status in (408, 409)
        return LlmError(
            "upstream_error",
            _short(f"The LLM provider answered {status}: {exc.message}"),
            retryable=retryable,
        )
    if isinstance(exc, openai.APIError):
        # An error event inside a stream.
        return LlmError("upstream_error", _short(f"The LLM provider failed: {exc.message}"))
    return LlmError("upstream_error", _short(f"The LLM provider failed: {exc}"))


def _stream_error(exc: Exception, purpose: str) -> LlmError:
    """A stream's failure as an LlmError, logged: the library's or its HTTP layer's errors, or
    a chunk that is not JSON (the library's json.JSONDecodeError, a ValueError)."""
    if isinstance(exc, openai.APIError | httpx2.HTTPError):
        error = llm_error_from(exc)
    else:
        error = LlmError(
            "upstream_error", _short(f"The LLM provider sent a malformed stream: {exc}")
        )
    logger.warning("llm.stream_failed purpose=%s kind=%s", purpose, error.kind)
    return error


def _estimated_tokens(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def _prompt_text(messages: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join(str(message.get("content") or "") for message in messages)


def _response_format(
    schema: Mapping[str, Any], schema_name: str, *, strict: bool
) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {"name": schema_name, "schema": dict(schema), "strict": strict},
    }


def _with_schema_instructions(
    messages: Sequence[Mapping[str, Any]], schema: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """For a server that refuses `response_format`: the schema in a system message instead."""
    instruction = (
        "Answer with one JSON object and nothing else. It must be valid against this JSON "
        "Schema:\n" + json.dumps(schema, sort_keys=True)
    )
    return [{"role": "system", "content": instruction}, *(dict(m) for m in messages)]


def _refuses_response_format(exc: openai.APIStatusError) -> bool:
    text = f"{exc.message} {exc.body}".lower()
    return exc.status_code in (400, 422) and ("response_format" in text or "json_schema" in text)


def _refuses_stream_options(exc: openai.APIStatusError) -> bool:
    """An older server that refuses `stream_options`: streamed without it, its usage is then
    estimated from the text."""
    return exc.status_code in (400, 422) and "stream_options" in f"{exc.message} {exc.body}"


def json_object_in(text: str) -> dict[str, Any] | None:
    """The answer as a JSON object: the whole text, else the first object inside it (a model
    that wrapped it in prose or a Markdown fence)."""
    if len(text) > MAX_JSON_ANSWER_CHARS:
        return None
    try:
        whole = json.loads(text)
    except ValueError:
        pass
    else:
        return whole if isinstance(whole, dict) else None
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            found, _end = decoder.raw_decode(text, start)
        except ValueError:
            start = text.find("{", start + 1)
            continue
        if isinstance(found, dict):
            return found
        start = text.find("{", start + 1)
    return None


def _structured_data(completion: ChatCompletion, schema: Mapping[str, Any]) -> dict[str, Any]:
    if not completion.choices:
        raise LlmError("invalid_output", "The LLM provider's answer had no choices.")
    choice = completion.choices[0]
    if choice.message.refusal:
        raise LlmError("invalid_output", _short(f"The model refused: {choice.message.refusal}"))
    if choice.finish_reason == "length":
        raise LlmError("invalid_output", "The model's answer was cut at its token limit.")
    data = json_object_in(choice.message.content or "")
    if data is None:
        raise LlmError("invalid_output", "The model's answer holds no JSON object.")
    validator = jsonschema.Draft202012Validator(schema)
    problems = sorted(validator.iter_errors(data), key=lambda error: list(error.absolute_path))
    if problems:
        first = problems[0]
        where = "/".join(str(part) for part in first.absolute_path) or "(the object)"
        raise LlmError(
            "invalid_output",
            _short(
                f"The model's answer does not match the schema ({len(problems)} problem(s)); "
                f"at {where}: {first.message}"
            ),
        )
    return data


def _record(
    *,
    account_id: uuid.UUID | str | None,
    purpose: str,
    model: str,
    usage: CompletionUsage | None,
    prompt_text: str,
    completion_text: str,
) -> tuple[int, int]:
    prompt_tokens, completion_tokens, estimated = _tokens(usage, prompt_text, completion_text)
    llm_usage_record(
        account_id=account_id,
        purpose=purpose,
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        estimated=estimated,
    )
    return prompt_tokens, completion_tokens


def _tokens(
    usage: CompletionUsage | None, prompt_text: str, completion_text: str
) -> tuple[int, int, bool]:
    if usage is not None:
        # A server may leave a count out (null): recorded as 0 rather than guessed.
        return usage.prompt_tokens or 0, usage.completion_tokens or 0, False
    return _estimated_tokens(prompt_text), _estimated_tokens(completion_text), True


def chat_json(
    *,
    account_id: uuid.UUID | str | None,
    purpose: str,
    messages: Sequence[Mapping[str, Any]],
    schema: Mapping[str, Any],
    schema_name: str,
    strict: bool = True,
    timeout: float | None = None,
) -> LlmResult:
    """One answer, a JSON object valid against `schema` (draft 2020-12). The tokens are
    recorded even when the answer turns out invalid: they were spent.

    `strict`: OpenAI's strict structured output, which takes only schemas whose objects
    declare every property as required and no other (optional ones nullable); a richer
    schema is sent with `strict` false, and the answer is validated here all the same."""
    client = _client()
    model = settings.LLM_MODEL
    sent = [dict(m) for m in messages]
    request: dict[str, Any] = {
        "response_format": _response_format(schema, schema_name, strict=strict)
    }
    if timeout is not None:
        request["timeout"] = timeout
    try:
        try:
            completion = client.chat.completions.create(
                model=model, messages=_as_params(sent), **request
            )
        except openai.APIStatusError as exc:
            if not _refuses_response_format(exc):
                raise
            logger.info("llm.response_format_refused model=%s status=%s", model, exc.status_code)
            sent = _with_schema_instructions(sent, schema)
            del request["response_format"]
            completion = client.chat.completions.create(
                model=model, messages=_as_params(sent), **request
            )
    except openai.APIError as exc:
        error = llm_error_from(exc)
        logger.warning("llm.request_failed purpose=%s kind=%s", purpose, error.kind)
        raise error from exc
    answer = completion.choices[0].message.content or "" if completion.choices else ""
    prompt_tokens, completion_tokens = _record(
        account_id=account_id,
        purpose=purpose,
        model=completion.model or model,
        usage=completion.usage,
        prompt_text=_prompt_text(sent),
        completion_text=answer,
    )
    data = _structured_data(completion, schema)
    return LlmResult(
        data=data,
        model=completion.model or model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )


def _as_params(messages: list[dict[str, Any]]) -> list[ChatCompletionMessageParam]:
    # The library's message types are TypedDicts; the caller's dicts are checked by the server.
    return messages  # type: ignore[return-value]


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise LlmError("timeout", "The answer's deadline has passed.")
    return remaining


def chat_stream(
    *,
    account_id: uuid.UUID | str | None,
    purpose: str,
    messages: Sequence[Mapping[str, Any]],
    deadline: float,
) -> Iterator[str]:
    """The answer's text, piece by piece, until `deadline` (a `time.monotonic()` instant).

    Not configured: `LlmError("not_configured")` at once. The request is sent at the first
    `next()`. Closing the iterator closes the response, and the server stops generating. The
    deadline is checked at each piece, and no single read waits past the time that was left
    when the request was sent."""
    client = _client()
    return _stream(
        client=client,
        account_id=account_id,
        purpose=purpose,
        messages=[dict(m) for m in messages],
        deadline=deadline,
    )


def _stream(
    *,
    client: openai.OpenAI,
    account_id: uuid.UUID | str | None,
    purpose: str,
    messages: list[dict[str, Any]],
    deadline: float,
) -> Iterator[str]:
    model = settings.LLM_MODEL
    timeout = min(settings.LLM_TIMEOUT_SECONDS, _remaining(deadline))
    written: list[str] = []
    usage: CompletionUsage | None = None
    stream: openai.Stream[Any] | None = None
    try:
        request: dict[str, Any] = {
            "model": model,
            "messages": _as_params(messages),
            "stream": True,
            "stream_options": {"include_usage": True},
            "timeout": timeout,
        }
        try:
            stream = client.chat.completions.create(**request)
        except openai.APIStatusError as exc:
            if not _refuses_stream_options(exc):
                raise
            del request["stream_options"]
            stream = client.chat.completions.create(**request)
        for chunk in stream:
            model = chunk.model or model
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                if choice.delta.content:
                    written.append(choice.delta.content)
                    yield choice.delta.content
            _remaining(deadline)
    except (openai.APIError, httpx2.HTTPError, ValueError) as exc:
        raise _stream_error(exc, purpose) from exc
    finally:
        if stream is not None:
            stream.close()
            _record(
                account_id=account_id,
                purpose=purpose,
                model=model,
                usage=usage,
                prompt_text=_prompt_text(messages),
                completion_text="".join(written),
            )


def achat_stream(
    *,
    account_id: uuid.UUID | str | None,
    purpose: str,
    messages: Sequence[Mapping[str, Any]],
    deadline: float,
) -> AsyncIterator[str]:
    """`chat_stream` for async code (an ASGI view): the same pieces and errors. Each read
    waits no longer than the time left; `aclose()` (or cancelling the task that reads)
    closes the response, and the server stops generating."""
    _require_configured()
    return _astream(
        account_id=account_id,
        purpose=purpose,
        messages=[dict(m) for m in messages],
        deadline=deadline,
    )


async def _astream(
    *,
    account_id: uuid.UUID | str | None,
    purpose: str,
    messages: list[dict[str, Any]],
    deadline: float,
) -> AsyncIterator[str]:
    model = settings.LLM_MODEL
    timeout = min(settings.LLM_TIMEOUT_SECONDS, _remaining(deadline))
    written: list[str] = []
    usage: CompletionUsage | None = None
    sent = False
    client = _async_client()
    stream: openai.AsyncStream[Any] | None = None
    try:
        request: dict[str, Any] = {
            "model": model,
            "messages": _as_params(messages),
            "stream": True,
            "stream_options": {"include_usage": True},
            "timeout": timeout,
        }
        async with asyncio.timeout(_remaining(deadline)):
            try:
                stream = await client.chat.completions.create(**request)
            except openai.APIStatusError as exc:
                if not _refuses_stream_options(exc):
                    raise
                del request["stream_options"]
                stream = await client.chat.completions.create(**request)
        sent = True
        chunks = stream.__aiter__()
        while True:
            try:
                async with asyncio.timeout(_remaining(deadline)):
                    chunk = await chunks.__anext__()
            except StopAsyncIteration:
                break
            model = chunk.model or model
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                if choice.delta.content:
                    written.append(choice.delta.content)
                    yield choice.delta.content
    except TimeoutError as exc:
        logger.warning("llm.stream_failed purpose=%s kind=timeout", purpose)
        raise LlmError("timeout", "The answer's deadline has passed.") from exc
    except (openai.APIError, httpx2.HTTPError, ValueError) as exc:
        raise _stream_error(exc, purpose) from exc
    finally:
        # Closing the client closes the response and its connection: the server sees the
        # disconnect. Shielded: a cancelled reader still closes it and records the usage.
        if stream is not None:
            await asyncio.shield(stream.close())
        await asyncio.shield(client.close())
        if sent:
            prompt_tokens, completion_tokens, estimated = _tokens(
                usage, _prompt_text(messages), "".join(written)
            )
            await asyncio.shield(
                allm_usage_record(
                    account_id=account_id,
                    purpose=purpose,
                    model=model,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    estimated=estimated,
                )
            )
