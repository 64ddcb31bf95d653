"""One account's hanging webhook receiver does not hold up another account's deliveries: the
delivery worker started exactly as `make run` starts it (its arguments read from
scripts/run.sh: same queues, pool and concurrency), real Redis and PostgreSQL, a silent
loopback listener (it accepts, never answers) as account A's endpoint with several deliveries
queued for it, and a working receiver for account B."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from django.db import transaction

from landed.accounts import services as account_services
from tests.accounts.factories import UserFactory
from tests.e2e.conftest import ROOT, Api
from tests.webhook_receiver import Receiver, SilentListener
from webhooks.events import EventType, event_raise

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Each of A's attempts hangs this long (the deadline), holding whatever it holds.
TIMEOUT_SECONDS = 2


def make_run_delivery_worker() -> list[str]:
    """The `celery ...` arguments scripts/run.sh starts the worker of the webhooks queue with,
    its `${VAR:-default}`s at their defaults."""
    script = re.sub(r"\\\n\s*", " ", (ROOT / "scripts" / "run.sh").read_text())
    (line,) = [
        line
        for line in script.splitlines()
        if re.search(r"\bcelery -A landed worker\b", line) and "webhooks" in line
    ]
    argv = shlex.split(re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", line))
    return argv[argv.index("celery") + 1 :]


def api_of_new_account(live_server: Any) -> tuple[Api, Any]:
    user = UserFactory()
    _, raw_key = account_services.api_key_create(user=user, name="e2e")
    return Api(live_server.url, raw_key), user.account


def raise_event(account: Any, n: int) -> float:
    """Raise an event for the account; the wall-clock time it was raised at."""
    raised_at = time.time()
    with transaction.atomic():
        event_raise(account_id=account.id, type=EventType.CONNECTOR_UPDATED, data={"n": n})
    return raised_at


def test_a_hanging_endpoint_does_not_delay_another_accounts_delivery(celery, live_server):
    args = make_run_delivery_worker()
    queues = args[args.index("--queues") + 1].split(",")
    assert "webhooks" in queues and "default" in queues
    api_a, account_a = api_of_new_account(live_server)
    api_b, account_b = api_of_new_account(live_server)

    with SilentListener() as silent, Receiver() as receiver:
        hook_a = api_a.ok("POST", "/webhooks", 201, json={"url": silent.url})
        hook_b = api_b.ok("POST", "/webhooks", 201, json={"url": receiver.url})
        # Several deliveries for A wait on the queue before the worker starts.
        for n in range(4):
            raise_event(account_a, n)

        log = celery.tmp_path / "make-run-worker.log"
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", *args],
            cwd=ROOT,
            env=celery.env(WEBHOOK_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS)),
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        worker.log_path = log  # type: ignore[attr-defined]
        celery.running.append(worker)
        celery.start("beat", WEBHOOK_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS))

        latencies = []
        for n in (1, 2):
            # One of A's attempts is hanging now (its connection accepted, never answered).
            silent.wait_for_connections(n, timeout=30 if n == 1 else 3 * TIMEOUT_SECONDS)
            raised_at = raise_event(account_b, n)
            received = receiver.wait_for(
                lambda got, n=n: any(r.json["data"] == {"n": n} for r in got),
                timeout=3 * TIMEOUT_SECONDS,
            )
            (delivered,) = [r for r in received if r.json["data"] == {"n": n}]
            latencies.append(delivered.at - raised_at)
        assert all(latency < 1.0 for latency in latencies), (latencies, celery.logs())

        # A's deliveries keep timing out, each attempt logged as such and retried.
        deadline = time.monotonic() + 3 * TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            attempts = api_a.ok("GET", f"/webhooks/{hook_a['id']}/deliveries")["items"]
            if len(attempts) >= 2:
                break
            time.sleep(0.2)
        assert len(attempts) >= 2, celery.logs()
        for attempt in attempts:
            assert attempt["succeeded"] is False and attempt["status_code"] is None
            assert attempt["error"] in (
                f"took longer than {TIMEOUT_SECONDS} s",
                f"timed out after {TIMEOUT_SECONDS} s",
            ), attempt
            assert attempt["next_retry_at"] is not None
        health = api_a.ok("GET", f"/webhooks/{hook_a['id']}")
        assert health["failing_since"] is not None
        assert health["breaker"]["consecutive_timeouts"] >= 2, health
        # B's endpoint is healthy: every attempt succeeded, none waited on A.
        delivered = api_b.ok("GET", f"/webhooks/{hook_b['id']}/deliveries")["items"]
        assert [a["succeeded"] for a in delivered] == [True, True]
        assert api_b.ok("GET", f"/webhooks/{hook_b['id']}")["breaker"]["state"] == "closed"

        # Stopped as `make run` stops it (SIGQUIT, a cold shutdown), not after A's attempt.
        os.killpg(worker.pid, signal.SIGQUIT)
        worker.wait(timeout=15)
