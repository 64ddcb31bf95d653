"""Where the browser goes after a sign-in: the frontend (OAUTH_FRONTEND_URL), or a `next` URL
that OAUTH_ALLOWED_REDIRECT_URLS allows. Nothing else, so that the sign-in endpoints are no
open redirect."""

from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from django.conf import settings


def allowed_redirects() -> list[str]:
    """The frontend URL, and the allow-list (by default: any page of the frontend's origin)."""
    frontend = settings.OAUTH_FRONTEND_URL
    listed = settings.OAUTH_ALLOWED_REDIRECT_URLS
    if not listed:
        parts = urlsplit(frontend)
        listed = [urlunsplit((parts.scheme, parts.netloc, "/", "", ""))]
    return [frontend, *listed]


def redirect_target(next_url: str) -> str | None:
    """`next_url` as an absolute URL if it may be redirected to, else None. A path (`/x`) is
    taken on the frontend's origin."""
    if any(ch in next_url for ch in "\\\r\n\t\x00") or next_url != next_url.strip():
        return None
    if next_url.startswith("/") and not next_url.startswith("//"):
        next_url = urljoin(settings.OAUTH_FRONTEND_URL, next_url)
    candidate = _parts(next_url)
    if candidate is None:
        return None
    for allowed in allowed_redirects():
        entry = _parts(allowed)
        if entry is None or entry[:3] != candidate[:3]:
            continue
        prefix = entry[3]
        path = candidate[3]
        if path == prefix or path.startswith(prefix if prefix.endswith("/") else prefix + "/"):
            return next_url
    return None


def _parts(url: str) -> tuple[str, str, int, str] | None:
    """(scheme, host, port, path) of an http(s) URL without credentials; None otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    default_port = 443 if parts.scheme == "https" else 80
    return parts.scheme, parts.hostname.lower(), port or default_port, parts.path or "/"


def with_params(url: str, **params: str) -> str:
    """`url` with `params` added to its query (replacing any of the same name)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))
