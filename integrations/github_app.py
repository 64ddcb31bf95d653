"""The GitHub App's own calls to GitHub: authenticated as the App, with a JWT signed by its
private key (RS256), to look an installation up and to mint its access tokens.

GitHub's documented rules for the JWT: `iss` is the App's id, `iat` 60 seconds in the past
(clock drift), `exp` at most 10 minutes after it was issued. The JWT is never stored: one is
signed per call.

GitHub's answers become `GitHubAppError`s that say what went wrong without deciding how to
report it: the API answers 502/400/409 (services.py), a sync answers a ConnectorError
(credentials.py).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jwt
import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django.conf import settings

logger = logging.getLogger("integrations.github")

API_VERSION = "2022-11-28"
USER_AGENT = "Landed (+https://github.com/landed)"
# GitHub refuses a JWT that expires more than 10 minutes after `iat`; `iat` is set 60 s in
# the past, so this leaves a minute of margin for clocks ahead of GitHub's.
_JWT_LIFETIME_SECONDS = 8 * 60
_JWT_BACKDATE_SECONDS = 60


class GitHubAppError(Exception):
    """A call to GitHub as the App failed."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class GitHubAppNotConfigured(GitHubAppError):
    """The App's settings are missing or unusable (GITHUB_APP_*)."""


class GitHubUnavailable(GitHubAppError):
    """GitHub could not be reached, or failed (5xx): worth trying again later."""


class GitHubAppRefused(GitHubAppError):
    """GitHub refused the App's own credentials (401): its id or private key is wrong."""


class InstallationNotFound(GitHubAppError):
    """GitHub knows no such installation of this App (404): never installed, or uninstalled."""


class InstallationSuspended(GitHubAppError):
    """The installation is suspended, or refused the App (403)."""


class UserAuthorizationRefused(GitHubAppError):
    """GitHub refused the code of the user's authorization (used, expired, or forged)."""


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_at: datetime


def configuration_problem() -> str | None:
    """What keeps the App from working on this server, in words for the operator; None when
    it is configured."""
    missing = [
        name
        for name in ("GITHUB_APP_ID", "GITHUB_APP_SLUG", "GITHUB_APP_PRIVATE_KEY_PATH")
        if not getattr(settings, name)
    ]
    if missing:
        return f"Set {', '.join(missing)} (docs/github.md)."
    try:
        _private_key(settings.GITHUB_APP_PRIVATE_KEY_PATH)
    except GitHubAppNotConfigured as exc:
        return exc.message
    return None


def install_url(state: str) -> str:
    """The page of GitHub where a user installs the App (and picks its repositories); GitHub
    sends the browser back to the App's setup URL with `installation_id`, `setup_action` and
    this `state`."""
    base = settings.GITHUB_WEB_URL.rstrip("/")
    slug = quote(settings.GITHUB_APP_SLUG, safe="")
    return f"{base}/apps/{slug}/installations/new?{urlencode({'state': state})}"


@lru_cache(maxsize=4)
def _private_key(path: str) -> Any:
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise GitHubAppNotConfigured(
            f"GITHUB_APP_PRIVATE_KEY_PATH cannot be read ({exc.strerror or exc})."
        ) from exc
    try:
        return load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise GitHubAppNotConfigured(
            "GITHUB_APP_PRIVATE_KEY_PATH is not a PEM private key without a passphrase (the "
            "key GitHub generates for the App)."
        ) from exc


def app_jwt(*, now: float | None = None) -> str:
    """A JWT that authenticates as the App for a few minutes."""
    problem = configuration_problem()
    if problem:
        raise GitHubAppNotConfigured(problem)
    issued = int(now if now is not None else time.time()) - _JWT_BACKDATE_SECONDS
    claims = {
        "iat": issued,
        "exp": issued + _JWT_LIFETIME_SECONDS,
        "iss": str(settings.GITHUB_APP_ID),
    }
    return jwt.encode(claims, _private_key(settings.GITHUB_APP_PRIVATE_KEY_PATH), algorithm="RS256")


def installation_get(installation_id: int) -> dict[str, Any]:
    """The installation as GitHub describes it: `account` (login, id, type),
    `repository_selection`, `permissions`, `suspended_at`, ..."""
    return _call("GET", f"/app/installations/{installation_id}", expected=200)


def access_token_create(installation_id: int) -> AccessToken:
    """A new installation access token (GitHub's live an hour)."""
    body = _call("POST", f"/app/installations/{installation_id}/access_tokens", expected=201)
    token, expires = body.get("token"), body.get("expires_at")
    try:
        if not isinstance(token, str) or not token or not isinstance(expires, str):
            raise ValueError("no token or expiry")
        return AccessToken(token, datetime.fromisoformat(expires))
    except ValueError as exc:
        raise GitHubUnavailable("GitHub answered without a usable access token.") from exc


