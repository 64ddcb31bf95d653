"""A local Microsoft Graph (v1.0), plugged into tests/saas_oauth_server.py (which issues the
tokens it accepts), under `<server>/graph` (MICROSOFT_GRAPH_URL):

  GET /graph/v1.0/users | /groups         `$select`, `$top` (at most 999), `$skiptoken`
  GET /graph/v1.0/users/delta | /groups/delta  `$select`, `$skiptoken` (a round's next page),
                                          `$deltatoken` (the changes since a finished round)
Bodies as Graph writes them: `{"@odata.context", "value": [...], "@odata.nextLink"}`, the
next link an absolute URL; a delta round's last page carries `@odata.deltaLink` instead. A
delta read from a `$deltatoken` lists the objects changed since (whole, with the selected
properties) and those deleted as `{"id", "@removed": {"reason": "deleted"}}`; a token the
service no longer honours (`expire_delta_tokens()`) is 410 `syncStateNotFound`. Errors are
Graph's `{"error": {"code", "message", "innerError"}}`: an expired access token is 401
`InvalidAuthenticationToken` "Access token has expired or is not yet valid.", an unknown or
revoked one 401 `InvalidAuthenticationToken` too; throttling is 429 `TooManyRequests` with
`Retry-After` in seconds (`throttle(times)`), and so is 503 `serviceNotAvailable`
(`unavailable(times)`); `served` counts them. `expire_after(n)` expires the access tokens
after `n` more data requests (a token that runs out mid-sync).
"""

from __future__ import annotations

import base64
import json
import threading
from typing import Any
from urllib.parse import urlencode

from tests.saas_oauth_server import SaaSOAuth

PREFIX = "/graph/v1.0/"
# Graph's page size of a delta round is its own (a few here, so that rounds have pages).
DELTA_PAGE_SIZE = 10


def user(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "id": f"00000000-0000-4000-8000-{n:012d}",
        "userPrincipalName": f"user{n}@contoso.onmicrosoft.com",
        "displayName": f"User {n}",
        "givenName": "User",
        "surname": str(n),
        "mail": f"user{n}@contoso.com",
        "jobTitle": "Engineer" if n % 2 else None,
        "department": "R&D",
        "officeLocation": None,
        "mobilePhone": None,
        "businessPhones": [f"+1 425 555 {n:04d}"] if n % 3 == 0 else [],
        "preferredLanguage": "en-US",
        "accountEnabled": n % 7 != 0,
        "userType": "Member" if n % 5 else "Guest",
        "createdDateTime": f"2025-01-{1 + n % 28:02d}T08:00:00Z",
        **changes,
    }


def group(n: int) -> dict[str, Any]:
    return {
        "id": f"11111111-0000-4000-8000-{n:012d}",
        "displayName": f"Group {n}",
        "description": None if n % 2 else f"The {n} team",
        "mail": f"group{n}@contoso.com",
        "mailEnabled": True,
        "mailNickname": f"group{n}",
        "securityEnabled": n % 2 == 0,
        "groupTypes": ["Unified"] if n % 2 else [],
        "visibility": "Private",
        "createdDateTime": "2025-02-01T09:30:00Z",
        "renewedDateTime": "2025-02-01T09:30:00Z",
    }


