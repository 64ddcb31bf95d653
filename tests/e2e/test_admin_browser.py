"""The operators' admin in a real headless browser: Debian's chromium, driven by Playwright,
against a real server (gunicorn on a free loopback port) and a real Celery worker, on the test
database. An operator signs in, syncs a connector from its page and watches the job's page
refresh itself until the sync succeeds, cancels a running sync, retries a failed one,
redelivers a webhook delivery and tests connections.

One browser, one server and one worker serve the whole module. Screenshots are kept in the
module's temporary directory, and in $TEST_ARTIFACTS_DIR/admin-browser when that is set."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from django.conf import global_settings
from django.core.management import call_command
from django.utils import timezone

from connectors.models import Connector
from landed.accounts.models import Account
from syncs.models import Job, JobStatus
from syncs.receipts import receipt_write
from tests.connectors.factories import make_destination
from tests.e2e.conftest import ROOT, Processes
from tests.webhook_receiver import Receiver
from webhooks import services as webhook_services
from webhooks.models import Delivery, DeliveryStatus

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Headless, and nothing that reaches past the loopback (updates, sync, QUIC probes).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTH = 1400
OPERATOR = ("ops@example.com", "ops-pass-2026!")
# Bounded waits: a small sync takes a few seconds on a busy machine.
SYNC_TIMEOUT_MS = 90_000
STEP_TIMEOUT_MS = 15_000


@dataclass
class Site:
    url: str
    artifacts: Path
    processes: Processes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -e '.[dev]')")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(
            f"no browser at {CHROMIUM}: install Debian's chromium (scripts/browser.sh does, "
            "as root), or point CHROMIUM_PATH at one"
        )
    # Playwright's synchronous API keeps an event loop in this thread, which makes Django
    # refuse the ORM ("async context"); nothing here runs concurrently with the test's ORM
    # calls, which is what that guard is about. Only for this module's lifetime.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def site(browser, django_db_setup, tmp_path_factory) -> Iterator[Site]:
    """gunicorn and a Celery worker on the test database, for the whole module."""
    tmp = tmp_path_factory.mktemp("admin-browser")
    artifacts = tmp / "screenshots"
    artifacts.mkdir()
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    processes = Processes(tmp)
    port = _free_port()
    env = processes.env(
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY="1",
        STATIC_ROOT=str(tmp / "static"),
        # Plain HTTP on the loopback: the browser must send the cookies back.
        SESSION_COOKIE_SECURE="false",
        RATELIMIT_ENABLE="false",
    )
    # The admin's CSS and scripts, served by the app (whitenoise) as `make run` serves them.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    log = tmp / "gunicorn.log"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "python:landed.gunicorn_conf",
            "landed.asgi",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server.log_path = log  # type: ignore[attr-defined]
    processes.running.append(server)
    # One worker for every queue: syncs, and the webhooks' deliveries. A failed sync stays
    # failed (no automatic retry): the operator retries it.
    processes.start("worker", queues="syncs,default,webhooks", SYNC_MAX_ATTEMPTS="1")
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(url, server)
        yield Site(url, artifacts, processes)
    finally:
        processes.stop_all()
        copy_to = os.environ.get("TEST_ARTIFACTS_DIR")
        if copy_to:
            shutil.copytree(artifacts, Path(copy_to) / "admin-browser", dirs_exist_ok=True)


def _wait_for_server(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"gunicorn exited: {server.log_path.read_text()[-3000:]}")
        try:
            if requests.get(f"{url}/health", timeout=5).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError("gunicorn did not answer within 30 s")


@pytest.fixture
def page(browser, site: Site, settings) -> Iterator[Any]:
    """A fresh browser context (no cookies), signed in as an operator."""
    # Hashed as the server hashes (the suite's fast hasher is not among the server's).
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    call_command("create_operator", "--email", OPERATOR[0], "--password", OPERATOR[1])
    context = browser.new_context(viewport={"width": WIDTH, "height": 900})
    context.set_default_timeout(STEP_TIMEOUT_MS)
    tab = context.new_page()
    tab.goto(f"{site.url}/admin/login/?next=/admin/")
    tab.fill("#id_username", OPERATOR[0])
    tab.fill("#id_password", OPERATOR[1])
    tab.click("input[type=submit]")
    tab.wait_for_url(f"{site.url}/admin/")
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture
def account() -> Account:
    return Account.objects.create(name="Acme")


def sample_connector(account: Account, name: str, size: int) -> Connector:
    """A sample connector of `size` customers (and 3x orders, 10x events) into DuckDB."""
    return Connector.objects.create(
        account=account,
        name=name,
        type="sample",
        config={"size": size},
        destination=make_destination(account, f"lake-{name}"),
        destination_schema=name,
    )


def shot(page: Any, site: Site, name: str) -> None:
    page.screenshot(path=str(site.artifacts / f"{name}.png"), full_page=True)


def message(page: Any, level: str) -> str:
    """The text of the page's message of this level ("success", "error")."""
    return page.locator(f"ul.messagelist li.{level}").first.inner_text()


