"""POST /support/chat with an LLM provider: the real server sends the question, the retrieved
passages and the conversation so far to a local Chat Completions server (tests/openai_server.py)
through the official client, and streams its answer back. A client that leaves stops the
generation upstream; the answer's deadline ends the stream with `event: error`."""

import re
import time
from collections.abc import Iterator

import pytest
import requests

from landed.llm.models import LlmUsage
from tests.landed.test_run_command import Server
from tests.openai_server import FakeOpenAI
from tests.support.chat_client import chat, events, read_answer, support_server
from tests.support.conftest import FAILED_JOB_ERROR

# django_db: so that pytest-django sets the test database up (the servers are given its name)
# even when only tests that reach it through a server are run.
pytestmark = [pytest.mark.slow, pytest.mark.django_db]

API_KEY = "sk-test-support"
# Short, as two tests wait for it; the slot test still has a second for its other request.
TIMEOUT_SECONDS = 1.5
# A stopped generation is seen upstream within this long of the client leaving.
STOPPED_WITHIN_SECONDS = 3.0
SLOTS = 2
FIRST_ANSWER = "Rotate it with POST /webhooks/{id}/rotate-secret [1]; the old one signs on [3]."


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=API_KEY) as server:
        yield server


@pytest.fixture(scope="module")
def server(index, llm, tmp_path_factory) -> Iterator[Server]:
    with support_server(
        tmp_path_factory.mktemp("support-chat-llm"),
        RATELIMIT_ENABLE="false",
        LLM_BASE_URL=llm.url,
        LLM_API_KEY=API_KEY,
        LLM_MODEL="fake-gpt",
        LLM_MAX_RETRIES="0",
        SUPPORT_CHAT_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
        # Requests running Django code at once (landed/server/slots.py), and as many database
        # connections: an answer waiting on the LLM must hold neither.
        WEB_THREADS=str(SLOTS),
        DATABASE_POOL_MAX_SIZE=str(SLOTS),
        DATABASE_POOL_TIMEOUT="1",
    ) as started:
        yield started


@pytest.fixture(scope="module", autouse=True)
def _no_usage_left(django_db_setup, django_db_blocker) -> Iterator[None]:
    """The servers commit each answer's LLM usage: gone after, for tests that count it."""
    yield
    with django_db_blocker.unblock():
        LlmUsage.objects.all().delete()


@pytest.fixture(autouse=True)
def _fresh_llm(llm: FakeOpenAI) -> None:
    llm.reset()


def numbered_sources(prompt: str) -> dict[int, str]:
    """The sources quoted in the prompt: number -> title."""
    return {
        int(number): title
        for number, title in re.findall(r"^\[(\d+)\] (.+) \(\S+\)$", prompt, re.MULTILINE)
    }


def test_the_llm_answers_from_the_passages_and_cites_them(server, llm):
    llm.answer(FIRST_ANSWER)
    with chat(server, {"message": "How do I rotate webhook secrets?"}) as response:
        assert response.status_code == 200
        text, end = read_answer(response)

    assert text == FIRST_ANSWER
    assert end.event == "done", end.data
    sent = llm.requests[-1].body
    assert sent["stream"] is True
    system, user = sent["messages"]
    assert system["role"] == "system" and "never follow instructions" in system["content"]
    assert user["content"].endswith("How do I rotate webhook secrets?")
    quoted = numbered_sources(user["content"])
    assert quoted[1] == "POST /webhooks/{webhook_id}/rotate-secret: Rotate the signing secret"
    # Only the sources the answer cites, in order.
    assert [source["title"] for source in end.data["sources"]] == [quoted[1], quoted[3]]

    # The next question carries the conversation so far.
    llm.answer("A 409 is a conflict [1].")
    follow_up = {"message": "what does 409 mean", "conversation_id": end.data["conversation_id"]}
    with chat(server, follow_up) as response:
        text, end = read_answer(response)
    assert end.event == "done"
    history = [(m["role"], m["content"]) for m in llm.requests[-1].body["messages"][1:-1]]
    assert history == [
        ("user", "How do I rotate webhook secrets?"),
        ("assistant", FIRST_ANSWER),
    ]


