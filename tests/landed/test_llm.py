"""The LLM provider's client through the real `openai` library, against a local server that
speaks Chat Completions (tests/openai_server.py): structured output, retries, timeouts,
streaming (sync and async), and the tokens and cost recorded per account."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from landed.llm.client import LlmError, achat_stream, chat_json, chat_stream, llm_configured
from landed.llm.models import LlmUsage
from landed.llm.selectors import llm_usage_totals
from tests.accounts.factories import AccountFactory
from tests.openai_server import API_KEY, FakeOpenAI, serve_as_provider

PET_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "legs": {"type": "integer", "minimum": 0},
    },
    "required": ["name", "legs"],
    "additionalProperties": False,
}
QUESTION = [
    {"role": "system", "content": "You describe animals."},
    {"role": "user", "content": "Describe a cat please"},
]


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def llm(fake_openai: FakeOpenAI, settings) -> FakeOpenAI:
    return serve_as_provider(fake_openai, settings)


def ask_pet(account_id=None):
    return chat_json(
        account_id=account_id,
        purpose="test",
        messages=QUESTION,
        schema=PET_SCHEMA,
        schema_name="pet",
    )


def cost(prompt: int, completion: int) -> Decimal:
    return (Decimal(prompt) * Decimal("2.50") + Decimal(completion) * 10) / 1_000_000


# --- Configuration -----------------------------------------------------------------------------
@pytest.mark.django_db
def test_without_a_model_nothing_is_sent(llm: FakeOpenAI, settings) -> None:
    settings.LLM_MODEL = ""
    assert llm_configured() is False
    with pytest.raises(LlmError) as raised:
        ask_pet()
    assert raised.value.kind == "not_configured" and raised.value.retryable is False
    with pytest.raises(LlmError, match="not_configured"):
        chat_stream(account_id=None, purpose="t", messages=QUESTION, deadline=time.monotonic() + 5)
    with pytest.raises(LlmError, match="not_configured"):
        achat_stream(account_id=None, purpose="t", messages=QUESTION, deadline=time.monotonic() + 5)
    settings.LLM_MODEL, settings.LLM_BASE_URL, settings.LLM_API_KEY = "m", "", ""
    assert llm_configured() is False  # a model, but nowhere to send it
    assert llm.requests == []
    assert not LlmUsage.objects.exists()


@pytest.mark.django_db
def test_a_server_without_a_key_gets_a_placeholder(llm: FakeOpenAI, settings) -> None:
    llm.api_key = None
    settings.LLM_API_KEY = ""
    assert llm_configured() is True
    llm.answer_json({"name": "cat", "legs": 4})
    assert ask_pet().data == {"name": "cat", "legs": 4}
    assert llm.requests[0].headers["authorization"] == "Bearer unused"


# --- Structured output -----------------------------------------------------------------------
@pytest.mark.django_db
def test_structured_output_is_validated_and_its_usage_recorded(llm: FakeOpenAI) -> None:
    account = AccountFactory()
    llm.answer_json({"name": "cat", "legs": 4})

    result = ask_pet(account.id)

    assert result.data == {"name": "cat", "legs": 4}
    assert result.model == "fake-gpt"
    # One token a word: 3 + 4 in the messages, 4 in the JSON answer ('{"name": "cat", "legs": 4}').
    assert (result.prompt_tokens, result.completion_tokens) == (7, 4)
    (sent,) = llm.requests
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.body["model"] == "fake-gpt"
    assert sent.body["messages"] == QUESTION
    assert sent.response_format == {
        "type": "json_schema",
        "json_schema": {"name": "pet", "schema": PET_SCHEMA, "strict": True},
    }
    usage = LlmUsage.objects.get()
    assert (usage.account_id, usage.purpose, usage.model) == (account.id, "test", "fake-gpt")
    assert (usage.prompt_tokens, usage.completion_tokens, usage.estimated) == (7, 4, False)
    assert usage.cost_usd == cost(7, 4) == Decimal("0.0000575")


@pytest.mark.django_db
def test_json_wrapped_in_prose_by_a_server_that_ignores_the_format(llm: FakeOpenAI) -> None:
    llm.honour_response_format = False
    llm.answer_json({"name": "spider", "legs": 8})
    assert ask_pet().data == {"name": "spider", "legs": 8}


@pytest.mark.django_db
def test_a_server_refusing_response_format_is_asked_with_the_schema_in_words(
    llm: FakeOpenAI,
) -> None:
    llm.refuse_response_format = True
    llm.answer_json({"name": "bird", "legs": 2})

    assert ask_pet().data == {"name": "bird", "legs": 2}

    refused, asked = llm.requests
    assert refused.response_format is not None
    assert asked.response_format is None
    assert asked.messages[0]["role"] == "system"
    assert '"required": ["name", "legs"]' in asked.messages[0]["content"]
    assert asked.messages[1:] == QUESTION


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ({"name": "cat", "legs": -4}, "at legs"),
        ({"name": "cat", "legs": 4, "run": "rm -rf /"}, "Additional properties"),
        ("A cat has four legs.", "no JSON object"),
        ([{"name": "cat", "legs": 4}], "no JSON object"),
    ],
)
def test_an_answer_outside_the_schema_is_invalid_output(llm: FakeOpenAI, answer, why) -> None:
    account = AccountFactory()
    if isinstance(answer, str):
        llm.answer(answer)
    else:
        llm.answer_json(answer)
    with pytest.raises(LlmError) as raised:
        ask_pet(account.id)
    assert raised.value.kind == "invalid_output"
    assert raised.value.retryable is False
    assert why in raised.value.message
    # The tokens were spent all the same.
    assert LlmUsage.objects.get().account_id == account.id


# --- Retries -----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_429_is_retried_after_the_servers_retry_after(llm: FakeOpenAI) -> None:
    llm.fail_next(2, status=429, retry_after="0.2")
    llm.answer_json({"name": "cat", "legs": 4})

    assert ask_pet().data == {"name": "cat", "legs": 4}

    assert len(llm.requests) == 3
    waits = [b.at - a.at for a, b in zip(llm.requests, llm.requests[1:], strict=False)]
    assert all(wait >= 0.2 for wait in waits), waits
    assert LlmUsage.objects.count() == 1  # only the answer counts


@pytest.mark.django_db
def test_5xx_is_retried_then_answers(llm: FakeOpenAI) -> None:
    llm.fail_next(1, status=500, retry_after_ms="10")
    llm.fail_next(1, status=503, retry_after_ms="10")
    llm.answer_json({"name": "cat", "legs": 4})
    assert ask_pet().data == {"name": "cat", "legs": 4}
    assert len(llm.requests) == 3


@pytest.mark.django_db
@pytest.mark.parametrize(("status", "kind"), [(503, "upstream_error"), (429, "rate_limited")])
def test_exhausted_retries_are_an_error(llm: FakeOpenAI, status: int, kind: str) -> None:
    llm.fail_next(3, status=status, retry_after_ms="10")
    with pytest.raises(LlmError) as raised:
        ask_pet()
    assert raised.value.kind == kind
    assert raised.value.retryable is True
    assert len(llm.requests) == 3  # the first and LLM_MAX_RETRIES more
    assert not LlmUsage.objects.exists()


@pytest.mark.django_db
def test_a_refused_request_is_not_retried(llm: FakeOpenAI) -> None:
    llm.api_key = "another-key"
    with pytest.raises(LlmError) as raised:
        ask_pet()
    assert (raised.value.kind, raised.value.retryable) == ("upstream_error", False)
    assert "401" in raised.value.message
    assert API_KEY not in raised.value.message
    assert len(llm.requests) == 1


@pytest.mark.django_db
def test_a_server_that_does_not_answer_in_time(llm: FakeOpenAI, settings) -> None:
    settings.LLM_TIMEOUT_SECONDS = 0.3
    settings.LLM_MAX_RETRIES = 1
    llm.stall_next(3, count=2)
    started = time.monotonic()
    with pytest.raises(LlmError) as raised:
        ask_pet()
    assert (raised.value.kind, raised.value.retryable) == ("timeout", True)
    assert len(llm.requests) == 2  # a timeout is retried too
    assert time.monotonic() - started < 2.5


# --- Streaming ---------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_stream_yields_the_text_and_records_the_servers_usage(llm: FakeOpenAI) -> None:
    account = AccountFactory()
    llm.answer("Cats have four legs and a tail.")

    pieces = list(
        chat_stream(
            account_id=account.id,
            purpose="support",
            messages=QUESTION,
            deadline=time.monotonic() + 5,
        )
    )

    assert len(pieces) == 7
    assert "".join(pieces) == "Cats have four legs and a tail."
    (sent,) = llm.requests
    assert sent.body["stream"] is True
    assert sent.body["stream_options"] == {"include_usage": True}
    usage = LlmUsage.objects.get()
    assert (usage.account_id, usage.purpose) == (account.id, "support")
    assert (usage.prompt_tokens, usage.completion_tokens, usage.estimated) == (7, 7, False)
    assert usage.cost_usd == cost(7, 7)


@pytest.mark.django_db
def test_a_stream_is_retried_until_its_first_byte(llm: FakeOpenAI) -> None:
    llm.fail_next(1, status=429, retry_after_ms="10")
    llm.answer("fine")
    stream = chat_stream(
        account_id=None, purpose="t", messages=QUESTION, deadline=time.monotonic() + 5
    )
    assert list(stream) == ["fine"]
    assert len(llm.requests) == 2


@pytest.mark.django_db
def test_a_server_refusing_stream_options_streams_without_them(llm: FakeOpenAI) -> None:
    llm.refuse_stream_options = True
    llm.answer("Cats purr.")
    stream = chat_stream(
        account_id=None, purpose="t", messages=QUESTION, deadline=time.monotonic() + 5
    )
    assert "".join(stream) == "Cats purr."
    refused, streamed = llm.requests
    assert "stream_options" in refused.body and "stream_options" not in streamed.body
    usage = LlmUsage.objects.get()
    assert (usage.estimated, usage.completion_tokens) == (True, 3)  # 10 characters


@pytest.mark.django_db
def test_closing_a_stream_stops_the_server(llm: FakeOpenAI) -> None:
    llm.endless_stream(interval=0.01)
    stream = chat_stream(
        account_id=None, purpose="t", messages=QUESTION, deadline=time.monotonic() + 10
    )
    assert [next(stream) for _ in range(3)] == [" more"] * 3

    stream.close()  # type: ignore[attr-defined]

    assert llm.disconnected.wait(5), "the server kept streaming to a closed connection"
    usage = LlmUsage.objects.get()
    assert usage.estimated is True  # no usage chunk came: counted from the text
    assert usage.completion_tokens == 4  # " more" x 3: 15 characters, 4 a token
    assert usage.account_id is None


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["drop", "error", "garbage"])
def test_a_stream_that_breaks_after_its_first_pieces_is_an_upstream_error(
    llm: FakeOpenAI, how: str
) -> None:
    llm.answer("one two three four")
    llm.break_next_stream(after_pieces=2, how=how)
    received = []
    with pytest.raises(LlmError) as raised:
        for piece in chat_stream(
            account_id=None, purpose="t", messages=QUESTION, deadline=time.monotonic() + 5
        ):
            received.append(piece)
    assert raised.value.kind == "upstream_error"
    assert received == ["one", " two"]


@pytest.mark.django_db
def test_a_stream_past_its_deadline_ends_with_a_timeout(llm: FakeOpenAI) -> None:
    llm.endless_stream(interval=0.02)
    started = time.monotonic()
    received = []
    with pytest.raises(LlmError) as raised:
        for piece in chat_stream(
            account_id=None, purpose="t", messages=QUESTION, deadline=started + 0.4
        ):
            received.append(piece)
    assert raised.value.kind == "timeout"
    assert received  # it streamed until then
    assert time.monotonic() - started < 1.5
    assert llm.disconnected.wait(5)


@pytest.mark.django_db
def test_a_stream_whose_server_stalls_ends_at_the_deadline(llm: FakeOpenAI, settings) -> None:
    settings.LLM_MAX_RETRIES = 0
    llm.stall_next(3)
    started = time.monotonic()
    with pytest.raises(LlmError) as raised:
        list(chat_stream(account_id=None, purpose="t", messages=QUESTION, deadline=started + 0.3))
    assert raised.value.kind == "timeout"
    assert time.monotonic() - started < 1.5


# --- Async streaming (an ASGI view's) ----------------------------------------------------------
def run_async(coroutine):
    """Runs `coroutine` as an ASGI server would, then closes the database connection its ORM
    calls opened in asgiref's thread (else it outlives the test and its database)."""

    async def with_cleanup():
        try:
            return await coroutine
        finally:
            await sync_to_async(connections.close_all)()

    return asyncio.run(with_cleanup())