def status_field(page: Any) -> Any:
    return page.locator(".field-status .readonly")


def watch_job(page: Any, until: str, *, timeout: int = SYNC_TIMEOUT_MS) -> int:
    """Stay on the job's page, which reloads itself, until it shows `until`. How many times
    the page loaded meanwhile."""
    from playwright.sync_api import expect

    loads: list[Any] = []

    def loaded(loaded_page: Any) -> None:
        loads.append(loaded_page)

    page.on("load", loaded)
    try:
        # The status's label ("Succeeded"), whatever its case.
        expect(status_field(page)).to_have_text(re.compile(f"^{until}$", re.I), timeout=timeout)
    finally:
        page.remove_listener("load", loaded)
    return len(loads)


def assert_fits(page: Any) -> None:
    """Nothing wider than the window (the table needs no scrolling of its own), no id or time
    wrapped over two lines."""
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    overflow = page.evaluate(
        """() => [...document.querySelectorAll('#changelist .results')]
                 .map(el => el.scrollWidth - el.clientWidth)"""
    )
    assert overflow == [0]
    assert (
        page.evaluate("document.querySelector('#result_list').getBoundingClientRect().right")
        <= WIDTH
    )
    wrapped = page.evaluate(
        """() => [...document.querySelectorAll('#result_list .nowrap')]
                 .filter(el => el.getClientRects().length > 1)
                 .map(el => el.textContent)"""
    )
    assert wrapped == []


def test_sync_now_from_the_connector_page_and_watch_it_succeed(page, site: Site, account):
    connector = sample_connector(account, "demo", 20_000)
    page.goto(f"{site.url}/admin/connectors/connector/{connector.id}/change/")
    shot(page, site, "01-connector")
    for label in ("Sync now", "Full resync", "Pause", "Test connection"):
        assert page.get_by_role("button", name=label).is_visible(), label
    assert page.locator('input[name="_save"]').count() == 1  # name and schedule are editable

    page.get_by_role("button", name="Sync now").click()
    assert message(page, "success").startswith("Sync queued.")
    job = Job.objects.get(connector=connector)
    shot(page, site, "02-sync-queued")

    # The message links to the job's page, which reloads itself until the sync has ended.
    page.get_by_role("link", name=f"Job {str(job.id)[:8]}").click()
    page.wait_for_url(f"**/admin/syncs/job/{job.id}/change/")
    # The status and the document it was read from, together: a reload that lands before the
    # watch below starts listening must count too (it did, on a fast sync).
    first_origin, first_status = page.evaluate(
        """() => [performance.timeOrigin,
                  document.querySelector('.field-status .readonly').innerText.toLowerCase()]"""
    )
    shot(page, site, "03-job-in-progress")
    loads = watch_job(page, "succeeded")
    if first_status.strip() != "succeeded":
        reloaded = loads >= 1 or page.evaluate("performance.timeOrigin") != first_origin
        assert reloaded, "the job's page did not refresh itself"
    shot(page, site, "04-job-succeeded")
    # Still, now: no refresh, no Save button, nothing left to do to it.
    assert page.locator('meta[http-equiv="refresh"]').count() == 0
    assert page.locator('input[name="_save"]').count() == 0
    assert page.get_by_role("button", name="Cancel").count() == 0
    assert page.get_by_role("button", name="Retry").count() == 0
    job.refresh_from_db()
    assert job.rows_written == 20_000 * 14

    # The job list fits a 1,400 px window: short ids, times to the second, rows/s.
    page.goto(f"{site.url}/admin/syncs/job/")
    assert page.get_by_title(str(job.id)).inner_text() == str(job.id)[:8]
    assert page.locator("th", has_text="Rows/s").count() == 1
    shot(page, site, "05-job-list")
    assert_fits(page)

    # The connector list: its health and activity, with the widest cells it can have beside
    # it (a sync running now, a last success days ago, a countdown).
    now = timezone.now()
    running = sample_connector(account, "warehouse-orders", 100)
    Connector.objects.filter(id=running.id).update(sync_frequency_minutes=60, last_triggered_at=now)
    active = Job.objects.create(connector=running, status=JobStatus.RUNNING, started_at=now)
    failing = sample_connector(account, "crm-contacts", 100)
    for status, days in ((JobStatus.SUCCEEDED, 3), (JobStatus.FAILED, 2)):
        done = Job.objects.create(
            connector=failing,
            status=status,
            started_at=now - timedelta(days=days, seconds=5),
            finished_at=now - timedelta(days=days),
        )
        receipt_write(job_id=done.id)
    page.goto(f"{site.url}/admin/connectors/connector/")
    row = page.locator("#result_list tbody tr", has_text="demo")
    assert row.locator(".field-health_display").inner_text() == "healthy"
    assert row.locator(".field-last_result_display").inner_text() == "succeeded"
    row = page.locator("#result_list tbody tr", has_text="warehouse-orders")
    assert row.locator(".field-syncing_now").inner_text() == f"{str(active.id)[:8]} running"
    assert row.locator(".field-next_sync").inner_text().startswith("in 59 min")
    row = page.locator("#result_list tbody tr", has_text="crm-contacts")
    assert row.locator(".field-health_display").inner_text() == "failing"
    shot(page, site, "06-connector-list")
    assert_fits(page)