class GraphApi:
    def __init__(self, oauth: SaaSOAuth) -> None:
        self.oauth = oauth
        # Per collection: id -> (object, the change sequence it was last written at, deleted)
        self.objects: dict[str, dict[str, tuple[dict[str, Any], int, bool]]] = {
            "users": {},
            "groups": {},
        }
        self.sequence = 0
        # Delta tokens below this sequence are no longer honoured (410 syncStateNotFound).
        self.oldest_delta = 0
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._throttle = 0
        self._unavailable = 0
        self.served: dict[int, int] = {}
        self._expire_after: int | None = None
        self._lock = threading.Lock()
        oauth.apis.append(self)

    # --- Controls -----------------------------------------------------------------------------
    def put(self, collection: str, item: dict[str, Any]) -> None:
        with self._lock:
            self.sequence += 1
            self.objects[collection][item["id"]] = (item, self.sequence, False)

    def delete(self, collection: str, item_id: str) -> None:
        with self._lock:
            self.sequence += 1
            item, _, _ = self.objects[collection][item_id]
            self.objects[collection][item_id] = (item, self.sequence, True)

    def throttle(self, times: int) -> None:
        with self._lock:
            self._throttle += times

    def unavailable(self, times: int) -> None:
        with self._lock:
            self._unavailable += times

    def expire_after(self, requests: int) -> None:
        with self._lock:
            self._expire_after = requests

    def expire_delta_tokens(self) -> None:
        with self._lock:
            self.oldest_delta = self.sequence + 1

    def calls(self, path: str) -> list[dict[str, str]]:
        with self._lock:
            return [q for p, q in self.requests if p == path]

    # --- Serving ------------------------------------------------------------------------------
    def answer(
        self, method: str, path: str, query: dict[str, str], raw: str, headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]] | None:
        if not path.startswith(PREFIX):
            return None
        name = path.removeprefix(PREFIX)
        with self._lock:
            self.requests.append((name, dict(query)))
            if self._throttle > 0:
                self._throttle -= 1
                self.served[429] = self.served.get(429, 0) + 1
                return (
                    429,
                    _error("TooManyRequests", "Too many requests, retry after some time."),
                    {"Retry-After": "1"},
                )
            if self._unavailable > 0:
                self._unavailable -= 1
                self.served[503] = self.served.get(503, 0) + 1
                return (
                    503,
                    _error("serviceNotAvailable", "The service is temporarily unavailable."),
                    {"Retry-After": "1"},
                )
            expire = self._expire_after is not None and self._expire_after <= 0
            if self._expire_after is not None:
                self._expire_after -= 1
            if expire:
                self._expire_after = None
        if expire:
            self.oauth.expire_access_tokens("microsoft")
        authorization = headers.get("authorization", "")
        token = authorization.removeprefix("Bearer ").strip()
        if self.oauth.token_is_expired(token):
            return (
                401,
                _error(
                    "InvalidAuthenticationToken", "Access token has expired or is not yet valid."
                ),
                {},
            )
        if not self.oauth.token_is_valid(token):
            return (
                401,
                _error(
                    "InvalidAuthenticationToken",
                    "Access token validation failure. Invalid audience.",
                ),
                {},
            )
        if method != "GET":
            return 405, _error("Request_BadRequest", "Unsupported method."), {}
        collection, _, delta = name.partition("/")
        if collection not in self.objects or delta not in ("", "delta"):
            return 404, _error("Request_ResourceNotFound", f"Resource '{name}' not found."), {}
        select = [p for p in query.get("$select", "").split(",") if p]
        if delta:
            return self._delta(collection, select, query)
        return self._list(collection, select, query)

    def _list(
        self, collection: str, select: list[str], query: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        try:
            top = int(query.get("$top", "100"))
            offset = int(_decode(query["$skiptoken"])["offset"]) if "$skiptoken" in query else 0
        except (ValueError, KeyError, TypeError):
            return 400, _error("Request_BadRequest", "Invalid paging parameters."), {}
        if not 1 <= top <= 999:
            return 400, _error("Request_BadRequest", "Invalid page size specified: '$top'."), {}
        with self._lock:
            rows = [o for o, _, gone in self.objects[collection].values() if not gone]
        page = rows[offset : offset + top]
        body: dict[str, Any] = {
            "@odata.context": self._url(f"$metadata#{collection}"),
            "value": [_selected(o, select) for o in page],
        }
        if offset + top < len(rows):
            token = _encode({"offset": offset + top})
            params = {"$top": str(top), "$skiptoken": token}
            if select:
                params["$select"] = ",".join(select)
            body["@odata.nextLink"] = self._url(collection, params)
        return 200, body, {}

    def _delta(
        self, collection: str, select: list[str], query: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        try:
            if "$skiptoken" in query:
                state = _decode(query["$skiptoken"])
            elif "$deltatoken" in query:
                state = {"since": int(_decode(query["$deltatoken"])["at"]), "offset": 0}
            else:
                state = {"since": None, "offset": 0}
            since, offset = state["since"], int(state["offset"])
            select = state.get("select", select)
        except (ValueError, KeyError, TypeError):
            return 400, _error("Request_BadRequest", "Invalid delta token."), {}
        with self._lock:
            if since is not None and since < self.oldest_delta:
                return (
                    410,
                    _error(
                        "syncStateNotFound",
                        "The sync state generated by the delta token is not found. Please "
                        "restart the sync without a delta token.",
                    ),
                    {},
                )
            at = int(state.get("at", self.sequence))
            if since is None:
                rows = [
                    _selected(o, select)
                    for o, seq, gone in self.objects[collection].values()
                    if not gone and seq <= at
                ]
            else:
                rows = [
                    {"id": o["id"], "@removed": {"reason": "deleted"}}
                    if gone
                    else _selected(o, select)
                    for o, seq, gone in self.objects[collection].values()
                    if since < seq <= at
                ]
        page = rows[offset : offset + DELTA_PAGE_SIZE]
        body: dict[str, Any] = {
            "@odata.context": self._url(f"$metadata#{collection}"),
            "value": page,
        }
        if offset + DELTA_PAGE_SIZE < len(rows):
            following = {"since": since, "offset": offset + DELTA_PAGE_SIZE, "at": at}
            following["select"] = select
            body["@odata.nextLink"] = self._url(
                f"{collection}/delta", {"$skiptoken": _encode(following)}
            )
        else:
            body["@odata.deltaLink"] = self._url(
                f"{collection}/delta", {"$deltatoken": _encode({"at": at})}
            )
        return 200, body, {}

    def _url(self, path: str, params: dict[str, str] | None = None) -> str:
        url = f"{self.oauth.url}{PREFIX}{path}"
        return f"{url}?{urlencode(params, safe='$,')}" if params else url


def _selected(item: dict[str, Any], select: list[str]) -> dict[str, Any]:
    if not select:
        return dict(item)
    return {key: item.get(key) for key in ["id", *select]}


def _encode(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _decode(token: str) -> dict[str, Any]:
    padded = token + "=" * (-len(token) % 4)
    value = json.loads(base64.urlsafe_b64decode(padded))
    if not isinstance(value, dict):
        raise ValueError("not a token")
    return value


def _error(code: str, message: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": "2026-01-01T00:00:00",
                "request-id": "6f6b2a4e-0000-4000-8000-000000000000",
                "client-request-id": "6f6b2a4e-0000-4000-8000-000000000000",
            },
        }
    }
