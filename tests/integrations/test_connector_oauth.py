"""Connector OAuth (the popup pattern) against a local Slack, Microsoft, Salesforce, HubSpot and
Shopify that speak their documented OAuth protocols (tests/saas_oauth_server.py), through
Authlib as in production: the authorize URL, the callback, the single-use result code, and the
grant's refresh (with rotation, under a lock) and revocation."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from django.db import connection
from django.utils import timezone

from connectors.framework.base import ReauthorizeRequiredError, UnreachableError
from integrations.models import OAuthFlow, OAuthGrant, OAuthGrantStatus
from integrations.oauth.tokens import GrantTokens, grant_access_token
from landed.security.secrets import decrypt_secrets
from tests.saas_oauth_server import CLIENT_SECRET, SaaSOAuth, running, shopify_hmac

pytestmark = pytest.mark.django_db

FRONTEND = "http://127.0.0.1:3999/connectors/new"
PARAMS = {
    "slack": {},
    "microsoft": {},
    "salesforce": {},
    "hubspot": {},
    "shopify": {"shop": "acme-store.myshopify.com"},
}


@pytest.fixture
def saas(settings) -> Iterator[SaaSOAuth]:
    with running() as server:
        server.configure(settings)
        settings.OAUTH_FRONTEND_URL = FRONTEND
        settings.OAUTH_ALLOWED_REDIRECT_URLS = []
        yield server


def authorize(client, provider: str, **params: str) -> dict:
    response = client.get(f"/connectors/oauth/{provider}/authorize", {**PARAMS[provider], **params})
    assert response.status_code == 200, response.content
    return response.json()


def consent(authorization: dict) -> dict[str, str]:
    """The person consents at the provider: the query the provider sends the popup back with."""
    answer = requests.get(authorization["authorize_url"], allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(authorization["redirect_uri"])
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def callback(provider: str, query: dict[str, str], *, json_: bool = True):
    from rest_framework.test import APIClient

    headers = {"HTTP_ACCEPT": "application/json" if json_ else "text/html"}
    return APIClient().get(f"/connectors/oauth/{provider}/callback", query, **headers)


def authorized_grant(client, provider: str, **params: str) -> tuple[str, dict]:
    """A whole authorization: the result code's credential, and the result."""
    back = callback(provider, consent(authorize(client, provider, **params)))
    assert back.status_code == 200, back.content
    code = back.json()["code"]
    result = client.get("/connectors/oauth/result", {"code": code})
    assert result.status_code == 200, result.content
    return result.json()["credential_id"], result.json()


# --- off until configured, and the endpoints' own errors -----------------------------------------
def test_a_provider_without_its_client_credentials_is_a_503(client, settings):
    settings.SLACK_CLIENT_ID = ""
    response = client.get("/connectors/oauth/slack/authorize")
    assert response.status_code == 503
    assert "SLACK_CLIENT_ID" in response.json()["detail"]


def test_unknown_provider_is_a_404_and_authorize_needs_a_signed_in_account(client, saas):
    assert client.get("/connectors/oauth/dropbox/authorize").status_code == 404
    from rest_framework.test import APIClient

    assert APIClient().get("/connectors/oauth/slack/authorize").status_code == 401


@pytest.mark.parametrize(
    ("provider", "params", "field"),
    [
        ("shopify", {"shop": "evil.example.com"}, "shop"),
        ("shopify", {"shop": "127.0.0.1"}, "shop"),
        ("shopify", {}, "shop"),
        ("salesforce", {"environment": "staging"}, "environment"),
        ("slack", {"streams": "channels,payroll"}, "streams"),
        ("slack", {"redirect_to": "https://evil.example.com/steal"}, "redirect_to"),
        ("slack", {"connector_id": "7d0c7a4e-0000-4000-8000-000000000000"}, "connector_id"),
    ],
)
def test_bad_authorize_parameters_are_a_422_naming_the_field(client, saas, provider, params, field):
    response = client.get(f"/connectors/oauth/{provider}/authorize", params)
    assert response.status_code == 422, response.content
    assert response.json()["detail"][0]["loc"] == ["query", field]