def verifies_installer() -> bool:
    """Whether the callback asks GitHub which installations the installing user can reach:
    on when the App's client id and secret are set (docs/github.md)."""
    return bool(settings.GITHUB_APP_CLIENT_ID and settings.GITHUB_APP_CLIENT_SECRET)


# Installations a user can reach, read at most this many pages of 100 (GitHub's largest).
_MAX_INSTALLATION_PAGES = 10


def user_installation_ids(code: str) -> set[int]:
    """The ids of the App's installations that the user who installed it can reach: the
    `code` of the user's authorization (GitHub's "Request user authorization (OAuth) during
    installation") exchanged for a user access token, then `GET /user/installations`. GitHub's
    advice: the `installation_id` of the callback can be forged; what the user can reach
    cannot."""
    session = OAuth2Session(
        settings.GITHUB_APP_CLIENT_ID,
        settings.GITHUB_APP_CLIENT_SECRET,
        token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method's name
        default_timeout=settings.GITHUB_APP_TIMEOUT_SECONDS,
    )
    session.trust_env = False
    headers = {
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": API_VERSION,
        "User-Agent": USER_AGENT,
    }
    try:
        session.fetch_token(
            f"{settings.GITHUB_WEB_URL.rstrip('/')}/login/oauth/access_token",
            code=code,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        )
        ids: set[int] = set()
        url: str | None = f"{settings.GITHUB_API_URL.rstrip('/')}/user/installations?per_page=100"
        for _ in range(_MAX_INSTALLATION_PAGES):
            if url is None:
                break
            response = session.get(url, headers=headers, allow_redirects=False)
            if response.status_code != 200:
                message = _message(response)
                if response.status_code >= 500 or response.status_code == 429:
                    raise GitHubUnavailable(f"GitHub answered {response.status_code}: {message}")
                raise UserAuthorizationRefused(
                    f"GitHub refused the user's token ({response.status_code}): {message}",
                    status=response.status_code,
                )
            body = response.json()
            installations = body.get("installations") if isinstance(body, dict) else None
            ids |= {i["id"] for i in installations or [] if isinstance(i.get("id"), int)}
            url = (response.links.get("next") or {}).get("url")
        return ids
    except OAuthError as exc:
        raise UserAuthorizationRefused(
            f"GitHub refused the authorization code ({exc.error})."
        ) from exc
    except requests.RequestException as exc:
        logger.warning("integrations.github_unreachable user authorization: %s", exc)
        raise GitHubUnavailable(
            f"GitHub could not be reached ({type(exc).__name__}); try again later."
        ) from exc
    except ValueError as exc:  # a body that is not JSON
        raise GitHubUnavailable("GitHub answered with a body that is not JSON.") from exc
    finally:
        session.close()


def _call(method: str, path: str, *, expected: int) -> dict[str, Any]:
    url = f"{settings.GITHUB_API_URL.rstrip('/')}{path}"
    headers = {
        "Authorization": f"Bearer {app_jwt()}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": API_VERSION,
        "User-Agent": USER_AGENT,
    }
    try:
        response = requests.request(
            method,
            url,
            headers=headers,
            timeout=settings.GITHUB_APP_TIMEOUT_SECONDS,
            # A redirect would carry the App's JWT to wherever it points.
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        logger.warning("integrations.github_unreachable %s %s: %s", method, path, exc)
        raise GitHubUnavailable(
            f"GitHub could not be reached ({type(exc).__name__}); try again later."
        ) from exc
    status = response.status_code
    if status == expected:
        try:
            body = response.json()
        except ValueError as exc:
            raise GitHubUnavailable(
                f"GitHub answered {status} with a body that is not JSON."
            ) from exc
        if not isinstance(body, dict):
            raise GitHubUnavailable(f"GitHub answered {status} with a body that is not an object.")
        return body
    message = _message(response)
    logger.warning(
        "integrations.github_refused %s %s status=%s request_id=%s message=%s",
        method,
        path,
        status,
        response.headers.get("X-GitHub-Request-Id", "-"),
        message,
    )
    rate_limited = status in (403, 429) and (
        response.headers.get("X-RateLimit-Remaining") == "0" or "Retry-After" in response.headers
    )
    if status >= 500 or status == 429 or rate_limited:
        # A rate limit is not a refusal of the installation: GitHub answers 403 for both.
        raise GitHubUnavailable(f"GitHub answered {status}: {message}", status=status)
    if status == 401:
        raise GitHubAppRefused(
            "GitHub refused this server's App credentials (GITHUB_APP_ID and the private key "
            f"must be the App's): {message}",
            status=status,
        )
    if status == 404:
        raise InstallationNotFound(f"GitHub knows no such installation: {message}", status=status)
    if status == 403:
        raise InstallationSuspended(f"GitHub refused the installation: {message}", status=status)
    raise GitHubUnavailable(f"GitHub answered {status}: {message}", status=status)


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
        message = body.get("message") if isinstance(body, dict) else None
    except ValueError:
        message = None
    return " ".join(str(message or response.reason or "no reason given").split())[:200]
