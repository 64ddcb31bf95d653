"""docs/webhooks.md lets a customer verify a delivery with the standard library alone: its
snippet, run as published, accepts a real signed delivery and refuses forgeries and replays."""

import re
import time
from pathlib import Path

import pytest
from django.db import transaction

from landed.security.secrets import encrypt_secrets
from tests.accounts.factories import AccountFactory
from tests.webhook_receiver import Receiver
from webhooks import delivery
from webhooks.events import EventType, event_raise
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
SECRET = "whsec_docs-example-secret"


def published_snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def verify_function():
    (snippet,) = [s for s in published_snippets() if "def verify_landed_signature" in s]
    namespace: dict = {}
    exec(compile(snippet, str(DOC), "exec"), namespace)  # noqa: S102 (our own docs)
    return namespace["verify_landed_signature"]


def test_every_published_python_snippet_compiles():
    snippets = published_snippets()
    assert len(snippets) >= 2
    for snippet in snippets:
        compile(snippet, str(DOC), "exec")


def test_the_published_snippet_verifies_a_real_delivery_and_refuses_forgeries():
    verify = verify_function()
    account = AccountFactory()
    with Receiver() as receiver:
        endpoint = WebhookEndpoint.objects.create(
            account=account,
            url=receiver.url,
            encrypted_secret=encrypt_secrets({"secret": SECRET}),
        )
        with transaction.atomic():
            event = event_raise(
                account_id=account.id,
                type=EventType.WEBHOOK_TEST,
                data={"message": "é ü — non-ASCII survives"},
                endpoint=endpoint,
            )
        outcome = delivery.post(endpoint, event, "d-1")
        assert outcome.succeeded, outcome
        (request,) = receiver.received

    header, body = request.headers["landed-signature"], request.body
    assert verify(header, body, SECRET)
    assert not verify(header, body, "whsec_wrong")
    assert not verify(header, body.replace(b"ASCII", b"ascii"), SECRET)
    # The timestamp is signed: moving it forward breaks the signature...
    t = int(header.split(",")[0].removeprefix("t="))
    forged = header.replace(f"t={t}", f"t={int(time.time()) + 1}")
    assert not verify(forged, body, SECRET)
    # ...and the same request presented later than the tolerance is a replay.
    assert not verify(header, body, SECRET, tolerance=-1)
    assert not verify("", body, SECRET) and not verify("t=abc,v1=00", body, SECRET)