# --- the authorize URL --------------------------------------------------------------------------
@pytest.mark.parametrize("provider", list(PARAMS))
def test_authorize_url_carries_scopes_state_and_pkce_where_the_provider_takes_it(
    client, saas, provider
):
    authorization = authorize(client, provider)
    query = parse_qs(urlsplit(authorization["authorize_url"]).query)
    assert query["client_id"] == ["landed-saas-client"]
    assert query["state"] == [authorization["state"]]
    assert query["redirect_uri"] == [f"http://testserver/connectors/oauth/{provider}/callback"]
    assert authorization["scopes"]
    separator = "," if provider in ("slack", "shopify") else " "
    assert query["scope"][0].split(separator) == authorization["scopes"]
    assert ("code_challenge" in query) is (provider in ("microsoft", "salesforce"))
    flow = OAuthFlow.objects.get()
    assert flow.opener_origin == "http://127.0.0.1:3999"


def test_scopes_follow_the_streams_asked(client, saas):
    scopes = authorize(client, "slack", streams="users")["scopes"]
    assert "users:read" in scopes and "channels:history" not in scopes


def test_salesforce_sandbox_authorizes_at_the_sandbox_login_host(client, saas):
    url = authorize(client, "salesforce", environment="sandbox")["authorize_url"]
    assert urlsplit(url).path == "/salesforce/sandbox/services/oauth2/authorize"
    _, result = authorized_grant(client, "salesforce", environment="sandbox")
    assert result["external_account"]["environment"] == "sandbox"
    assert result["external_account"]["instance_url"].endswith("/salesforce/instance")


# --- the callback and the result code -----------------------------------------------------------
@pytest.mark.parametrize("provider", list(PARAMS))
def test_a_whole_authorization_stores_the_tokens_encrypted_and_hands_out_a_reference(
    client, user, saas, provider
):
    credential, result = authorized_grant(client, provider)
    grant = OAuthGrant.objects.get(pk=credential)
    assert grant.account_id == user.account_id
    assert grant.provider == provider
    assert result["status"] == "active"
    tokens = decrypt_secrets(grant.encrypted_tokens)
    assert saas.token_is_valid(tokens["access_token"])
    # The tokens are neither in the result nor stored in the clear.
    assert tokens["access_token"] not in json.dumps(result)
    assert tokens["access_token"] not in grant.encrypted_tokens
    assert (provider == "shopify") is ("refresh_token" not in tokens)
    expected_account = {
        "slack": "T0001",
        "salesforce": "00D000000000001",
        "hubspot": "4242",
        "shopify": "acme-store.myshopify.com",
    }.get(provider)
    assert result["external_account"].get("id") == expected_account


def test_the_result_code_works_once(client, saas):
    back = callback("slack", consent(authorize(client, "slack")))
    code = back.json()["code"]
    assert client.get("/connectors/oauth/result", {"code": code}).status_code == 200
    again = client.get("/connectors/oauth/result", {"code": code})
    assert again.status_code == 404
    assert client.get("/connectors/oauth/result").status_code == 422


