"""A local GitHub for the tests of the GitHub App integration and the `github` source: the
App endpoints as GitHub documents them (the App's RS256 JWT verified with the test key's
public half), the install page's redirect to the App's setup URL, and the REST endpoints the
source reads, with `Link` paging and rate-limit headers.

Routes:
  GET  /apps/{slug}/installations/new?state=     302 to `setup_url` with installation_id,
                                                  setup_action=install and the state (and a
                                                  `code` with `user_authorization` on)
  POST /login/oauth/access_token                  the code for a user token (client id and
                                                  secret in the form); a used or unknown code
                                                  is 200 {"error": "bad_verification_code"}
  GET  /user/installations                        the installations the user can reach
  GET  /app/installations/{id}                    the installation (App JWT)
  POST /app/installations/{id}/access_tokens      201 {"token", "expires_at"} (App JWT); 404
                                                  once uninstalled, 403 while suspended
  GET  /installation/repositories                 {"total_count", "repositories"} (token)
  GET  /repos/{owner}/{repo}/issues               since, sort=updated, direction (token)
  GET  /repos/{owner}/{repo}/pulls                sort=updated, direction (token)
  GET  /repos/{owner}/{repo}/commits              since, newest first (token)
  GET  /repos/{owner}/{repo}/actions/runs         {"total_count", "workflow_runs"} (token)
Every REST list pages with per_page/page and a Link header; every REST answer carries
X-RateLimit-Limit, -Remaining and -Reset. A token of an uninstalled installation answers 401,
one of a suspended installation 403.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

APP_ID = "424242"
APP_SLUG = "landed-test"
# The App's OAuth client, for the installing user's authorization.
CLIENT_ID = "Iv1.landedtest"
CLIENT_SECRET = "app-client-secret"


def private_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


@functools.cache
def app_key_pem() -> bytes:
    """The App's key of every test run in this process (generating one takes a while)."""
    return private_key_pem()


def at(day: int, hour: int = 0) -> str:
    return f"2026-03-{day:02d}T{hour:02d}:00:00Z"


@dataclass
class Repo:
    owner: str
    name: str
    id: int
    issues: list[dict[str, Any]] = field(default_factory=list)
    pulls: list[dict[str, Any]] = field(default_factory=list)
    commits: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    issues_disabled: bool = False  # GitHub answers 410 to its issues
    actions_forbidden: bool = False  # the App has no Actions permission: 403 to its runs

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "node_id": f"R_{self.id}",
            "name": self.name,
            "full_name": self.full_name,
            "owner": {"login": self.owner, "id": 1000 + len(self.owner), "type": "Organization"},
            "private": True,
            "visibility": "private",
            "fork": False,
            "archived": False,
            "default_branch": "main",
            "topics": ["data"],
            "stargazers_count": self.id % 7,
            "created_at": at(1),
            "updated_at": at(2),
            "pushed_at": at(3),
            "html_url": f"https://github.example/{self.full_name}",
        }

    def add_issue(self, number: int, updated: str, *, pull: bool = False) -> None:
        self.issues.append(
            {
                "id": self.id * 1000 + number,
                "number": number,
                "title": f"issue {number}",
                "state": "open",
                "user": {"login": "ada"},
                "labels": [{"name": "bug"}],
                "created_at": at(1),
                "updated_at": updated,
                "closed_at": None,
                **({"pull_request": {"url": "..."}} if pull else {}),
            }
        )

    def add_pull(self, number: int, updated: str) -> None:
        self.pulls.append(
            {
                "id": self.id * 1000 + 500 + number,
                "number": number,
                "title": f"pull {number}",
                "state": "open",
                "draft": False,
                "head": {"ref": f"feature-{number}"},
                "base": {"ref": "main", "repo": {"full_name": self.full_name}},
                "created_at": at(1),
                "updated_at": updated,
                "merged_at": None,
            }
        )

    def add_commit(self, sha: str, date: str) -> None:
        self.commits.append(
            {
                "sha": sha,
                "commit": {
                    "message": f"commit {sha}",
                    "author": {"name": "Ada", "date": date},
                    "committer": {"name": "Ada", "date": date},
                },
                "author": {"login": "ada"},
                "parents": [],
            }
        )

    def add_run(self, run_id: int, created: str, updated: str, status: str = "completed") -> None:
        self.runs.append(
            {
                "id": run_id,
                "name": "CI",
                "run_number": run_id,
                "event": "push",
                "status": status,
                "conclusion": "success" if status == "completed" else None,
                "created_at": created,
                "updated_at": updated,
                "repository": {"full_name": self.full_name},
            }
        )