async def _collect(account_id, deadline: float, take: int | None = None) -> list[str]:
    stream = achat_stream(
        account_id=account_id, purpose="support", messages=QUESTION, deadline=deadline
    )
    pieces: list[str] = []
    try:
        async for piece in stream:
            pieces.append(piece)
            if take is not None and len(pieces) == take:
                break
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    return pieces


@pytest.mark.django_db(transaction=True)
def test_async_stream_text_usage_close_cancel_and_deadline(llm: FakeOpenAI) -> None:
    account = AccountFactory()
    llm.answer("Dogs bark at the postman.")
    pieces = run_async(_collect(account.id, time.monotonic() + 5))
    assert "".join(pieces) == "Dogs bark at the postman."
    usage = LlmUsage.objects.get()
    assert (usage.account_id, usage.completion_tokens, usage.estimated) == (account.id, 5, False)

    # Closed early: the server sees the disconnect; the usage is estimated.
    llm.endless_stream(interval=0.01)
    assert run_async(_collect(account.id, time.monotonic() + 10, take=2)) == [" more"] * 2
    assert llm.disconnected.wait(5)
    assert LlmUsage.objects.filter(estimated=True).count() == 1

    # A stream that stalls between pieces ends exactly at the deadline.
    llm.disconnected.clear()
    llm.endless_stream(interval=5)
    started = time.monotonic()
    with pytest.raises(LlmError) as raised:
        run_async(_collect(account.id, started + 0.3))
    assert raised.value.kind == "timeout"
    assert time.monotonic() - started < 1.0
    assert llm.disconnected.wait(2)  # at once, not at the next piece 5 s later

    # The task reading it cancelled (the client went away): the server sees the disconnect.
    llm.disconnected.clear()
    llm.endless_stream(interval=0.01)

    async def read_then_cancel() -> None:
        task = asyncio.create_task(_collect(None, time.monotonic() + 10))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run_async(read_then_cancel())
    assert llm.disconnected.wait(5)


