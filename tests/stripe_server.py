"""A local Stripe for the tests: a real HTTP server on 127.0.0.1 speaking the parts of Stripe's
documented API that Landed uses, so that the official `stripe` library is exercised as in
production (form-encoded bodies, Bearer key, Idempotency-Key, Stripe's error JSON).

- POST /v1/customers, /v1/checkout/sessions, /v1/billing_portal/sessions and
  /v1/billing/meter_events answer with their documented objects.
- Idempotency-Key: a repeated key replays the first answer without acting again; the same key
  with other parameters is a 400 idempotency_error, as Stripe does.
- Meter events are deduplicated by `identifier`: a repeat is accepted but counted once.
- Failure injection: `fail_next(n, status)` answers the next n requests with Stripe's error
  shape; `drop_next(n)` acts on the next n requests and then closes the connection without an
  answer (Stripe accepted, the answer was lost); `known_prices` makes an unknown price a 400.

Also: `sign_event(...)` signs a webhook body with Stripe's scheme, through the library.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import stripe

_KEY_PART = re.compile(r"\[([^\]]*)\]")


def parse_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding (`a[b][0][c]=x`) back into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        base = key.split("[", 1)[0]
        parts = [base, *_KEY_PART.findall(key[len(base) :])]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _lists(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


def sign_event(event: dict[str, Any], secret: str, *, timestamp: int | None = None) -> tuple:
    """(body bytes, Stripe-Signature header) for `event`, signed as Stripe signs webhooks."""
    body = json.dumps(event)
    t = int(time.time()) if timestamp is None else timestamp
    signature = stripe.WebhookSignature._compute_signature(f"{t}.{body}", secret)
    return body.encode(), f"t={t},v1={signature}"


@dataclass
class StripeRequest:
    method: str
    path: str
    form: dict[str, Any]
    headers: dict[str, str]
    replayed: bool = False
    at: float = field(default_factory=time.time)

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")


def _mask(key: str) -> str:
    prefix = "_".join(key.split("_")[:2]) + "_" if key.count("_") >= 2 else ""
    return prefix + "*" * max(len(key) - len(prefix) - 4, 0) + key[-4:]


def _error(status: int, kind: str, message: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"type": kind, "message": message, **extra}}


class FakeStripe:
    def __init__(self, *, api_key: str = "sk_test_landed") -> None:
        self.api_key = api_key
        self.requests: list[StripeRequest] = []
        self.customers: dict[str, dict[str, Any]] = {}
        self.meter_events: dict[str, dict[str, Any]] = {}
        self.known_prices: set[str] | None = None
        self._failures: deque[tuple[int, str, str]] = deque()
        self._drops = 0
        self._idempotent: dict[str, tuple[str, str, int, dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, answer, drop = fake._handle("POST", self.path, raw, headers)
                if drop:
                    self.close_connection = True
                    return
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", f"req_{next(fake._ids)}")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- The test's controls ------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeStripe:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, count: int = 1, *, status: int = 500, message: str = "") -> None:
        """Answer the next `count` requests with a Stripe error (api_error for a 5xx,
        invalid_request_error for a 4xx) without acting on them."""
        kind = "api_error" if status >= 500 else "invalid_request_error"
        text = message or (
            "An unknown error occurred" if status >= 500 else "Invalid request (injected)"
        )
        with self._lock:
            self._failures.extend([(status, kind, text)] * count)

    def drop_next(self, count: int = 1) -> None:
        """Act on the next `count` requests, then hang up without answering."""
        with self._lock:
            self._drops += count

    def to(self, path: str) -> list[StripeRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def meter_total(self, customer_id: str) -> int:
        """What Stripe's meter counted for the customer (each identifier once)."""
        with self._lock:
            return sum(
                int(e["payload"]["value"])
                for e in self.meter_events.values()
                if e["payload"].get("stripe_customer_id") == customer_id
            )

    # --- Stripe ----------------------------------------------------------------------------
    def _handle(
        self, method: str, path: str, raw: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], bool]:
        form = parse_form(raw)
        with self._lock:
            request = StripeRequest(method, path, form, headers)
            self.requests.append(request)
            if self._failures:
                status, kind, message = self._failures.popleft()
                return *_error(status, kind, message), False
            drop = self._drops > 0
            self._drops -= 1 if drop else 0
            authorization = headers.get("authorization") or ""
            if authorization != f"Bearer {self.api_key}":
                # As Stripe words it: the key quoted, masked but for its prefix and last four.
                status, answer = _error(
                    401,
                    "invalid_request_error",
                    f"Invalid API Key provided: {_mask(authorization.removeprefix('Bearer '))}",
                )
                return status, answer, drop
            key = headers.get("idempotency-key")
            if key and key in self._idempotent:
                first_path, first_raw, status, answer = self._idempotent[key]
                if (first_path, first_raw) != (path, raw):
                    status, answer = _error(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with.",
                    )
                else:
                    request.replayed = True
                return status, answer, drop
            status, answer = self._route(path, form)
            if key and status < 500:
                self._idempotent[key] = (path, raw, status, answer)
            return status, answer, drop

    def _route(self, path: str, form: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path == "/v1/customers":
            return self._customer(form)
        if path == "/v1/checkout/sessions":
            return self._checkout(form)
        if path == "/v1/billing_portal/sessions":
            return self._portal(form)
        if path == "/v1/billing/meter_events":
            return self._meter_event(form)
        return _error(404, "invalid_request_error", f"Unrecognized request URL (POST: {path}).")

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):08d}"

    def _customer(self, form: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        customer = {
            "id": self._new_id("cus"),
            "object": "customer",
            "created": int(time.time()),
            "email": form.get("email"),
            "name": form.get("name"),
            "metadata": form.get("metadata") or {},
            "livemode": False,
        }
        self.customers[customer["id"]] = customer
        return 200, customer

    def _missing(self, form: dict[str, Any], *names: str) -> tuple[int, dict[str, Any]] | None:
        for name in names:
            if not form.get(name):
                return _error(
                    400, "invalid_request_error", f"Missing required param: {name}.", param=name
                )
        return None

    def _checkout(self, form: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        problem = self._missing(form, "mode", "line_items", "success_url")
        if problem:
            return problem
        if form.get("customer") and form["customer"] not in self.customers:
            return _error(
                400,
                "invalid_request_error",
                f"No such customer: '{form['customer']}'",
                param="customer",
            )
        for index, item in enumerate(form["line_items"]):
            price = item.get("price", "")
            if self.known_prices is not None and price not in self.known_prices:
                return _error(
                    400,
                    "invalid_request_error",
                    f"No such price: '{price}'",
                    param=f"line_items[{index}][price]",
                    code="resource_missing",
                )
        session_id = self._new_id("cs_test")
        return 200, {
            "id": session_id,
            "object": "checkout.session",
            "mode": form["mode"],
            "customer": form.get("customer"),
            "client_reference_id": form.get("client_reference_id"),
            "metadata": form.get("metadata") or {},
            "status": "open",
            "payment_status": "unpaid",
            "success_url": form["success_url"],
            "cancel_url": form.get("cancel_url"),
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "livemode": False,
        }

    def _portal(self, form: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        problem = self._missing(form, "customer")
        if problem:
            return problem
        if form["customer"] not in self.customers:
            return _error(
                400,
                "invalid_request_error",
                f"No such customer: '{form['customer']}'",
                param="customer",
            )
        session_id = self._new_id("bps")
        return 200, {
            "id": session_id,
            "object": "billing_portal.session",
            "customer": form["customer"],
            "return_url": form.get("return_url"),
            "url": f"https://billing.stripe.com/p/session/test_{session_id}",
            "livemode": False,
        }

    def _meter_event(self, form: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        problem = self._missing(form, "event_name", "payload")
        if problem:
            return problem
        payload = form["payload"]
        if not str(payload.get("value", "")).lstrip("-").isdigit():
            return _error(400, "invalid_request_error", "payload[value] must be a number.")
        identifier = form.get("identifier") or self._new_id("mev")
        if identifier in self.meter_events:
            return 200, self.meter_events[identifier]  # counted once
        event = {
            "object": "billing.meter_event",
            "created": int(time.time()),
            "event_name": form["event_name"],
            "identifier": identifier,
            "livemode": False,
            "payload": payload,
            "timestamp": int(form.get("timestamp") or time.time()),
        }
        self.meter_events[identifier] = event
        return 200, event
