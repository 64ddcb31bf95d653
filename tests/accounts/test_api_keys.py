import hashlib

import pytest
from rest_framework.test import APIClient

from landed.accounts.models import ApiKey
from tests.accounts.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def create_key(client, name="ci"):
    response = client.post("/auth/api-keys", {"name": name}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def key_client(raw_key: str) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def test_create_returns_the_raw_key_once_and_stores_only_its_hash(jwt_api, user):
    created = create_key(jwt_api)

    raw = created["key"]
    assert raw.startswith("lnd_")
    assert len(raw) >= 40
    assert created["prefix"] == raw[:12]
    assert created["name"] == "ci"
    stored = ApiKey.objects.get(id=created["id"])
    assert stored.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {getattr(stored, f.attname) for f in ApiKey._meta.fields}
    assert stored.account_id == user.account_id


def test_a_key_authenticates_and_records_its_use(jwt_api, user):
    created = create_key(jwt_api)
    response = key_client(created["key"]).get("/auth/me")

    assert response.status_code == 200
    assert response.json()["user"]["id"] == str(user.id)
    assert ApiKey.objects.get(id=created["id"]).last_used_at is not None


def test_keys_are_unique(jwt_api):
    keys = {create_key(jwt_api)["key"] for _ in range(5)}
    assert len(keys) == 5


def test_list_shows_active_keys_without_the_secret(jwt_api):
    first = create_key(jwt_api, "first")
    second = create_key(jwt_api, "second")

    body = jwt_api.get("/auth/api-keys").json()

    assert body["total"] == 2
    assert [item["id"] for item in body["items"]] == [second["id"], first["id"]]
    assert all("key" not in item for item in body["items"])
    assert set(body["items"][0]) == {"id", "name", "prefix", "created_at", "last_used_at"}


def test_delete_revokes_all_keys_at_once(jwt_api):
    raws = [create_key(jwt_api)["key"] for _ in range(3)]

    response = jwt_api.delete("/auth/api-keys")

    assert response.status_code == 200
    assert response.json() == {"revoked": 3}
    for raw in raws:
        refused = key_client(raw).get("/auth/me")
        assert refused.status_code == 401
        assert refused.json() == {
            "error": "Invalid credentials",
            "detail": "Invalid or revoked API key.",
        }
    assert jwt_api.get("/auth/api-keys").json()["total"] == 0


def test_revocation_is_per_account(jwt_api):
    mine = create_key(jwt_api)["key"]
    other = UserFactory()
    other_client = APIClient()
    other_client.login(email=other.email, password=PASSWORD)
    theirs = create_key(other_client)["key"]

    jwt_api.delete("/auth/api-keys")

    assert key_client(mine).get("/auth/me").status_code == 401
    assert key_client(theirs).get("/auth/me").status_code == 200
    assert jwt_api.get("/auth/api-keys").json()["total"] == 0
    assert other_client.get("/auth/api-keys").json()["total"] == 1


def test_unknown_key_is_401_and_not_tried_as_a_jwt(api):
    response = key_client("lnd_" + "x" * 43).get("/auth/me")
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid or revoked API key."


def test_key_of_a_disabled_user_is_refused(jwt_api, user):
    raw = create_key(jwt_api)["key"]
    user.is_active = False
    user.save()
    assert key_client(raw).get("/auth/me").status_code == 401


def test_a_key_can_create_and_revoke_keys(jwt_api):
    client = key_client(create_key(jwt_api)["key"])
    assert client.post("/auth/api-keys", {}, format="json").status_code == 201
    assert client.delete("/auth/api-keys").json() == {"revoked": 2}


def test_name_is_validated(jwt_api):
    response = jwt_api.post("/auth/api-keys", {"name": "x" * 101}, format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]
    assert response.json()["detail"][0]["type"] == "string_too_long"
