"""Every operation of the OpenAPI description, called with generated requests (schemathesis):
the answers are never a 500, and their status, content type and body are the documented ones.
Then every write, with the broken requests a generator never makes (malformed JSON, not JSON,
too large, chunked without an end, a session cookie without its CSRF token): refused in the
envelope, with a documented status.

The requests go to the WSGI application in-process (chunked-body layer included), signed in
with a real API key of a user who has a destination, a connector with a pending job, a webhook
endpoint, an alert group, a notification policy and a notification. A generated id in a path
is replaced by the id of that user's resource for most examples (chosen from the id itself, so
the run is reproducible), so that operations reach their services and not only their 404.
Rate limits are off, as in every test that is not about them (tests/conftest.py).
"""

import io
import json
import uuid
import zlib
from collections.abc import Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
import schemathesis
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from connectors.custom.services import custom_connector_create
from landed.accounts.services import api_key_create
from landed.wsgi import application
from syncs.services import sync_trigger
from tests.accounts.factories import UserFactory
from tests.connectors.factories import make_connector, make_destination
from webhooks.alerts.models import Notification
from webhooks.alerts.services import alert_group_create, policy_create
from webhooks.services import webhook_create

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

CONFIG = schemathesis.Config.from_dict(
    {
        # Explicit examples and generated ones (valid and invalid), a few per operation; the
        # coverage phase's boundary cases (some sixty per operation) would take minutes.
        "phases": {"coverage": {"enabled": False}},
        # A 500 is a bug. This server has no Stripe, sign-in provider or GitHub App configured:
        # those operations answer their documented 503 (502: a provider unreachable), which
        # `status_code_conformance` still requires their description to list.
        "checks": {
            "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "502", "503"]}
        },
    }
)
# The document is generated here, at collection, as /openapi.json serves it: one test per
# operation, each with its own database transaction.
schema = schemathesis.openapi.from_dict(
    SchemaGenerator().get_schema(request=None, public=True), config=CONFIG
)


