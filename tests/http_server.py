"""A local JSON API for the tests of the HTTP API source: one collection of users served in
every pagination style, each user's orders as a child collection, events to read
incrementally (with ties on the cursor), an OAuth2 token endpoint, API-key and basic-auth
protected routes, and failures injected on purpose (429 with Retry-After, 5xx, stalls).

Routes (all GET unless said):
  /v1/offset/users?limit&offset         {"data": {"items": [...]}}
  /v1/pages/users?page&per_page          {"results": [...]}
  /v1/cursor/users?limit&cursor          {"items": [...], "meta": {"next_cursor": ...}}
  /v1/next/users?size&from               {"records": [...], "links": {"next": "/v1/next/..."}}
  /v1/link/users?per_page&page           [...] with a Link: <...>; rel="next" header
  /v1/users/{id}/orders?page&per_page    {"orders": [...]}       (user id % 4 orders each)
  /v1/events?since&limit&offset          {"events": [...]}        (updated_at >= since)
  /v1/secure/...   the same, with a bearer token from POST /oauth/token
  /v1/keyed/...    the same, with the API key (X-Api-Key header or api_key parameter)
  /v1/basic/...    the same, with HTTP basic alice:s3cret
  /v1/redirect     302 to /v1/offset/users
  anything given to `FakeApi.route`: a test's own answers (repeating pages, slow bodies)
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

API_KEY = "k-123"
CLIENT_ID, CLIENT_SECRET = "landed", "shh-secret"
BASIC_USER, BASIC_PASSWORD = "alice", "s3cret"

# (handler, query) -> (status, body, headers), or None when the route wrote its answer itself.
Route = Callable[[BaseHTTPRequestHandler, dict[str, str]], tuple[int, Any, dict[str, str]] | None]


def make_users(count: int) -> list[dict[str, Any]]:
    """Users with a value of every JSON kind: ints, floats mixed with ints, booleans, text,
    lists, objects and an always-null field."""
    return [
        {
            "id": i,
            "name": f"user {i}",
            "active": i % 2 == 0,
            "score": i * 1.5 if i % 3 else i,  # floats and ints: a double column
            "tags": [f"t{i % 3}"],
            "address": {"city": f"city {i % 5}", "zip": f"{10000 + i}"},
            "note": None,
            "updated_at": f"2026-01-{1 + i % 28:02d}T00:00:00Z",
        }
        for i in range(1, count + 1)
    ]


def make_orders(user_id: int) -> list[dict[str, Any]]:
    return [
        {"order_id": f"{user_id}-{k}", "amount": round(user_id * 10 + k * 0.25, 2)}
        for k in range(1, user_id % 4 + 1)
    ]


class FakeApi:
    def __init__(self, users: int = 23) -> None:
        self.users = make_users(users)
        self.events: list[dict[str, Any]] = []
        self.hits: list[tuple[str, str]] = []  # (method, path with query)
        self.injected: dict[str, deque[tuple[int, dict[str, str], float]]] = defaultdict(deque)
        self.broken: list[tuple[str, dict[str, str], int]] = []
        self.routes: dict[str, Route] = {}
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.token_lifetime = 3600
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- control ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def fail(
        self, path: str, status: int, *, times: int = 1, retry_after: str | None = None
    ) -> None:
        """Answer the next `times` requests to `path` (no query) with `status`."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        for _ in range(times):
            self.injected[path].append((status, headers, 0.0))

    def fail_matching(self, path: str, status: int, **query: str) -> None:
        """Answer every request to `path` whose query has these values with `status`."""
        self.broken.append((path, query, status))

    def stall(self, path: str, seconds: float, *, times: int = 1) -> None:
        """Wait `seconds` before answering the next `times` requests to `path`."""
        for _ in range(times):
            self.injected[path].append((0, {}, seconds))

    def route(self, path: str, answer: Route) -> None:
        """Answer requests to `path` (no query) with `answer`."""
        self.routes[path] = answer

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def hits_to(self, path: str) -> list[str]:
        return [p for _, p in self.hits if urlsplit(p).path == path]

    def add_event(self, event_id: int, updated_at: str) -> None:
        self.events.append(
            {"id": event_id, "kind": f"kind {event_id % 3}", "updated_at": updated_at}
        )

    # --- serving ---------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # One buffered write per response, without Nagle: keep-alive requests would
            # otherwise wait for delayed ACKs (~40 ms each).
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                api._serve(self, "GET")

            def do_POST(self) -> None:
                api._serve(self, "POST")

        return Handler

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        with self._lock:
            self.hits.append((method, handler.path))
            injected = self.injected[parts.path].popleft() if self.injected[parts.path] else None
        if injected is not None:
            status, headers, stall = injected
            if stall:
                time.sleep(stall)
            else:
                return self._reply(handler, status, {"error": "injected"}, headers)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        for path, values, status in self.broken:
            if path == parts.path and values.items() <= query.items():
                return self._reply(handler, status, {"error": "down for maintenance"}, {})
        try:
            if parts.path in self.routes:
                answer = self.routes[parts.path](handler, query)
                if answer is None:
                    return None
                status, body, headers = answer
            else:
                status, body, headers = self._route(handler, method, parts.path, query)
        except (KeyError, ValueError) as exc:
            status, body, headers = 400, {"error": f"bad request: {exc}"}, {}
        self._reply(handler, status, body, headers)

    def _reply(
        self, handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str]
    ) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def _route(
        self, handler: BaseHTTPRequestHandler, method: str, path: str, query: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        if path == "/oauth/token" and method == "POST":
            return self._token(handler)
        if path == "/v1/redirect":
            return 302, {}, {"Location": f"{self.url}/v1/offset/users"}
        for prefix, check in (
            ("/v1/secure/", self._bearer_ok),
            ("/v1/keyed/", self._key_ok),
            ("/v1/basic/", self._basic_ok),
        ):
            if path.startswith(prefix):
                if not check(handler, query):
                    return 401, {"error": "unauthorized"}, {}
                path = "/v1/" + path[len(prefix) :]
        return self._collection(path, query)

    def _collection(self, path: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        users = self.users
        if path == "/v1/offset/users":
            offset, limit = int(query.get("offset", 0)), int(query.get("limit", 10))
            return 200, {"data": {"items": users[offset : offset + limit]}}, {}
        if path == "/v1/pages/users":
            page, size = int(query.get("page", 1)), int(query.get("per_page", 10))
            return 200, {"results": users[(page - 1) * size : page * size]}, {}
        if path == "/v1/cursor/users":
            start, limit = int(query.get("cursor", "c0")[1:]), int(query.get("limit", 10))
            following = f"c{start + limit}" if start + limit < len(users) else None
            items = users[start : start + limit]
            return 200, {"items": items, "meta": {"next_cursor": following}}, {}
        if path == "/v1/next/users":
            start, size = int(query.get("from", 0)), int(query.get("size", 10))
            following = None
            if start + size < len(users):
                following = "/v1/next/users?" + urlencode({"size": size, "from": start + size})
            return 200, {"records": users[start : start + size], "links": {"next": following}}, {}
        if path == "/v1/link/users":
            page, size = int(query.get("page", 1)), int(query.get("per_page", 10))
            headers = {}
            if page * size < len(users):
                link = f"{self.url}/v1/link/users?per_page={size}&page={page + 1}"
                headers["Link"] = f'<{link}>; rel="next", <{self.url}/v1/link/users>; rel="first"'
            return 200, users[(page - 1) * size : page * size], headers
        if path.startswith("/v1/users/") and path.endswith("/orders"):
            user_id = int(path.split("/")[3])
            if not any(u["id"] == user_id for u in users):
                return 404, {"error": "no such user"}, {}
            page, size = int(query.get("page", 1)), int(query.get("per_page", 10))
            orders = make_orders(user_id)[(page - 1) * size : page * size]
            return 200, {"orders": orders}, {}
        if path == "/v1/events":
            since = query.get("since")
            matching = sorted(
                (e for e in self.events if since is None or e["updated_at"] >= since),
                key=lambda e: (e["updated_at"], e["id"]),
            )
            offset, limit = int(query.get("offset", 0)), int(query.get("limit", 10))
            return 200, {"events": matching[offset : offset + limit]}, {}
        return 404, {"error": f"no route {path}"}, {}

    # --- auth ------------------------------------------------------------------------------
    def _token(self, handler: BaseHTTPRequestHandler) -> tuple[int, Any, dict[str, str]]:
        length = int(handler.headers.get("Content-Length") or 0)
        form = {k: v[-1] for k, v in parse_qs(handler.rfile.read(length).decode()).items()}
        client = (form.get("client_id"), form.get("client_secret"))
        basic = _basic(handler)
        if basic is not None:
            client = basic
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}, {}
        if client != (CLIENT_ID, CLIENT_SECRET):
            return 401, {"error": "invalid_client"}, {}
        with self._lock:
            self.token_requests += 1
            token = f"tok-{self.token_requests}"
            self.tokens.add(token)
        body = {"access_token": token, "token_type": "bearer", "expires_in": self.token_lifetime}
        return 200, body, {}

    def _bearer_ok(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> bool:
        header = handler.headers.get("Authorization") or ""
        return header.startswith("Bearer ") and header[7:] in self.tokens

    def _key_ok(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> bool:
        return API_KEY in (handler.headers.get("X-Api-Key"), query.get("api_key"))

    def _basic_ok(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> bool:
        return _basic(handler) == (BASIC_USER, BASIC_PASSWORD)


def _basic(handler: BaseHTTPRequestHandler) -> tuple[str, str] | None:
    header = handler.headers.get("Authorization") or ""
    if not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password
