"""API clients for the tests: a signed-in client of a user, authenticated by an API key."""

from typing import Any

from rest_framework.test import APIClient

from landed.accounts import services as account_services


def client_for(user: Any, **defaults: Any) -> APIClient:
    _, raw_key = account_services.api_key_create(user=user, name="tests")
    client = APIClient(**defaults)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client
