"""A GitHub installation's access tokens as the `github` source gets them: minted with the
App's JWT on demand, cached encrypted until shortly before they expire, and GitHub's refusals
turned into the source's errors (reauthorize, not retried; unreachable, retried). And the
connectors' side: a `github` connector names an installation of its own account."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from connectors import services as connector_services
from connectors.framework.base import ConfigError, ReauthorizeRequiredError, UnreachableError
from connectors.framework.registry import source_types
from integrations.credentials import (
    GITHUB_APP_INSTALLATION,
    GitHubInstallationBinding,
    InstallationTokens,
    installation_access_token,
)
from integrations.models import GitHubInstallation
from tests.accounts.factories import UserFactory
from tests.clients import client_for
from tests.connectors.factories import make_destination
from tests.integrations.conftest import callback, state_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def installation(client, github) -> GitHubInstallation:
    callback(client, installation_id=41, setup_action="install", state=state_of(client))
    return GitHubInstallation.objects.get(installation_id=41)


def token_of(installation, **kwargs) -> str:
    return installation_access_token(
        account_id=installation.account_id, installation_id=41, **kwargs
    ).token


def test_a_token_is_minted_once_and_cached_encrypted(installation, github):
    first = token_of(installation)
    assert first.startswith("ghs_") and github.minted == 1
    installation.refresh_from_db()
    assert installation.encrypted_token and first not in installation.encrypted_token
    assert installation.token_expires_at > timezone.now() + timedelta(minutes=50)
    assert token_of(installation) == first and github.minted == 1  # from the cache
    assert token_of(installation, refresh=True) != first and github.minted == 2


def test_a_token_about_to_expire_is_not_handed_out(installation, github):
    token_of(installation)
    GitHubInstallation.objects.filter(pk=installation.pk).update(
        token_expires_at=timezone.now() + timedelta(minutes=4)
    )
    token_of(installation)
    assert github.minted == 2


def test_the_provider_keeps_its_token_in_memory_until_it_expires(installation, github):
    tokens = InstallationTokens(account_id=installation.account_id, installation_id=41)
    first = tokens.access_token()
    assert tokens.access_token() == first
    assert github.minted == 1
    assert tokens.access_token(refresh=True) != first


def test_a_provider_told_the_grant_is_gone_does_not_ask_again(installation, github):
    tokens = InstallationTokens(account_id=installation.account_id, installation_id=41)
    github.uninstall(41)
    for _ in range(3):  # a sync's every stream
        with pytest.raises(ReauthorizeRequiredError, match="uninstalled"):
            tokens.access_token()
    assert len(github.rest_hits("/app/installations/41/access_tokens")) == 1


def test_an_uninstalled_app_is_a_reauthorize_error_and_marked_revoked(installation, github):
    token_of(installation)
    github.uninstall(41)
    with pytest.raises(ReauthorizeRequiredError, match="uninstalled") as raised:
        token_of(installation, refresh=True)
    assert raised.value.retryable is False
    installation.refresh_from_db()
    assert installation.status == "revoked" and not installation.encrypted_token


def test_a_suspended_installation_is_a_reauthorize_error_and_marked_suspended(installation, github):
    github.installations[41].suspended = True
    with pytest.raises(ReauthorizeRequiredError, match="suspended"):
        token_of(installation)
    installation.refresh_from_db()
    assert installation.status == "suspended"
    # Resumed on GitHub: the next token clears it.
    github.installations[41].suspended = False
    token_of(installation)
    installation.refresh_from_db()
    assert installation.status == "active"


def test_a_disconnected_installation_is_a_reauthorize_error(installation, github):
    installation.delete()
    with pytest.raises(ReauthorizeRequiredError, match="not connected"):
        token_of(installation)
    assert github.minted == 0


def test_github_down_is_retryable(installation, github, settings, unused_port):
    settings.GITHUB_API_URL = f"http://127.0.0.1:{unused_port}"
    with pytest.raises(UnreachableError) as raised:
        token_of(installation)
    assert raised.value.retryable is True
    github.fail("/app/installations/41/access_tokens", 502)
    settings.GITHUB_API_URL = github.url
    with pytest.raises(UnreachableError, match="502"):
        token_of(installation)


def test_a_rate_limited_app_is_not_a_suspended_installation(installation, github):
    github.fail("/app/installations/41/access_tokens", 429)
    with pytest.raises(UnreachableError):
        token_of(installation)
    installation.refresh_from_db()
    assert installation.status == "active"


def test_the_binding_adds_the_api_url_and_refuses_when_unconfigured(installation, github, settings):
    binding = GitHubInstallationBinding()
    account_id = installation.account_id
    config, tokens = binding.bind(account_id=account_id, config={"installation_id": 41})
    assert config == {"installation_id": 41, "api_url": github.url}
    assert tokens.access_token().startswith("ghs_")
    settings.GITHUB_APP_ID = ""
    with pytest.raises(ConfigError, match="not configured"):
        binding.bind(account_id=account_id, config={"installation_id": 41})


def test_github_connectors_name_an_installation_of_their_account(client, user, installation):
    assert source_types()["github"].spec.credentials == GITHUB_APP_INSTALLATION
    catalog = client.get("/connectors/catalog").json()["items"]
    (entry,) = [c for c in catalog if c["type"] == "github"]
    assert [f["name"] for f in entry["fields"]] == [
        "installation_id",
        "start_date",
        "rate_limit_max_wait_seconds",
    ]
    # Its streams are declared: served without credentials.
    schema = client.get("/connectors/catalog/github/schema").json()
    assert [s["name"] for s in schema["streams"]] == [
        "repositories",
        "issues",
        "pull_requests",
        "commits",
        "workflow_runs",
    ]
    destination = make_destination(user.account)
    body = {"name": "gh", "type": "github", "destination_id": str(destination.id)}
    for config, loc in [
        ({}, ["body", "config", "installation_id"]),
        ({"installation_id": 99}, ["body", "config", "installation_id"]),
        ({"installation_id": 10**20}, ["body", "config", "installation_id"]),
        ({"installation_id": 41, "start_date": "soon"}, ["body", "config", "start_date"]),
        ({"installation_id": 41, "api_url": "http://x"}, ["body", "config", "api_url"]),
    ]:
        response = client.post("/connectors", {**body, "config": config}, format="json")
        assert response.status_code == 422, (config, response.content)
        assert response.json()["detail"][0]["loc"] == loc
    response = client.post(
        "/connectors", {**body, "config": {"installation_id": 41}}, format="json"
    )
    assert response.status_code == 201, response.content
    # Another account cannot name it.
    stranger = UserFactory()
    other = make_destination(stranger.account)
    response = client_for(stranger).post(
        "/connectors",
        {**body, "destination_id": str(other.id), "config": {"installation_id": 41}},
        format="json",
    )
    assert response.status_code == 422


def test_a_connector_whose_installation_is_gone_fails_to_test_with_reauthorize(
    client, user, installation, github
):
    connector = connector_services.connector_create(
        account=user.account,
        name="gh",
        type="github",
        config={"installation_id": 41},
        destination=make_destination(user.account),
        sync_frequency_minutes=None,
    )
    github.uninstall(41)
    source = connector_services.source_impl(connector)
    result = source.check()
    assert (result.ok, result.error_type) == (False, "reauthorize_required")
    assert "uninstalled" in result.message
