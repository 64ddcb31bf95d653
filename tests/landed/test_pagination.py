"""The one pagination, seen through the API-key list."""

import pytest

from landed.accounts import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def five_keys(user):
    return [services.api_key_create(user=user, name=f"k{i}")[0] for i in range(5)]


def test_defaults(jwt_api, five_keys):
    body = jwt_api.get("/auth/api-keys").json()

    assert set(body) == {"items", "total", "limit", "offset", "has_next"}
    assert (body["total"], body["limit"], body["offset"], body["has_next"]) == (5, 50, 0, False)
    assert len(body["items"]) == 5


def test_pages_walk_the_whole_list_once(jwt_api, five_keys):
    seen = []
    offset = 0
    while True:
        body = jwt_api.get(f"/auth/api-keys?limit=2&offset={offset}").json()
        seen += [item["name"] for item in body["items"]]
        if not body["has_next"]:
            break
        offset += 2
    assert sorted(seen) == ["k0", "k1", "k2", "k3", "k4"]
    assert len(seen) == 5


def test_offset_past_the_end_is_an_empty_page(jwt_api, five_keys):
    body = jwt_api.get("/auth/api-keys?offset=10").json()
    assert body["items"] == []
    assert body["total"] == 5
    assert body["has_next"] is False


def test_limit_of_200_is_allowed(jwt_api):
    assert jwt_api.get("/auth/api-keys?limit=200").status_code == 200


@pytest.mark.parametrize(
    ("query", "loc", "error_type"),
    [
        ("limit=0", ["query", "limit"], "greater_than_equal"),
        ("limit=201", ["query", "limit"], "less_than_equal"),
        ("limit=abc", ["query", "limit"], "int_parsing"),
        ("offset=-1", ["query", "offset"], "greater_than_equal"),
        ("offset=1.5", ["query", "offset"], "int_parsing"),
        ("offset=", ["query", "offset"], "int_parsing"),
        ("limit=", ["query", "limit"], "int_parsing"),
    ],
)
def test_bad_values_are_422_in_query(jwt_api, query, loc, error_type):
    response = jwt_api.get(f"/auth/api-keys?{query}")

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "Validation error"
    assert [(p["loc"], p["type"]) for p in body["detail"]] == [(loc, error_type)]