def test_test_connections(page, site: Site, account):
    connector = sample_connector(account, "demo", 100)
    page.goto(f"{site.url}/admin/connectors/connector/{connector.id}/change/")
    page.get_by_role("button", name="Test connection").click()
    assert message(page, "success") == (
        "Connection test succeeded: Sample data is always available."
    )
    page.goto(f"{site.url}/admin/connectors/destination/{connector.destination_id}/change/")
    page.get_by_role("button", name="Test connection").click()
    assert message(page, "success").startswith("Connection test succeeded")
    shot(page, site, "07-destination-tested")


def test_cancel_a_running_sync(page, site: Site, account):
    # Big enough to be still running when the operator cancels it.
    connector = sample_connector(account, "big", 10_000_000)
    page.goto(f"{site.url}/admin/connectors/connector/{connector.id}/change/")
    page.get_by_role("button", name="Sync now").click()
    job = Job.objects.get(connector=connector)
    page.goto(f"{site.url}/admin/syncs/job/{job.id}/change/")
    watch_job(page, "running")
    assert page.locator('meta[http-equiv="refresh"]').count() == 1
    assert page.get_by_role("button", name="Retry").count() == 0
    shot(page, site, "08-job-running")

    page.get_by_role("button", name="Cancel").click()
    assert message(page, "success").startswith("Cancel requested")
    watch_job(page, "cancelled")
    shot(page, site, "09-job-cancelled")
    job.refresh_from_db()
    assert job.cancel_reason == f"Cancelled by operator {OPERATOR[0]}"
    assert job.rows_written < 10_000_000 * 14


def test_retry_a_failed_sync(page, site: Site, account):
    # A stream setting the source refuses (`name` is no cursor): the sync fails, for good.
    connector = sample_connector(account, "broken", 1_000)
    Connector.objects.filter(id=connector.id).update(
        streams=[
            {
                "name": "customers",
                "enabled": True,
                "sync_mode": "incremental",
                "load_mode": "merge",
                "cursor_field": "name",
            }
        ]
    )
    page.goto(f"{site.url}/admin/connectors/connector/{connector.id}/change/")
    page.get_by_role("button", name="Sync now").click()
    failed = Job.objects.get(connector=connector)
    page.goto(f"{site.url}/admin/syncs/job/{failed.id}/change/")
    watch_job(page, "failed")
    shot(page, site, "10-job-failed")

    # The customer fixes the setting; the operator retries the failed attempt.
    Connector.objects.filter(id=connector.id).update(streams=[])
    page.get_by_role("button", name="Retry").click()
    retry = Job.objects.get(retry_of=failed)
    page.wait_for_url(f"**/admin/syncs/job/{retry.id}/change/")
    assert message(page, "success").startswith("Retry queued: attempt 2")
    watch_job(page, "succeeded")
    shot(page, site, "11-retry-succeeded")
    retry.refresh_from_db()
    assert retry.status == JobStatus.SUCCEEDED and retry.trigger == "retry"


def test_redeliver_a_webhook_delivery(page, site: Site, account):
    with Receiver() as receiver:
        endpoint, _ = webhook_services.webhook_create(account=account, url=receiver.url)
        # The API's test event: one delivery, made and answered now.
        outcome = webhook_services.webhook_test(endpoint=endpoint)
        assert outcome["succeeded"], outcome
        delivery = Delivery.objects.get(id=outcome["delivery_id"])
        assert len(receiver.received) == 1

        page.goto(f"{site.url}/admin/webhooks/delivery/{delivery.id}/change/")
        assert page.locator('input[name="_save"]').count() == 0
        page.get_by_role("button", name="Redeliver").click()
        assert message(page, "success") == "Redelivery queued: attempt 2 is made now."
        # The worker sends it again.
        receiver.wait_for(lambda received: len(received) == 2, timeout=30)
        again = receiver.received[1]
        assert again.headers["landed-delivery-id"] == str(delivery.id)
    deadline = time.monotonic() + 15
    while Delivery.objects.get(id=delivery.id).status != DeliveryStatus.SUCCEEDED:
        assert time.monotonic() < deadline, "the redelivery was not recorded"
        time.sleep(0.2)
    page.reload()
    assert page.locator(".field-attempts .readonly").inner_text() == "2"
    shot(page, site, "12-delivery-redelivered")