def test_an_expired_result_code_is_refused(client, saas):
    back = callback("hubspot", consent(authorize(client, "hubspot")))
    OAuthGrant.objects.update(result_expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get("/connectors/oauth/result", {"code": back.json()["code"]}).status_code == 404


def test_the_callback_page_posts_the_code_to_the_frontend_origin_only(client, saas):
    back = callback("slack", consent(authorize(client, "slack")), json_=False)
    assert back.status_code == 200
    page = back.content.decode()
    csp = back["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert f'<script nonce="{nonce}">' in page
    assert "default-src 'none'" in csp
    data = json.loads(
        re.search(r'<script id="landed-oauth" type="application/json">(.*?)</script>', page).group(
            1
        )
    )
    assert data["origin"] == "http://127.0.0.1:3999"
    assert data["message"]["type"] == "landed:oauth"
    assert data["message"]["code"]
    assert "postMessage(outcome.message, outcome.origin)" in page
    assert back["Cache-Control"] == "no-store"


def test_a_replayed_or_forged_state_is_refused(client, saas):
    query = consent(authorize(client, "microsoft"))
    assert callback("microsoft", query).status_code == 200
    replay = callback("microsoft", query)
    assert replay.status_code == 400
    assert replay.json()["detail"]["code"] == "state_used"
    forged = callback("microsoft", {**query, "state": query["state"] + "x"})
    assert forged.json()["detail"]["code"] == "invalid_state"
    other = callback("slack", query)
    assert other.json()["detail"]["code"] == "invalid_state"


def test_the_person_declining_is_access_denied(client, saas):
    saas.deny_next()
    back = callback("hubspot", consent(authorize(client, "hubspot")))
    assert back.status_code == 400
    assert back.json()["detail"]["code"] == "access_denied"
    assert not OAuthGrant.objects.exists()


def test_a_code_the_provider_refuses_is_code_rejected(client, saas):
    query = consent(authorize(client, "slack"))
    saas.codes[query["code"]]["used"] = True
    back = callback("slack", query)
    assert back.json()["detail"]["code"] == "code_rejected"


def test_the_provider_down_at_the_exchange_is_a_502(client, saas):
    query = consent(authorize(client, "salesforce"))
    saas.fail("/salesforce/login/services/oauth2/token", 503)
    back = callback("salesforce", query)
    assert back.status_code == 502
    assert back.json()["detail"]["code"] == "provider_unavailable"


def test_shopify_callbacks_are_verified_by_their_hmac(client, saas):
    query = consent(authorize(client, "shopify"))
    tampered = {**query, "shop": "other-store.myshopify.com"}
    tampered["hmac"] = shopify_hmac(tampered, "not-the-secret")
    back = callback("shopify", tampered)
    assert back.json()["detail"]["code"] == "invalid_signature"
    assert not OAuthGrant.objects.exists()
    # Signed by Shopify but for another shop than the one authorized.
    query2 = consent(authorize(client, "shopify"))
    other = {k: v for k, v in query2.items() if k != "hmac"}
    other["shop"] = "other-store.myshopify.com"
    other["hmac"] = shopify_hmac(other, CLIENT_SECRET)
    assert callback("shopify", other).json()["detail"]["code"] == "shop_mismatch"


# --- refresh --------------------------------------------------------------------------------------
def _expire(credential: str) -> None:
    OAuthGrant.objects.filter(pk=credential).update(
        access_expires_at=timezone.now() + timedelta(seconds=30)
    )


@pytest.mark.parametrize("provider", ["slack", "microsoft", "hubspot", "salesforce"])
def test_a_token_about_to_expire_is_refreshed_and_a_rotated_refresh_token_stored(
    client, user, saas, provider
):
    credential, _ = authorized_grant(client, provider)
    before = decrypt_secrets(OAuthGrant.objects.get(pk=credential).encrypted_tokens)
    _expire(credential)
    token = grant_access_token(grant_id=credential, account_id=user.account_id)
    assert token != before["access_token"] and saas.token_is_valid(token)
    after = decrypt_secrets(OAuthGrant.objects.get(pk=credential).encrypted_tokens)
    assert after["access_token"] == token
    rotates = provider in ("slack", "microsoft")
    assert (after["refresh_token"] != before["refresh_token"]) is rotates
    # The stored refresh token is the one that works next time.
    _expire(credential)
    assert grant_access_token(grant_id=credential, account_id=user.account_id) != token
    assert saas.refreshes(provider) == 2


def test_a_valid_token_is_served_without_a_refresh_and_a_rejected_one_is_replaced(
    client, user, saas
):
    credential, _ = authorized_grant(client, "microsoft")
    tokens = GrantTokens(account_id=user.account_id, grant_id=credential)
    first = tokens.access_token()
    assert tokens.access_token() == first
    assert saas.refreshes("microsoft") == 0
    second = tokens.access_token(refresh=True)
    assert second != first
    assert saas.refreshes("microsoft") == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_refreshing_one_grant_spend_its_rotating_refresh_token_once(client, user, saas):
    credential, _ = authorized_grant(client, "slack")
    _expire(credential)
    saas.refresh_delay = 0.3
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(grant_access_token(grant_id=credential, account_id=user.account_id))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not errors, errors
    assert len(set(results)) == 1
    assert saas.refreshes("slack") == 1
    assert OAuthGrant.objects.get(pk=credential).status == OAuthGrantStatus.ACTIVE


def test_the_provider_unreachable_at_refresh_is_retryable_and_keeps_the_grant(client, user, saas):
    credential, _ = authorized_grant(client, "hubspot")
    _expire(credential)
    saas.fail("/hubspot/api/oauth/v1/token", 503)
    with pytest.raises(UnreachableError):
        grant_access_token(grant_id=credential, account_id=user.account_id)
    assert OAuthGrant.objects.get(pk=credential).status == OAuthGrantStatus.ACTIVE
    assert grant_access_token(grant_id=credential, account_id=user.account_id)


@pytest.mark.parametrize("provider", ["slack", "microsoft", "hubspot", "salesforce"])
def test_a_revoked_grant_requires_reauthorization_and_says_so_once(client, user, saas, provider):
    from connectors.models import Connector
    from tests.connectors.factories import make_destination
    from webhooks.models import Event

    credential, _ = authorized_grant(client, provider)
    connector = Connector.objects.create(
        account=user.account,
        name="saas",
        type="sample",
        config={"credential_id": credential},
        destination=make_destination(user.account, "lake"),
        destination_schema="saas",
    )
    saas.revoke_all(provider)
    _expire(credential)
    with pytest.raises(ReauthorizeRequiredError) as refused:
        grant_access_token(grant_id=credential, account_id=user.account_id)
    assert f"/connectors/oauth/{provider}/authorize?connector_id=" in refused.value.message
    grant = OAuthGrant.objects.get(pk=credential)
    assert grant.status == OAuthGrantStatus.REAUTHORIZE_REQUIRED
    assert "invalid_grant" in grant.revoked_reason
    events = Event.objects.filter(type="connector.reauthorize_required")
    assert [e.data["connector"]["id"] for e in events] == [str(connector.pk)]
    # Asked again, the grant is known to be gone: no second refresh, no second event.
    calls = saas.refreshes(provider)
    with pytest.raises(ReauthorizeRequiredError):
        grant_access_token(grant_id=credential, account_id=user.account_id)
    assert saas.refreshes(provider) == calls
    assert Event.objects.filter(type="connector.reauthorize_required").count() == 1


def test_a_non_refreshable_token_the_api_refused_requires_reauthorization(client, user, saas):
    credential, _ = authorized_grant(client, "shopify")
    tokens = GrantTokens(account_id=user.account_id, grant_id=credential)
    token = tokens.access_token()
    assert token
    with pytest.raises(ReauthorizeRequiredError):
        tokens.access_token(refresh=True)
    assert OAuthGrant.objects.get(pk=credential).status == OAuthGrantStatus.REAUTHORIZE_REQUIRED


def test_another_accounts_grant_is_not_served(client, saas):
    from tests.accounts.factories import UserFactory

    credential, _ = authorized_grant(client, "slack")
    stranger = UserFactory()
    with pytest.raises(ReauthorizeRequiredError):
        grant_access_token(grant_id=credential, account_id=stranger.account_id)


def test_flows_and_urls_never_carry_the_client_secret(client, saas):
    url = authorize(client, "salesforce")["authorize_url"]
    assert CLIENT_SECRET not in url
    assert CLIENT_SECRET not in urlencode(OAuthFlow.objects.get().params)


# --- connectors named by their credential ------------------------------------------------------
def test_a_connector_takes_only_a_credential_of_its_account_and_provider(client, user, saas):
    from tests.accounts.factories import UserFactory
    from tests.clients import client_for
    from tests.connectors.factories import make_destination

    credential, _ = authorized_grant(client, "shopify")
    slack_credential, _ = authorized_grant(client, "slack")
    destination = make_destination(user.account, "lake")

    def create(api, config: dict, destination_id: str) -> Any:
        return api.post(
            "/connectors",
            {"name": "shop", "type": "shopify", "config": config, "destination_id": destination_id},
            format="json",
        )

    for wrong in (slack_credential, "not-a-uuid", "7d0c7a4e-0000-4000-8000-000000000000"):
        refused = create(client, {"credential_id": wrong}, str(destination.id))
        assert refused.status_code == 422, refused.content
        assert refused.json()["detail"][0]["loc"] == ["body", "config", "credential_id"]
    stranger = UserFactory()
    theirs = make_destination(stranger.account, "theirs")
    refused = create(client_for(stranger), {"credential_id": credential}, str(theirs.id))
    assert refused.status_code == 422
    created = create(client, {"credential_id": credential}, str(destination.id))
    assert created.status_code == 201, created.content
    assert created.json()["config"] == {"credential_id": credential}


def test_relinking_keeps_the_connectors_grant_and_refuses_another_account(client, user, saas):
    from connectors.models import Connector
    from tests.connectors.factories import make_destination

    credential, _ = authorized_grant(client, "shopify")
    connector = Connector.objects.create(
        account=user.account,
        name="shop",
        type="shopify",
        config={"credential_id": credential},
        destination=make_destination(user.account, "lake"),
        destination_schema="shop",
    )
    OAuthGrant.objects.filter(pk=credential).update(
        status=OAuthGrantStatus.REAUTHORIZE_REQUIRED, revoked_reason="refused"
    )
    before = Connector.objects.get(pk=connector.pk).updated_at
    # The shop is kept from the grant when the client does not name it.
    authorization = client.get(
        "/connectors/oauth/shopify/authorize", {"connector_id": str(connector.pk)}
    ).json()
    back = callback("shopify", consent(authorization))
    assert back.status_code == 200, back.content
    result = client.get("/connectors/oauth/result", {"code": back.json()["code"]}).json()
    assert result["credential_id"] == credential
    assert OAuthGrant.objects.get(pk=credential).status == OAuthGrantStatus.ACTIVE
    assert OAuthGrant.objects.count() == 1
    assert Connector.objects.get(pk=connector.pk).updated_at > before

    # Another shop for that connector: refused, the grant untouched.
    other = authorize(client, "shopify", connector_id=str(connector.pk), shop="other.myshopify.com")
    mismatch = callback("shopify", consent(other))
    assert mismatch.status_code == 409
    assert mismatch.json()["detail"]["code"] == "account_mismatch"
    grant = OAuthGrant.objects.get(pk=credential)
    assert grant.external_account["shop"] == "acme-store.myshopify.com"


def test_a_connector_of_another_type_cannot_be_relinked(client, user, saas):
    from connectors.models import Connector
    from tests.connectors.factories import make_destination

    connector = Connector.objects.create(
        account=user.account,
        name="pg",
        type="sample",
        config={},
        destination=make_destination(user.account, "lake"),
        destination_schema="pg",
    )
    response = client.get("/connectors/oauth/slack/authorize", {"connector_id": str(connector.pk)})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "connector_id"]


def test_operators_see_grants_without_their_tokens(client, operator, saas):
    credential, _ = authorized_grant(client, "hubspot")
    tokens = decrypt_secrets(OAuthGrant.objects.get(pk=credential).encrypted_tokens)
    page = operator.get(f"/admin/integrations/oauthgrant/{credential}/change/")
    assert page.status_code == 200
    assert "hubspot" in page.content.decode().lower()
    assert tokens["access_token"] not in page.content.decode()
    assert tokens["refresh_token"] not in page.content.decode()


@pytest.mark.parametrize("type_name", ["microsoft", "shopify", "slack"])
def test_the_catalog_serves_the_oauth_sources_declared_schema(api, type_name):
    response = api.get(f"/connectors/catalog/{type_name}/schema")
    assert response.status_code == 200, response.content
    streams = {s["name"]: s for s in response.json()["streams"]}
    assert streams
    for stream in streams.values():
        assert stream["columns"] and stream["primary_key"]
    body = api.get("/connectors/catalog").json()
    catalog = {c["type"]: c for c in body.get("items", body) if isinstance(c, dict)}
    assert "credential_id" in {f["name"] for f in catalog[type_name]["fields"]}


def test_a_failed_callback_asked_as_json_is_the_error_envelope(client, saas):
    query = consent(authorize(client, "slack"))
    assert callback("slack", query).status_code == 200
    replay = callback("slack", query)
    body = replay.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == "This authorization was already completed."
    assert body["detail"]["code"] == "state_used"
    page = callback("slack", query, json_=False)
    assert page.status_code == 200  # the page tells the opener
    assert '"error": "state_used"' in page.content.decode()
