"""POST /support/chat through the real server (gunicorn with uvicorn workers serving
landed.asgi) read with a streaming client, without an LLM: the answer is the retrieved
passages, with their links, then `event: done` citing them.

Each test's client has an address of its own (X-Forwarded-For), so that it counts against
rate limits of its own.
"""

import uuid
from collections.abc import Iterator

import pytest
import requests

from support.models import SupportConversation, SupportMessage
from tests.landed.test_run_command import Server
from tests.support.chat_client import chat, events, fresh_client_ip, read_answer, support_server
from tests.support.conftest import FAILED_JOB_ERROR

# django_db: so that pytest-django sets the test database up (the servers are given its name)
# even when only tests that reach it through a server are run.
pytestmark = [pytest.mark.slow, pytest.mark.django_db]

# The write tier on this server: a few answers a minute per client.
WRITE_RATE = 4


@pytest.fixture(scope="module")
def server(index, tmp_path_factory) -> Iterator[Server]:
    with support_server(
        tmp_path_factory.mktemp("support-chat"),
        RATELIMIT_ENABLE="true",
        RATE_LIMIT_WRITE=f"{WRITE_RATE}/m",
    ) as started:
        yield started


def test_an_anonymous_question_is_answered_with_the_passages_and_their_links(server, db):
    ip = fresh_client_ip()
    with chat(server, {"message": "How do I rotate webhook secrets?"}, ip=ip) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Accel-Buffering"] == "no"
        assert "Content-Length" not in response.headers
        text, end = read_answer(response)

    assert end.event == "done", end.data
    assert "/redoc#operation/webhooks_rotate_secret" in text
    assert "[1]" in text
    sources = end.data["sources"]
    assert sources[0] == {
        "title": "POST /webhooks/{webhook_id}/rotate-secret: Rotate the signing secret",
        "url": "/redoc#operation/webhooks_rotate_secret",
        "source": "api",
    }
    assert all(set(source) == {"title", "url", "source"} for source in sources)
    conversation = SupportConversation.objects.get(id=end.data["conversation_id"])
    assert conversation.account_id is None
    stored = list(conversation.messages.values_list("role", "content"))
    assert stored == [("user", "How do I rotate webhook secrets?"), ("assistant", text)]
    assert str(conversation.messages.get(role="assistant").id) == end.data["message_id"]

    # The conversation goes on with its id.
    follow_up = {"message": "and what does 409 mean", "conversation_id": str(conversation.id)}
    with chat(server, follow_up, ip=ip) as response:
        text, end = read_answer(response)
    assert end.event == "done"
    assert end.data["conversation_id"] == str(conversation.id)
    assert end.data["sources"][0]["title"].startswith("API error responses")
    assert "409 Conflict" in text
    assert conversation.messages.count() == 4


def test_signed_in_a_failure_question_gets_the_accounts_failed_job(server, accounts, db):
    key = accounts["keys"][0]
    job = accounts["job"]
    question = {"message": "Why did my sync fail?"}
    with chat(server, question, ip=fresh_client_ip(), key=key) as response:
        assert response.status_code == 200
        text, end = read_answer(response)

    assert end.event == "done", end.data
    assert FAILED_JOB_ERROR in text
    assert "billing-db" in text
    assert end.data["sources"][0] == {
        "title": f"Failed sync of connector 'billing-db' (job {job.id})",
        "url": f"/jobs/{job.id}",
        "source": "account",
    }
    # The error's words find documentation too ("permission denied" is in the docs).
    assert any(source["source"] in ("docs", "api") for source in end.data["sources"])
    conversation = SupportConversation.objects.get(id=end.data["conversation_id"])
    assert conversation.account_id == accounts["connector"].account_id

    # Not about a failure: the account's jobs stay out of it.
    other = {"message": "how do I create an API key"}
    with chat(server, other, ip=fresh_client_ip(), key=key) as response:
        text, end = read_answer(response)
    assert FAILED_JOB_ERROR not in text
    assert all(source["source"] != "account" for source in end.data["sources"])


def test_someone_elses_conversation_is_not_found(server, accounts, db):
    own_key, other_key = accounts["keys"]
    ip = fresh_client_ip()
    with chat(server, {"message": "what is a connector"}, ip=ip, key=own_key) as response:
        _, end = read_answer(response)
    theirs = end.data["conversation_id"]

    for key in (other_key, None):  # another account, and an anonymous caller
        body = {"message": "and a destination?", "conversation_id": theirs}
        response = chat(server, body, ip=fresh_client_ip(), key=key)
        assert response.status_code == 404, response.text
        assert response.headers["Content-Type"] == "application/json"
        assert response.json()["error"] == "Not found"
    missing = {"message": "hello", "conversation_id": str(uuid.uuid4())}
    assert chat(server, missing, ip=fresh_client_ip()).status_code == 404
    assert SupportMessage.objects.filter(conversation_id=theirs).count() == 2


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({}, ["body", "message"], "missing"),
        ({"message": ""}, ["body", "message"], "string_too_short"),
        ({"message": "x" * 4001}, ["body", "message"], "string_too_long"),
        ({"message": 5}, ["body", "message"], "string_type"),
        ({"message": "hi", "conversation_id": "nope"}, ["body", "conversation_id"], "uuid_parsing"),
        # Not read as the UUID 00000000-0000-0000-0000-000000000005 (then a 404).
        ({"message": "hi", "conversation_id": 5}, ["body", "conversation_id"], "uuid_parsing"),
    ],
)
def test_a_bad_body_is_a_422_before_any_stream(server, body, loc, kind):
    with chat(server, body, ip=fresh_client_ip()) as response:
        response.content  # noqa: B018 (read whole: an error is not a stream)

    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/json"
    detail = response.json()["detail"]
    assert {"loc": loc, "type": kind} == {"loc": detail[0]["loc"], "type": detail[0]["type"]}


def test_bad_credentials_and_bad_json_are_refused_before_any_stream(server):
    response = chat(server, {"message": "hi"}, ip=fresh_client_ip(), key="lnd_not-a-key")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'

    response = requests.post(
        f"{server.url}/support/chat",
        data=b"{not json",
        headers={"Content-Type": "application/json", "X-Forwarded-For": fresh_client_ip()},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "Malformed JSON"
    assert requests.get(f"{server.url}/support/chat", timeout=10).status_code == 405


def test_the_write_tier_limits_questions_per_client(server):
    ip = fresh_client_ip()
    statuses = []
    for _ in range(WRITE_RATE + 1):
        with chat(server, {"message": "what is a destination"}, ip=ip) as response:
            statuses.append(response.status_code)
            last = response
            response.content  # noqa: B018 (the whole answer: the next question comes after)

    assert statuses == [200] * WRITE_RATE + [429]
    assert int(last.headers["Retry-After"]) >= 1
    assert last.json()["error"] == "Rate limit exceeded"
    # Another client is not limited by this one.
    with chat(server, {"message": "what is a destination"}, ip=fresh_client_ip()) as other:
        assert other.status_code == 200
        assert [e.event for e in events(other)][-1] == "done"