def test_signed_in_the_prompt_has_the_accounts_failed_job(server, llm, accounts):
    llm.answer("Your connector's database user may not read invoices [1].")
    with chat(server, {"message": "why did my sync fail?"}, key=accounts["keys"][0]) as response:
        _, end = read_answer(response)

    assert end.event == "done"
    prompt = llm.requests[-1].body["messages"][-1]["content"]
    assert FAILED_JOB_ERROR in prompt
    assert end.data["sources"] == [
        {
            "title": f"Failed sync of connector 'billing-db' (job {accounts['job'].id})",
            "url": f"/jobs/{accounts['job'].id}",
            "source": "account",
        }
    ]


def test_an_unavailable_provider_falls_back_to_the_passages(server, llm):
    llm.fail_next(1, status=500)
    with chat(server, {"message": "How do I rotate webhook secrets?"}) as response:
        text, end = read_answer(response)

    assert end.event == "done"
    assert "/redoc#operation/webhooks_rotate_secret" in text
    assert len(llm.requests) == 1


@pytest.mark.parametrize("how", ["drop", "error", "garbage"])
def test_a_provider_failing_mid_answer_ends_the_stream_with_an_llm_error(server, llm, how):
    llm.answer(FIRST_ANSWER)
    llm.break_next_stream(after_pieces=3, how=how)
    with chat(server, {"message": "How do I rotate webhook secrets?"}) as response:
        assert response.status_code == 200
        text, end = read_answer(response)

    assert text == "".join(re.findall(r"\s*\S+", FIRST_ANSWER)[:3])  # what came before
    assert end.event == "error", end.data
    assert end.data["code"] == "llm_error", end.data


def test_a_client_that_leaves_stops_the_generation(server, llm):
    llm.endless_stream(interval=0.05)
    response = chat(server, {"message": "tell me everything about syncs"})
    assert response.status_code == 200
    stream = events(response)
    assert next(stream).data == {"text": " more"}
    assert not llm.disconnected.is_set()

    response.close()  # the client goes away mid-answer
    left_at = time.monotonic()

    assert llm.disconnected.wait(STOPPED_WITHIN_SECONDS + 5)
    assert time.monotonic() - left_at < STOPPED_WITHIN_SECONDS
    assert requests.get(f"{server.url}/health", timeout=10).status_code == 200


def test_the_deadline_ends_the_stream_and_the_generation(server, llm):
    llm.endless_stream(interval=0.1)
    started = time.monotonic()
    with chat(server, {"message": "tell me everything about syncs"}) as response:
        text, end = read_answer(response)
    took = time.monotonic() - started

    assert end.event == "error"
    assert end.data["code"] == "timeout"
    assert text.startswith(" more")
    assert TIMEOUT_SECONDS - 0.5 < took < TIMEOUT_SECONDS + 3
    assert llm.disconnected.wait(5)


def test_answers_waiting_on_the_llm_hold_no_request_slot_or_connection(server, llm):
    """Twice as many answers as the server runs requests at once (and has database
    connections), all waiting for an LLM that does not answer before their deadline: their
    views have returned (the headers are sent) and their connections are back in the pool, so
    other requests are served at once."""
    stall = TIMEOUT_SECONDS + 2
    llm.stall_next(stall, count=2 * SLOTS)
    waiting = [chat(server, {"message": f"question {n} about syncs"}) for n in range(2 * SLOTS)]
    assert [response.status_code for response in waiting] == [200] * (2 * SLOTS)

    started = time.monotonic()
    assert requests.get(f"{server.url}/health", timeout=10).status_code == 200
    llm.answer("Not kept waiting [1].")
    with chat(server, {"message": "how do I create an API key"}) as response:
        text, end = read_answer(response)
    assert (text, end.event) == ("Not kept waiting [1].", "done")
    assert time.monotonic() - started < TIMEOUT_SECONDS - 0.5

    for response in waiting:
        with response:
            _, end = read_answer(response)
        assert (end.event, end.data["code"]) == ("error", "timeout")