@pytest.fixture
def wsgi_requests_in_test_transaction() -> Iterator[None]:
    """The WSGI handler closes the database connection around each request; the test's
    transaction must outlive them (as Django's test client arranges for its requests)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def account_data(db, unused_port: int) -> dict[str, Any]:
    """A signed-in user's API key and the ids of what its account has, made by the services
    the API calls."""
    user = UserFactory()
    account = user.account
    _, raw_key = api_key_create(user=user, name="conformance")
    connector = make_connector(account, make_destination(account), name="demo")
    # Pending (nothing runs in the test's transaction): its cancel, retry and the connector's
    # 409s are reachable.
    job = sync_trigger(connector=connector)
    # Nothing listens there: a test delivery fails at once.
    webhook, _ = webhook_create(account=account, url=f"http://127.0.0.1:{unused_port}/hook")
    group = alert_group_create(account=account, name="core", connector_ids=[connector.id])
    policy = policy_create(
        account=account, data={"name": "on failure", "conditions": ["sync_failed"]}
    )
    notification = Notification.objects.create(
        account=account, connector=connector, kind="sync_failed", title="Failed"
    )
    custom = custom_connector_create(
        account=account,
        data={
            "name": "custom",
            "base_url": f"http://127.0.0.1:{unused_port}/v1",
            "definition": {"streams": [{"name": "items", "path": "items"}]},
        },
    )
    ids = {
        "connector_id": connector.id,
        "custom_connector_id": custom.id,
        "destination_id": connector.destination_id,
        "job_id": job.id,
        "webhook_id": webhook.id,
        "group_id": group.id,
        "policy_id": policy.id,
        "notification_id": notification.id,
        "type_name": "sample",
        "provider": "github",
    }
    browser = Client()
    browser.force_login(user)
    session = browser.cookies[settings.SESSION_COOKIE_NAME].value
    return {
        "authorization": f"Bearer {raw_key}",
        "session_cookie": f"{settings.SESSION_COOKIE_NAME}={session}",
        "ids": {name: str(value) for name, value in ids.items()},
    }


def use_real_ids(path_parameters: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """Three generated ids in four become the account's resource of that name; the rest stay,
    for the 404s (the choice is a function of the generated value: reproducible)."""
    return {
        name: ids[name] if name in ids and zlib.crc32(str(value).encode()) % 4 else value
        for name, value in path_parameters.items()
    }


@schema.parametrize()
@hypothesis_settings(
    max_examples=6,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_operation_conforms_to_its_description(
    case: Any, account_data: dict[str, Any], wsgi_requests_in_test_transaction: None
) -> None:
    if case.path_parameters:
        case.path_parameters = use_real_ids(case.path_parameters, account_data["ids"])
    case.call_and_validate(
        app=application,
        headers={"Authorization": account_data["authorization"]},
        checks=CHECKS,
    )


# Requests generated from the description are always well-formed JSON of a fitting size, with
# its credentials: these are the refusals that only a broken request gets, sent to every write
# that could get them.
LIMIT = 64
REFUSED_BODIES = {
    "malformed JSON": ({"CONTENT_TYPE": "application/json"}, b'{"name": '),
    "not JSON": ({"CONTENT_TYPE": "text/plain"}, b"name=x"),
    "over the size limit": ({"CONTENT_TYPE": "application/json"}, b'{"x": "%s"}' % (b"a" * LIMIT)),
    "chunked, unending": (
        {"CONTENT_TYPE": "application/json", "HTTP_TRANSFER_ENCODING": "chunked"},
        b"{}",
    ),
    "chunked, over the size limit": (
        {
            "CONTENT_TYPE": "application/json",
            "HTTP_TRANSFER_ENCODING": "chunked",
            "wsgi.input_terminated": True,
        },
        b'{"x": "%s"}' % (b"a" * LIMIT),
    ),
}


ALWAYS = {
    "chunked, unending": 411,
    "chunked, over the size limit": 413,
    "cookie without CSRF token": 403,
}


def wsgi_call(method: str, path: str, extra: dict[str, Any], body: bytes, authorization: str):
    """`application` called as a WSGI server would: (status, content type, JSON body)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "HTTP_AUTHORIZATION": authorization,
        "wsgi.input": io.BytesIO(body),
        **extra,
    }
    if "HTTP_TRANSFER_ENCODING" not in extra:
        environ["CONTENT_LENGTH"] = str(len(body))
    setup_testing_defaults(environ)
    started: list[str] = []
    headers: dict[str, str] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc: Any = None):
        started.append(status)
        headers.update(response_headers)

    content = b"".join(application(environ, start_response))
    return int(started[0].split()[0]), headers.get("Content-Type", ""), json.loads(content)


def test_refused_requests_are_documented(
    account_data: dict[str, Any], wsgi_requests_in_test_transaction: None, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    # A write signed in by the session cookie, without its CSRF token.
    no_csrf_token = ({"HTTP_COOKIE": account_data["session_cookie"]}, b"{}")
    document = schema.raw_schema
    undocumented = []
    for template, item in document["paths"].items():
        for method, operation in item.items():
            if method.upper() not in {"POST", "PUT", "PATCH", "DELETE"}:
                continue
            path = template.format(**account_data["ids"])
            probes = dict(REFUSED_BODIES)
            if any("sessionCookie" in scheme for scheme in operation.get("security", [])):
                probes["cookie without CSRF token"] = no_csrf_token
            for name, (extra, body) in probes.items():
                # A view that reads no body meets only the chunked layer's refusals.
                reads_no_body = "requestBody" not in operation and "chunked" not in name
                if name in REFUSED_BODIES and reads_no_body:
                    continue
                status, content_type, answer = wsgi_call(
                    method.upper(), path, extra, body, account_data["authorization"]
                )
                assert content_type == "application/json", (method, template, name)
                assert isinstance(answer.get("error"), str), (method, template, name)
                # (A documented 503: Stripe's webhook on this server without its secret.)
                assert status != 500, (method, template, name, answer)
                # Refused before any view runs, whatever the operation.
                assert status == ALWAYS.get(name, status), (method, template, name, answer)
                if str(status) not in operation["responses"]:
                    undocumented.append((method.upper(), template, name, status))
    assert undocumented == []


def test_real_ids_replace_most_generated_ones() -> None:
    ids = {"job_id": "real"}
    generated = [str(uuid.UUID(int=n)) for n in range(40)]
    replaced = [use_real_ids({"job_id": g}, ids)["job_id"] == "real" for g in generated]
    assert 20 < sum(replaced) < 40
    assert use_real_ids({"other": "x"}, ids) == {"other": "x"}