@dataclass
class Installation:
    id: int
    login: str
    account_id: int
    repos: list[str]
    selection: str = "selected"
    suspended: bool = False


class FakeGitHub:
    def __init__(self, *, token_lifetime: float = 3600) -> None:
        self.key_pem = app_key_pem()
        self.public_key = serialization.load_pem_private_key(self.key_pem, None).public_key()
        self.token_lifetime = token_lifetime
        self.installations: dict[int, Installation] = {}
        self.repos: dict[str, Repo] = {}
        self.tokens: dict[str, int] = {}  # token -> installation id
        self.minted = 0
        self.jwt_claims: list[dict[str, Any]] = []  # of every App call that verified
        self.hits: list[tuple[str, str]] = []
        self.rest_headers: list[dict[str, str]] = []  # of every REST request
        self.setup_url = ""  # the App's setup URL (Landed's callback)
        # "Request user authorization (OAuth) during installation": the install page's redirect
        # carries a code of the installing user.
        self.user_authorization = False
        self.user_codes: dict[str, set[int]] = {}  # code -> installations the user reaches
        self.user_tokens: dict[str, set[int]] = {}
        self.rate_remaining = 5000
        self._limit_once: dict[str, str] | None = None
        self._failures: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        # A short poll: shutdown() waits for it, at every test's end.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- control ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeGitHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def write_key(self, directory: Path) -> Path:
        path = directory / "github-app.pem"
        path.write_bytes(self.key_pem)
        return path

    def install(self, installation_id: int, login: str, *repos: Repo, account_id: int = 0) -> None:
        for repo in repos:
            self.repos[repo.full_name] = repo
        self.installations[installation_id] = Installation(
            installation_id, login, account_id or 9000 + len(login), [r.full_name for r in repos]
        )

    def uninstall(self, installation_id: int) -> None:
        """GitHub forgets it: its tokens stop working (401), minting answers 404."""
        with self._lock:
            self.installations.pop(installation_id, None)
            self.tokens = {t: i for t, i in self.tokens.items() if i != installation_id}

    def exhaust_rate_limit(self, seconds: float) -> None:
        """The next REST request is refused as over the primary limit, until `seconds`."""
        reset = str(int(time.time() + seconds))
        self._limit_once = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}

    def fail(self, path_prefix: str, status: int) -> None:
        """Answer the next request whose path starts with `path_prefix` with `status`."""
        self._failures.append((path_prefix, status))

    def issue_code(self, *installation_ids: int) -> str:
        """An authorization code of a user who can reach these installations."""
        with self._lock:
            code = f"code{len(self.user_codes) + 1}"
            self.user_codes[code] = set(installation_ids)
        return code

    def rest_hits(self, path_prefix: str) -> list[str]:
        return [p for m, p in self.hits if urlsplit(p).path.startswith(path_prefix)]

    # --- serving ---------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        github = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                github._serve(self, "GET")

            def do_POST(self) -> None:
                github._serve(self, "POST")

        return Handler

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            self.hits.append((method, handler.path))
            failure = next((f for f in self._failures if parts.path.startswith(f[0])), None)
            if failure is not None:
                self._failures.remove(failure)
        if failure is not None:
            return self._reply(handler, failure[1], {"message": "Server Error"})
        path = parts.path
        if path.startswith(f"/apps/{APP_SLUG}/installations/new"):
            return self._install_page(handler, query)
        if path.startswith("/app/"):
            status, body = self._app(handler, method, path)
            return self._reply(handler, status, body)
        if path == "/login/oauth/access_token" and method == "POST":
            return self._reply(handler, 200, self._user_token(handler))
        if path == "/user/installations":
            return self._user_installations(handler)
        if path.startswith(("/installation/", "/repos/")):
            return self._rest(handler, path, query)
        if path == "/frontend":
            return self._reply(handler, 200, {"landed_on": handler.path})
        return self._reply(handler, 404, {"message": "Not Found"})

    def _reply(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        payload = json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # --- the install page --------------------------------------------------------------------
    def _install_page(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        """The user picks an account and repositories and installs: GitHub redirects to the
        App's setup URL. The test chose the installation beforehand (the last one added)."""
        installation_id = max(self.installations)
        params = {
            "installation_id": installation_id,
            "setup_action": "install",
            "state": query.get("state", ""),
        }
        if self.user_authorization:
            params["code"] = self.issue_code(installation_id)
        target = f"{self.setup_url}?{urlencode(params)}"
        handler.send_response(302)
        handler.send_header("Location", target)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    # --- the installing user's authorization ---------------------------------------------------
    def _user_token(self, handler: BaseHTTPRequestHandler) -> dict[str, Any]:
        length = int(handler.headers.get("Content-Length") or 0)
        form = {k: v[-1] for k, v in parse_qs(handler.rfile.read(length).decode()).items()}
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return {"error": "incorrect_client_credentials"}
        with self._lock:
            reachable = self.user_codes.pop(form.get("code", ""), None)  # single use
            if reachable is None:
                return {
                    "error": "bad_verification_code",
                    "error_description": "The code passed is incorrect or expired.",
                }
            token = f"ghu_test{len(self.user_tokens) + 1:04d}"
            self.user_tokens[token] = reachable
        return {"access_token": token, "token_type": "bearer", "scope": ""}

    def _user_installations(self, handler: BaseHTTPRequestHandler) -> None:
        header = handler.headers.get("Authorization") or ""
        reachable = self.user_tokens.get(header.split(" ", 1)[-1])
        if reachable is None:
            return self._reply(handler, 401, {"message": "Bad credentials"})
        installations = [
            {"id": i.id, "account": {"login": i.login}}
            for i in self.installations.values()
            if i.id in reachable
        ]
        body = {"total_count": len(installations), "installations": installations}
        self._reply(handler, 200, body)

    # --- the App's endpoints -------------------------------------------------------------------
    def _app(
        self, handler: BaseHTTPRequestHandler, method: str, path: str
    ) -> tuple[int, dict[str, Any]]:
        problem = self._verify_jwt(handler)
        if problem:
            return 401, {"message": problem}
        parts = path.strip("/").split("/")  # app, installations, {id}[, access_tokens]
        if len(parts) < 3 or parts[1] != "installations" or not parts[2].isdigit():
            return 404, {"message": "Not Found"}
        installation = self.installations.get(int(parts[2]))
        if installation is None:
            return 404, {"message": "Not Found"}
        if len(parts) == 3 and method == "GET":
            return 200, {
                "id": installation.id,
                "account": {
                    "login": installation.login,
                    "id": installation.account_id,
                    "type": "Organization",
                },
                "repository_selection": installation.selection,
                "permissions": {"metadata": "read", "issues": "read", "actions": "read"},
                "suspended_at": at(5) if installation.suspended else None,
                "app_slug": APP_SLUG,
            }
        if len(parts) == 4 and parts[3] == "access_tokens" and method == "POST":
            if installation.suspended:
                return 403, {"message": "This installation has been suspended"}
            with self._lock:
                self.minted += 1
                token = f"ghs_test{self.minted:04d}"
                self.tokens[token] = installation.id
            expires = datetime.now(UTC) + timedelta(seconds=self.token_lifetime)
            return 201, {"token": token, "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}
        return 404, {"message": "Not Found"}

    def _verify_jwt(self, handler: BaseHTTPRequestHandler) -> str | None:
        """GitHub's checks: RS256 with the App's key, `iss` the App's id, `iat` in the past,
        `exp` in the future and at most 10 minutes after `iat`."""
        header = handler.headers.get("Authorization") or ""
        if not header.startswith("Bearer "):
            return "A JSON web token could not be decoded"
        try:
            claims = jwt.decode(
                header[7:],
                self.public_key,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"]},
            )
        except jwt.PyJWTError as exc:
            return f"A JSON web token could not be decoded ({exc})"
        now = time.time()
        if str(claims["iss"]) != APP_ID:
            return "Integration not found"
        if claims["iat"] > now + 1 or claims["exp"] - claims["iat"] > 600:
            return "'Expiration time' claim ('exp') is too far in the future"
        with self._lock:
            self.jwt_claims.append(claims)
        return None

    # --- the REST API ------------------------------------------------------------------------
    def _rest(self, handler: BaseHTTPRequestHandler, path: str, query: dict[str, str]) -> None:
        with self._lock:
            self.rest_headers.append(dict(handler.headers))
        header = handler.headers.get("Authorization") or ""
        token = header.split(" ", 1)[1] if " " in header else ""
        installation_id = self.tokens.get(token)
        installation = self.installations.get(installation_id) if installation_id else None
        if installation is None:
            return self._reply(handler, 401, {"message": "Bad credentials"})
        reset = int(time.time()) + 3600
        if self._limit_once is not None:
            headers, self._limit_once = self._limit_once, None
            body = {"message": "API rate limit exceeded for installation ID 1."}
            return self._reply(handler, 403, body, {"X-RateLimit-Limit": "5000", **headers})
        if installation.suspended:
            return self._reply(handler, 403, {"message": "This installation has been suspended"})
        with self._lock:
            self.rate_remaining -= 1
        limits = {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": str(max(self.rate_remaining, 1)),
            "X-RateLimit-Reset": str(reset),
        }
        status, items, wrap = self._collection(installation, path, query)
        if status != 200:
            return self._reply(handler, status, items, limits)
        page, size = int(query.get("page", 1)), min(int(query.get("per_page", 30)), 100)
        chunk = items[(page - 1) * size : page * size]
        if page * size < len(items):
            following = {**query, "page": str(page + 1)}
            limits["Link"] = (
                f'<{self.url}{path}?{urlencode(following)}>; rel="next", '
                f'<{self.url}{path}?{urlencode({**query, "page": "1"})}>; rel="first"'
            )
        body = {"total_count": len(items), wrap: chunk} if wrap else chunk
        self._reply(handler, 200, body, limits)

    def _collection(
        self, installation: Installation, path: str, query: dict[str, str]
    ) -> tuple[int, Any, str | None]:
        if path == "/installation/repositories":
            repos = [self.repos[name].record() for name in installation.repos]
            return 200, repos, "repositories"
        parts = path.strip("/").split("/")  # repos, owner, name, ...
        full_name = "/".join(parts[1:3])
        repo = self.repos.get(full_name)
        if repo is None or full_name not in installation.repos:
            return 404, {"message": "Not Found"}, None
        tail = "/".join(parts[3:])
        since = query.get("since")
        descending = query.get("direction", "desc") == "desc"
        if tail == "issues":
            if repo.issues_disabled:
                return 410, {"message": "Issues are disabled for this repo"}, None
            issues = [i for i in repo.issues if since is None or i["updated_at"] >= since]
            return 200, sorted(issues, key=_by("updated_at"), reverse=descending), None
        if tail == "pulls":
            return 200, sorted(repo.pulls, key=_by("updated_at"), reverse=descending), None
        if tail == "commits":
            if not repo.commits:
                return 409, {"message": "Git Repository is empty."}, None
            commits = [
                c
                for c in repo.commits
                if since is None or c["commit"]["committer"]["date"] >= since
            ]
            return 200, sorted(commits, key=lambda c: c["commit"]["committer"]["date"])[::-1], None
        if tail == "actions/runs":
            if repo.actions_forbidden:
                return 403, {"message": "Resource not accessible by integration"}, None
            return 200, sorted(repo.runs, key=_by("id"), reverse=True), "workflow_runs"
        return 404, {"message": "Not Found"}, None


def _by(key: str) -> Any:
    return lambda record: (record[key], record.get("id") or record.get("number") or 0)


@contextmanager
def running(**kwargs: Any) -> Iterator[FakeGitHub]:
    server = FakeGitHub(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()
