"""The GitHub App install flow and the Integrations endpoints, against a local GitHub that
checks the App's JWT as GitHub does (tests/github_server.py): every way the callback fails, the
update and re-install rules, listing and disconnecting."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from django.core import signing
from rest_framework.test import APIClient

from connectors.models import Connector
from integrations import github_app
from integrations.models import GitHubInstallation
from tests.clients import client_for
from tests.connectors.factories import make_destination
from tests.github_server import APP_ID, APP_SLUG, Repo
from tests.integrations.conftest import callback, state_of
from tests.ratelimit_windows import ip_with_fresh_window

pytestmark = pytest.mark.django_db


def github_connector(user, installation_id: int, name: str = "gh") -> Connector:
    return Connector.objects.create(
        account=user.account,
        name=name,
        type="github",
        config={"installation_id": installation_id},
        destination=make_destination(user.account, f"lake-{name}"),
        destination_schema=name,
    )


# --- off until configured ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "missing", ["GITHUB_APP_ID", "GITHUB_APP_SLUG", "GITHUB_APP_PRIVATE_KEY_PATH"]
)
def test_install_and_callback_are_503_until_configured(client, github, settings, missing):
    setattr(settings, missing, "")
    response = client.get("/integrations/github/install")
    assert response.status_code == 503
    assert response.json()["error"] == "GitHub is not configured"
    assert callback(client, installation_id=41, state="x").status_code == 503
    # A browser is sent to the frontend with the reason.
    response = callback(client, json=False, installation_id=41, state="x")
    assert response.status_code == 302
    assert parse_qs(urlsplit(response["Location"]).query)["error"] == ["not_configured"]


def test_an_unreadable_key_is_not_configured(client, github, settings, tmp_path):
    settings.GITHUB_APP_PRIVATE_KEY_PATH = str(tmp_path / "missing.pem")
    assert client.get("/integrations/github/install").status_code == 503
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    settings.GITHUB_APP_PRIVATE_KEY_PATH = str(bad)
    assert client.get("/integrations/github/install").status_code == 503


def test_the_integration_endpoints_need_a_signed_in_account(github):
    anonymous = APIClient()
    for method, path in [
        ("get", "/integrations/github/install"),
        ("get", "/integrations"),
        ("delete", "/integrations/github"),
    ]:
        response = getattr(anonymous, method)(path)
        assert response.status_code == 401, path


# --- the install flow ----------------------------------------------------------------------------
def test_install_url_carries_a_state_signed_for_the_account(client, user, github):
    url = client.get("/integrations/github/install").json()["url"]
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == github.url
    assert parts.path == f"/apps/{APP_SLUG}/installations/new"
    state = parse_qs(parts.query)["state"][0]
    payload = signing.loads(state, salt="landed.integrations.github.install")
    assert payload["account"] == str(user.account.id)
    assert state != state_of(client)  # each install URL has a state of its own


def test_the_callback_confirms_the_installation_with_an_app_jwt_then_stores_it(
    client, user, github
):
    response = callback(client, installation_id=41, setup_action="install", state=state_of(client))
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["provider"], body["status"]) == ("github", "connected")
    installation = body["installation"]
    assert installation["installation_id"] == 41
    assert installation["account_login"] == "acme"
    assert installation["repository_selection"] == "selected"
    assert installation["status"] == "active"
    assert installation["connected_at"].endswith("+00:00")
    row = GitHubInstallation.objects.get(installation_id=41)
    assert row.account_id == user.account.id and row.github_account_id == 7001
    # GitHub was asked as the App: an RS256 JWT, iss = the App id, issued 60 s in the past,
    # expiring within 10 minutes (the server verified the signature with the public key).
    (claims,) = github.jwt_claims
    assert claims["iss"] == APP_ID
    assert time.time() - 75 <= claims["iat"] <= time.time() - 55
    assert 0 < claims["exp"] - claims["iat"] <= 600
    assert github.rest_hits("/app/installations/41") == ["/app/installations/41"]


def test_a_browser_is_sent_back_to_the_frontend(client, github):
    response = callback(
        client, json=False, installation_id=41, setup_action="install", state=state_of(client)
    )
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{github.url}/frontend"
    assert parse_qs(location.query) == {
        "tab": ["integrations"],
        "github": ["connected"],
        "installation_id": ["41"],
    }


def test_an_update_or_a_second_install_updates_rather_than_duplicates(client, user, github):
    state = state_of(client)
    assert (
        callback(client, installation_id=41, setup_action="install", state=state).json()["status"]
        == "connected"
    )
    first = GitHubInstallation.objects.get()
    github.installations[41].selection = "all"
    response = callback(client, installation_id=41, setup_action="update", state=state_of(client))
    assert response.json()["status"] == "updated"
    assert response.json()["installation"]["repository_selection"] == "all"
    response = callback(client, installation_id=41, setup_action="install", state=state)
    assert response.json()["status"] == "updated"
    (row,) = GitHubInstallation.objects.all()
    assert (row.id, row.connected_at) == (first.id, first.connected_at)
    assert row.repository_selection == "all"


def test_a_change_made_on_github_refreshes_a_connected_installation_without_state(client, github):
    callback(client, installation_id=41, setup_action="install", state=state_of(client))
    github.installations[41].selection = "all"
    # GitHub's "Configure" page sends the browser back with no state of ours.
    response = callback(client, json=False, installation_id=41, setup_action="update")
    assert parse_qs(urlsplit(response["Location"]).query)["github"] == ["updated"]
    assert GitHubInstallation.objects.get().repository_selection == "all"
    # Not for an installation nobody connected: that needs the flow started here.
    github.install(42, "beta", Repo("beta", "tools", 2))
    response = callback(client, installation_id=42, setup_action="update")
    assert response.status_code == 400 and response.json()["error"] == "Missing state"
    assert GitHubInstallation.objects.count() == 1


def test_installed_again_after_an_uninstall_moves_the_row_and_its_connectors(client, user, github):
    callback(client, installation_id=41, setup_action="install", state=state_of(client))
    connector = github_connector(user, 41)
    other = github_connector(user, 99, name="other")
    github.uninstall(41)
    github.install(57, "acme", Repo("acme", "widgets", 1), account_id=7001)
    response = callback(client, installation_id=57, setup_action="install", state=state_of(client))
    assert response.json()["status"] == "updated"
    (row,) = GitHubInstallation.objects.all()
    assert row.installation_id == 57
    connector.refresh_from_db()
    other.refresh_from_db()
    assert connector.config["installation_id"] == 57
    assert other.config["installation_id"] == 99


def test_a_membership_request_stores_nothing(client, github):
    response = callback(client, setup_action="request", state=state_of(client))
    assert response.status_code == 200
    assert response.json() == {"provider": "github", "status": "requested", "installation": None}
    assert not GitHubInstallation.objects.exists()


# --- the callback's failures -------------------------------------------------------------------
def test_a_forged_or_missing_state_is_refused_before_github_is_asked(client, github):
    state = state_of(client)
    for bad in [state[:-2] + "xx", "", signing.dumps({"account": "x"}, salt="other")]:
        response = callback(client, installation_id=41, state=bad)
        assert response.status_code == 400, bad
        assert response.json()["error"] in ("Invalid state", "Missing state")
        response = callback(client, json=False, installation_id=41, state=bad)
        assert parse_qs(urlsplit(response["Location"]).query)["error"] == ["invalid_state"]
    assert github.jwt_claims == []
    assert not GitHubInstallation.objects.exists()


def test_an_expired_state_is_refused(client, github, settings, monkeypatch):
    settings.GITHUB_APP_STATE_MAX_AGE_SECONDS = 600
    issued = time.time() - 601
    monkeypatch.setattr(signing.time, "time", lambda: issued)
    state = state_of(client)
    monkeypatch.undo()
    response = callback(client, installation_id=41, state=state)
    assert response.status_code == 400
    assert response.json()["error"] == "Expired state"
    response = callback(client, json=False, installation_id=41, state=state)
    assert parse_qs(urlsplit(response["Location"]).query)["error"] == ["expired_state"]


def test_a_state_of_an_account_gone_is_refused(client, user, github):
    state = state_of(client)
    user.account.delete()
    assert callback(client, installation_id=41, state=state).status_code == 400


def test_an_installation_github_does_not_know_is_refused(client, github):
    response = callback(client, installation_id=404404, state=state_of(client))
    assert response.status_code == 400
    assert response.json()["error"] == "Unknown installation"
    response = callback(client, json=False, installation_id=404404, state=state_of(client))
    assert parse_qs(urlsplit(response["Location"]).query)["error"] == ["unknown_installation"]
    assert not GitHubInstallation.objects.exists()


@pytest.mark.parametrize("value", ["abc", "0", "-3", "", "99999999999999999999"])
def test_a_bad_installation_id_is_422(client, github, value):
    response = callback(client, installation_id=value, state=state_of(client))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "installation_id"]


def test_a_missing_installation_id_is_400(client, github):
    response = callback(client, setup_action="install", state=state_of(client))
    assert response.status_code == 400


def test_an_installation_of_another_account_is_not_taken(client, github):
    callback(client, installation_id=41, setup_action="install", state=state_of(client))
    from tests.accounts.factories import UserFactory

    intruder = client_for(UserFactory())
    response = callback(intruder, installation_id=41, state=state_of(intruder))
    assert response.status_code == 409
    response = callback(intruder, json=False, installation_id=41, state=state_of(intruder))
    assert parse_qs(urlsplit(response["Location"]).query)["error"] == ["installation_claimed"]
    assert GitHubInstallation.objects.count() == 1


def test_github_unreachable_is_502(client, github, settings, unused_port):
    state = state_of(client)
    settings.GITHUB_API_URL = f"http://127.0.0.1:{unused_port}"  # a closed loopback port
    response = callback(client, installation_id=41, state=state)
    assert response.status_code == 502
    assert response.json()["error"] == "GitHub is unavailable"
    response = callback(client, json=False, installation_id=41, state=state)
    assert parse_qs(urlsplit(response["Location"]).query)["error"] == ["github_unavailable"]


def test_github_failing_is_502(client, github):
    github.fail("/app/installations/41", 503)
    response = callback(client, installation_id=41, state=state_of(client))
    assert response.status_code == 502
    assert "503" in response.json()["detail"]


def test_the_app_key_refused_by_github_is_502(client, github, settings, tmp_path):
    from tests.github_server import private_key_pem

    state = state_of(client)
    other = tmp_path / "other.pem"
    other.write_bytes(private_key_pem())
    settings.GITHUB_APP_PRIVATE_KEY_PATH = str(other)
    response = callback(client, installation_id=41, state=state)
    assert response.status_code == 502
    assert response.json()["error"] == "GitHub refused this server's App credentials"
    # The App's JWT is not a secret worth showing, but GitHub's words stay in the log.
    assert "jwt" not in response.content.decode().lower()


def test_the_callback_is_rate_limited_as_sensitive(client, github, settings):
    settings.RATELIMIT_ENABLE = True
    settings.RATE_LIMIT_TIERS = {**settings.RATE_LIMIT_TIERS, "sensitive": ["2/m"]}
    anonymous = APIClient(REMOTE_ADDR=ip_with_fresh_window())  # no window edge inside the test
    statuses = [callback(anonymous, state="x").status_code for _ in range(3)]
    assert statuses == [400, 400, 429]


# --- listing and disconnecting -----------------------------------------------------------------
def test_list_shows_the_accounts_installations_and_their_connectors(client, user, github):
    assert client.get("/integrations").json()["items"] == []
    callback(client, installation_id=41, setup_action="install", state=state_of(client))
    connector = github_connector(user, 41)
    body = client.get("/integrations").json()
    assert (body["total"], body["has_next"]) == (1, False)
    (item,) = body["items"]
    assert item["provider"] == "github"
    assert (item["account_login"], item["repository_selection"]) == ("acme", "selected")
    assert item["connectors"] == [{"id": str(connector.id), "name": "gh"}]
    # Another account sees none of it.
    from tests.accounts.factories import UserFactory

    assert client_for(UserFactory()).get("/integrations").json()["total"] == 0


def test_disconnect_refuses_while_connectors_use_it_unless_forced(client, user, github):
    callback(client, installation_id=41, setup_action="install", state=state_of(client))
    connector = github_connector(user, 41)
    response = client.delete("/integrations/github")
    assert response.status_code == 409
    assert response.json()["detail"]["connectors"] == [{"id": str(connector.id), "name": "gh"}]
    assert GitHubInstallation.objects.exists()

    response = client.delete("/integrations/github?force=true")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [i["installation_id"] for i in body["disconnected"]] == [41]
    assert body["connectors"] == [{"id": str(connector.id), "name": "gh"}]
    assert not GitHubInstallation.objects.exists()
    assert client.delete("/integrations/github").status_code == 404


def test_disconnect_one_installation_and_the_errors(client, user, github):
    github.install(42, "beta", Repo("beta", "tools", 2))
    callback(client, installation_id=41, setup_action="install", state=state_of(client))
    callback(client, installation_id=42, setup_action="install", state=state_of(client))
    assert client.delete("/integrations/gitlab").status_code == 404
    assert client.delete("/integrations/github?installation_id=7").status_code == 404
    assert client.delete("/integrations/github?installation_id=x").status_code == 422
    huge = "99999999999999999999"  # beyond a bigint: a 422, not a database error
    assert client.delete(f"/integrations/github?installation_id={huge}").status_code == 422
    assert client.delete("/integrations/github?force=yes").status_code == 422
    response = client.delete("/integrations/github?installation_id=42")
    assert response.status_code == 200
    assert list(GitHubInstallation.objects.values_list("installation_id", flat=True)) == [41]


def test_the_app_jwt_follows_githubs_rules(github):
    token = github_app.app_jwt(now=1_000_000)
    claims = jwt.decode(
        token, github.public_key, algorithms=["RS256"], options={"verify_exp": False}
    )
    assert claims == {"iat": 1_000_000 - 60, "exp": 1_000_000 - 60 + 480, "iss": APP_ID}


# --- the installing user's access, when the App's client is configured -------------------------
@pytest.fixture
def verifying(github, settings):
    from tests.github_server import CLIENT_ID, CLIENT_SECRET

    settings.GITHUB_APP_CLIENT_ID = CLIENT_ID
    settings.GITHUB_APP_CLIENT_SECRET = CLIENT_SECRET
    github.install(42, "victim", Repo("victim", "secrets", 3))
    return github


def test_the_installing_user_must_reach_the_installation(client, verifying):
    code = verifying.issue_code(41)
    response = callback(
        client, installation_id=41, setup_action="install", state=state_of(client), code=code
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "connected"


def test_a_forged_installation_id_is_refused(client, verifying):
    # The user installed on their own account (41) and names the victim's installation.
    response = callback(
        client, installation_id=42, state=state_of(client), code=verifying.issue_code(41)
    )
    assert response.status_code == 403
    assert response.json()["error"] == "The installation is not yours"
    response = callback(
        client,
        json=False,
        installation_id=42,
        state=state_of(client),
        code=verifying.issue_code(41),
    )
    assert parse_qs(urlsplit(response["Location"]).query)["error"] == ["installation_not_reachable"]
    assert not GitHubInstallation.objects.exists()
    assert verifying.jwt_claims == []  # refused before the App asked about it


def test_a_missing_used_or_forged_code_is_refused(client, verifying):
    response = callback(client, installation_id=41, state=state_of(client))
    assert response.status_code == 400
    assert response.json()["error"] == "Missing code"
    code = verifying.issue_code(41)
    assert (
        callback(client, installation_id=41, state=state_of(client), code=code).status_code == 200
    )
    for bad in [code, "made-up"]:  # used already; never issued
        response = callback(client, installation_id=41, state=state_of(client), code=bad)
        assert response.status_code == 400
        assert response.json()["error"] == "GitHub refused the authorization"
        assert "bad_verification_code" in response.json()["detail"]


def test_github_down_while_checking_the_user_is_502(client, verifying, settings, unused_port):
    state = state_of(client)
    settings.GITHUB_WEB_URL = f"http://127.0.0.1:{unused_port}"
    response = callback(client, installation_id=41, state=state, code=verifying.issue_code(41))
    assert response.status_code == 502
