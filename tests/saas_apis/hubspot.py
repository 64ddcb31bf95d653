"""A local HubSpot CRM API for one portal, plugged into tests/saas_oauth_server.py (which issues
the tokens it accepts):

  POST /hubspot/api/crm/v3/objects/{contacts,companies,deals}/search
      A JSON body: `filterGroups` (filters on the object's properties: `GTE`, `GT`, `LTE`,
      `LT`, `EQ`; a date property's value in epoch milliseconds), `sorts` (one property,
      `ASCENDING` or `DESCENDING`; ties by id), `properties`, `limit` (at most 200, 400
      otherwise), `after` (the offset as text). Answers `{"total", "results", "paging":
      {"next": {"after", "link"}}}` (no `paging` on the last page). A search serves at most
      `window` results (HubSpot's 10,000): an `after` at or past it is answered 400, as
      HubSpot does. Records are `{"id", "properties", "createdAt", "updatedAt", "archived"}`
      with the asked properties (and `hs_object_id`, `createdate` and the last-modified
      property, which HubSpot always adds), every value as text.
  GET  /hubspot/api/crm/v3/owners   `limit` (at most 500), `after`; the same paging.

Errors as HubSpot writes them, `{"status": "error", "message", "correlationId", "category"}`:
401 `EXPIRED_AUTHENTICATION` for a token past its expiry, 401 `INVALID_AUTHENTICATION` for an
unknown or revoked one, 400 `VALIDATION_ERROR`. Rate limits: `throttle(times)` answers the
next requests 429 (`RATE_LIMITS`, no Retry-After); the owners endpoint's answers carry
`X-HubSpot-RateLimit-Max`, `-Remaining` and `-Interval-Milliseconds` (the search API's carry
none). The search's own secondly limit is not counted here. `expire_after(n)` expires the
access tokens after `n` more data requests (a token that runs out mid-sync).
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.saas_oauth_server import SaaSOAuth

BASE = datetime(2026, 3, 1, tzinfo=UTC)
OBJECTS = ("contacts", "companies", "deals")
LAST_MODIFIED = {
    "contacts": "lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "deals": "hs_lastmodifieddate",
}
MAX_SEARCH_LIMIT = 200
MAX_OWNERS_LIMIT = 500
PREFIX = "/hubspot/api/crm/v3/"


def at(seconds: float) -> str:
    """An instant as HubSpot writes it: UTC, with milliseconds."""
    moment = BASE + timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def millis(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


def _error(status: int, category: str, message: str) -> tuple[int, Any, dict[str, str]]:
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    return status, body, {}


class HubSpotApi:
    def __init__(self, oauth: SaaSOAuth, *, window: int = 10_000) -> None:
        self.oauth = oauth
        self.window = window
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in OBJECTS}
        self.owners: list[dict[str, Any]] = []
        # (path, body or query) of every data request.
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.refused_past_window = 0
        self.throttled = 0  # 429s answered
        self.expired_answers = 0  # 401 EXPIRED_AUTHENTICATION answered
        self._throttle = 0
        self._expire_after: int | None = None
        self._lock = threading.Lock()
        oauth.apis.append(self)

    # --- Controls -----------------------------------------------------------------------------
    def add(self, object_type: str, n: int, modified: float, **properties: Any) -> None:
        """Record `n` of an object, last modified `modified` seconds after BASE."""
        record_id = str(n)
        stamp = at(modified)
        props = {
            "hs_object_id": record_id,
            "createdate": at(0),
            LAST_MODIFIED[object_type]: stamp,
            **{k: None if v is None else str(v) for k, v in properties.items()},
        }
        with self._lock:
            self.records[object_type][record_id] = {
                "id": record_id,
                "properties": props,
                "createdAt": at(0),
                "updatedAt": stamp,
                "archived": False,
            }

    def touch(self, object_type: str, n: int, modified: float, **properties: Any) -> None:
        stamp = at(modified)
        with self._lock:
            record = self.records[object_type][str(n)]
            record["updatedAt"] = stamp
            record["properties"][LAST_MODIFIED[object_type]] = stamp
            record["properties"].update({k: str(v) for k, v in properties.items()})

    def add_owner(self, n: int) -> None:
        self.owners.append(
            {
                "id": str(100 + n),
                "email": f"owner{n}@acme.com",
                "type": "PERSON",
                "firstName": f"Owner{n}",
                "lastName": "Acme",
                "userId": 9000 + n,
                "userIdIncludingInactive": 9000 + n,
                "createdAt": at(0),
                "updatedAt": at(n),
                "archived": False,
                "teams": [{"id": "7", "name": "Sales", "primary": True}] if n % 2 else [],
            }
        )

    def throttle(self, times: int) -> None:
        with self._lock:
            self._throttle += times

    def expire_after(self, requests: int) -> None:
        with self._lock:
            self._expire_after = requests

    def searches(self, object_type: str) -> list[dict[str, Any]]:
        with self._lock:
            return [body for path, body in self.requests if path == f"{object_type}/search"]

    # --- Serving ------------------------------------------------------------------------------
    def answer(
        self, method: str, path: str, query: dict[str, str], raw: str, headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]] | None:
        if not path.startswith(PREFIX):
            return None
        name = path.removeprefix(PREFIX).removeprefix("objects/")
        try:
            body = json.loads(raw) if method == "POST" else dict(query)
        except ValueError:
            return _error(400, "VALIDATION_ERROR", "Invalid input JSON on line 1")
        with self._lock:
            self.requests.append((name, body if isinstance(body, dict) else {}))
            if self._throttle > 0:
                self._throttle -= 1
                self.throttled += 1
                throttled = True
            else:
                throttled = False
            expire = self._expire_after is not None and self._expire_after <= 0
            if self._expire_after is not None:
                self._expire_after = None if expire else self._expire_after - 1
        search = name.endswith("/search")
        if throttled:
            status, error, _ = _error(429, "RATE_LIMITS", "You have reached your secondly limit.")
            error.update(errorType="RATE_LIMIT", policyName="SECONDLY")
            return status, error, {} if search else self._limit_headers(remaining=0)
        if expire:
            self.oauth.expire_access_tokens("hubspot")
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if self.oauth.token_is_expired(token):
            with self._lock:
                self.expired_answers += 1
            return _error(
                401,
                "EXPIRED_AUTHENTICATION",
                "The OAuth token used to make this call expired 1 second(s) ago.",
            )
        if not self.oauth.token_is_valid(token):
            return _error(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
            )
        if method == "POST" and search and name.split("/")[0] in OBJECTS:
            return self._search(name.split("/")[0], body)
        if method == "GET" and name == "owners":
            status, answer, _ = self._owners(query)
            return status, answer, self._limit_headers(remaining=189)
        return _error(404, "OBJECT_NOT_FOUND", f"Unknown path {path}")

    @staticmethod
    def _limit_headers(*, remaining: int) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Max": "190",
            "X-HubSpot-RateLimit-Remaining": str(remaining),
            "X-HubSpot-RateLimit-Interval-Milliseconds": "200",
        }

    def _search(self, object_type: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(body, dict):
            return _error(400, "VALIDATION_ERROR", "The request body is not an object.")
        try:
            limit = int(body.get("limit", 10))
            after = int(body.get("after") or 0)
        except (TypeError, ValueError):
            return _error(400, "VALIDATION_ERROR", "limit and after are numbers.")
        if not 0 < limit <= MAX_SEARCH_LIMIT:
            return _error(400, "VALIDATION_ERROR", f"limit must be at most {MAX_SEARCH_LIMIT}.")
        if after >= self.window:
            with self._lock:
                self.refused_past_window += 1
            return _error(
                400,
                "VALIDATION_ERROR",
                f"The search API serves at most {self.window} results for a query.",
            )
        with self._lock:
            rows = [json.loads(json.dumps(r)) for r in self.records[object_type].values()]
        for group in body.get("filterGroups") or [{"filters": []}]:
            for rule in group.get("filters") or []:
                try:
                    rows = [r for r in rows if _matches(r, rule)]
                except (KeyError, TypeError, ValueError):
                    return _error(400, "VALIDATION_ERROR", f"Invalid filter {rule}.")
        sorts = body.get("sorts") or []
        if sorts:
            prop = sorts[0]["propertyName"]
            rows.sort(
                key=lambda r: (millis(r["properties"][prop]), int(r["id"])),
                reverse=sorts[0].get("direction") == "DESCENDING",
            )
        else:
            rows.sort(key=lambda r: int(r["id"]))
        asked = set(body.get("properties") or [])
        keep = asked | {"hs_object_id", "createdate", LAST_MODIFIED[object_type]}
        page = rows[after : after + limit]
        for row in page:
            row["properties"] = {k: v for k, v in row["properties"].items() if k in keep}
            for prop in asked - set(row["properties"]):
                row["properties"][prop] = None
        answer: dict[str, Any] = {"total": len(rows), "results": page}
        if after + limit < len(rows):
            following = str(after + limit)
            answer["paging"] = {"next": {"after": following, "link": f"?after={following}"}}
        return 200, answer, {}

    def _owners(self, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        try:
            limit = int(query.get("limit", "100"))
            after = int(query.get("after") or 0)
        except ValueError:
            return _error(400, "VALIDATION_ERROR", "limit and after are numbers.")
        if not 0 < limit <= MAX_OWNERS_LIMIT:
            return _error(400, "VALIDATION_ERROR", f"limit must be at most {MAX_OWNERS_LIMIT}.")
        page = self.owners[after : after + limit]
        answer: dict[str, Any] = {"results": page}
        if after + limit < len(self.owners):
            following = str(after + limit)
            answer["paging"] = {"next": {"after": following, "link": f"?after={following}"}}
        return 200, answer, {}


def _matches(record: dict[str, Any], rule: dict[str, Any]) -> bool:
    value = record["properties"].get(rule["propertyName"])
    if value is None:
        return False
    have, want = millis(value), int(rule["value"])
    operator = rule["operator"]
    return {
        "GTE": have >= want,
        "GT": have > want,
        "LTE": have <= want,
        "LT": have < want,
        "EQ": have == want,
    }[operator]