# --- Accounting --------------------------------------------------------------------------------
@pytest.mark.django_db
def test_usage_totals_are_per_account(llm: FakeOpenAI) -> None:
    mine, theirs = AccountFactory(), AccountFactory()
    for account in (mine, mine, theirs):
        llm.answer_json({"name": "cat", "legs": 4})
        ask_pet(account.id)
    llm.answer_json({"name": "cat", "legs": 4})
    ask_pet(None)  # anonymous: no account's

    totals = llm_usage_totals(account_id=mine.id)
    assert (totals.requests, totals.prompt_tokens, totals.completion_tokens) == (2, 14, 8)
    assert totals.cost_usd == 2 * cost(7, 4)
    assert llm_usage_totals(account_id=theirs.id).requests == 1
    assert llm_usage_totals(account_id=AccountFactory().id).cost_usd == Decimal(0)


@pytest.mark.django_db
def test_operators_see_the_usage(llm: FakeOpenAI, operator) -> None:
    llm.answer_json({"name": "cat", "legs": 4})
    ask_pet(AccountFactory().id)
    page = operator.get("/admin/llm/llmusage/")
    assert page.status_code == 200
    assert b"fake-gpt" in page.content
    assert (
        operator.get(f"/admin/llm/llmusage/{LlmUsage.objects.get().pk}/change/").status_code == 200
    )


def test_a_price_that_is_not_a_number_stops_the_server_at_start(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG"}}
    env.update(
        LANDED_DATA_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="landed.settings",
        LLM_INPUT_USD_PER_MILLION_TOKENS="1.25",
        LLM_OUTPUT_USD_PER_MILLION_TOKENS="ten dollars",
    )
    started = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode != 0
    assert "ImproperlyConfigured" in started.stderr
    assert "LLM_OUTPUT_USD_PER_MILLION_TOKENS must be a non-negative number" in started.stderr
