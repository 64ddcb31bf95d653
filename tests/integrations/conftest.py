"""The GitHub App configured against a local GitHub (tests/github_server.py)."""

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.github_server import APP_ID, APP_SLUG, FakeGitHub, Repo, running


@pytest.fixture
def github(settings, tmp_path) -> Iterator[FakeGitHub]:
    with running() as server:
        settings.GITHUB_APP_ID = APP_ID
        settings.GITHUB_APP_SLUG = APP_SLUG
        settings.GITHUB_APP_PRIVATE_KEY_PATH = str(server.write_key(tmp_path))
        settings.GITHUB_API_URL = server.url
        settings.GITHUB_WEB_URL = server.url
        settings.GITHUB_APP_FRONTEND_URL = f"{server.url}/frontend?tab=integrations"
        server.install(41, "acme", Repo("acme", "widgets", 1), account_id=7001)
        yield server


def state_of(client) -> str:
    response = client.get("/integrations/github/install")
    assert response.status_code == 200, response.content
    return parse_qs(urlsplit(response.json()["url"]).query)["state"][0]


def callback(client, *, json: bool = True, **params):
    headers = {"HTTP_ACCEPT": "application/json"} if json else {"HTTP_ACCEPT": "text/html"}
    return client.get("/integrations/github/callback", params, **headers)
