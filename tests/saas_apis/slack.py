"""A local Slack Web API, plugged into tests/saas_oauth_server.py (which issues the tokens it
accepts):

  GET /slack/api/conversations.list   `types`, `exclude_archived`, `limit`, `cursor`
  GET /slack/api/users.list           `limit`, `cursor`
  GET /slack/api/conversations.history `channel`, `oldest` (+ `inclusive`), `limit`, `cursor`;
                                      newest first; `not_in_channel` for a channel the app is
                                      not a member of
Every answer is HTTP 200 with `"ok"`, errors as `{"ok": false, "error": code}`: a token past
its expiry is `token_expired`, an unknown or revoked one `invalid_auth`; paging by
`response_metadata.next_cursor` (empty at the end). Rate limits as Slack does them: 429 with
`Retry-After` in seconds (`throttle(times)`). `expire_after(n)` expires the access tokens
after `n` more data requests (a token that runs out mid-sync).
"""

from __future__ import annotations

import base64
import json
import threading
from decimal import Decimal
from typing import Any

from tests.saas_oauth_server import SaaSOAuth


def ts(n: int) -> str:
    """A message id as Slack writes it: seconds and microseconds, as text."""
    return f"{1767225600 + n * 60}.{n:06d}"


class SlackApi:
    def __init__(self, oauth: SaaSOAuth) -> None:
        self.oauth = oauth
        self.channels: list[dict[str, Any]] = []
        self.members: list[dict[str, Any]] = []
        self.messages: dict[str, list[dict[str, Any]]] = {}
        # Channels the app was invited to (conversations.history answers not_in_channel else).
        self.joined: set[str] = set()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._throttle = 0
        self._expire_after: int | None = None
        self._lock = threading.Lock()
        oauth.apis.append(self)

    # --- Controls -----------------------------------------------------------------------------
    def add_channel(self, channel_id: str, name: str, *, joined: bool = True) -> None:
        self.channels.append(
            {
                "id": channel_id,
                "name": name,
                "is_channel": True,
                "is_private": False,
                "is_archived": False,
                "is_general": name == "general",
                "is_shared": False,
                "is_member": joined,
                "created": 1767225600,
                "creator": "U1",
                "num_members": 3,
                "topic": {"value": "", "creator": "", "last_set": 0},
                "purpose": {"value": name, "creator": "U1", "last_set": 0},
                "updated": 1767225600000,
            }
        )
        self.messages.setdefault(channel_id, [])
        if joined:
            self.joined.add(channel_id)

    def add_member(self, n: int) -> None:
        self.members.append(
            {
                "id": f"U{n}",
                "team_id": "T0001",
                "name": f"user{n}",
                "real_name": f"User {n}",
                "deleted": False,
                "is_bot": False,
                "is_admin": n == 1,
                "is_owner": n == 1,
                "is_restricted": False,
                "tz": "Europe/Paris",
                "profile": {"email": f"user{n}@example.com", "display_name": f"user{n}"},
                "updated": 1767225600 + n,
            }
        )

    def post(self, channel_id: str, n: int, text: str = "") -> None:
        with self._lock:
            self.messages[channel_id].append(
                {
                    "type": "message",
                    "user": f"U{1 + n % 3}",
                    "text": text or f"message {n}",
                    "ts": ts(n),
                    "reply_count": n % 4,
                    "reactions": [{"name": "+1", "count": 1}] if n % 7 == 0 else None,
                }
            )

    def throttle(self, times: int) -> None:
        with self._lock:
            self._throttle += times

    def expire_after(self, requests: int) -> None:
        with self._lock:
            self._expire_after = requests

    # --- Serving ------------------------------------------------------------------------------
    def answer(
        self, method: str, path: str, query: dict[str, str], raw: str, headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]] | None:
        if not path.startswith("/slack/api/") or path.endswith("oauth.v2.access"):
            return None
        name = path.removeprefix("/slack/api/")
        with self._lock:
            self.requests.append((name, dict(query)))
            if self._throttle > 0:
                self._throttle -= 1
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}
            expire = self._expire_after is not None and self._expire_after <= 0
            if self._expire_after is not None:
                self._expire_after -= 1
        if expire:
            self._expire_after = None
            self.oauth.expire_access_tokens("slack")
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if self.oauth.token_is_expired(token):
            return 200, {"ok": False, "error": "token_expired"}, {}
        if not self.oauth.token_is_valid(token):
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        try:
            limit = min(int(query.get("limit", "100")), 1000)
        except ValueError:
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        if name == "conversations.list":
            rows = [
                c
                for c in self.channels
                if query.get("exclude_archived") != "true" or not c["is_archived"]
            ]
            return self._page("channels", rows, query, limit)
        if name == "users.list":
            return self._page("members", self.members, query, limit)
        if name == "conversations.history":
            channel = query.get("channel", "")
            if channel not in self.messages:
                return 200, {"ok": False, "error": "channel_not_found"}, {}
            if channel not in self.joined:
                return 200, {"ok": False, "error": "not_in_channel"}, {}
            with self._lock:
                rows = sorted(self.messages[channel], key=lambda m: Decimal(m["ts"]), reverse=True)
            oldest = query.get("oldest")
            if oldest:
                bound = Decimal(oldest)
                inclusive = query.get("inclusive") in ("true", "1")
                rows = [
                    m
                    for m in rows
                    if Decimal(m["ts"]) > bound or (inclusive and Decimal(m["ts"]) == bound)
                ]
            return self._page("messages", rows, query, limit)
        return 200, {"ok": False, "error": "unknown_method"}, {}

    @staticmethod
    def _page(
        key: str, rows: list[dict[str, Any]], query: dict[str, str], limit: int
    ) -> tuple[int, Any, dict[str, str]]:
        start = 0
        if query.get("cursor"):
            try:
                start = int(json.loads(base64.b64decode(query["cursor"]))["offset"])
            except (ValueError, KeyError):
                return 200, {"ok": False, "error": "invalid_cursor"}, {}
        page = rows[start : start + limit]
        following = start + limit
        cursor = (
            base64.b64encode(json.dumps({"offset": following}).encode()).decode()
            if following < len(rows)
            else ""
        )
        body: dict[str, Any] = {"ok": True, key: page, "response_metadata": {"next_cursor": cursor}}
        if key == "messages":
            body["has_more"] = bool(cursor)
        return 200, body, {}
