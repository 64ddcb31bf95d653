"""The client address that rate limits and the sign-in lockout count by."""

import pytest
from django.test import RequestFactory

from landed.api.ratelimit import UNKNOWN_CLIENT_IP, client_ip


def address(remote: str, forwarded: str | None = None) -> str:
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return client_ip(RequestFactory().get("/", REMOTE_ADDR=remote, **headers))


def test_without_trusted_proxies_the_forwarded_header_is_ignored():
    assert address("198.51.100.1", "203.0.113.9") == "198.51.100.1"


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("203.0.113.9", "203.0.113.9"),
        # The left-most entries are the client's own words; the proxies' entries are right.
        ("1.2.3.4, 203.0.113.9", "203.0.113.9"),
        # A chain of trusted proxies is walked through.
        ("203.0.113.9, 10.1.1.1, 10.2.2.2", "203.0.113.9"),
        # Garbage stops the walk at the last address a trusted proxy vouched for.
        ("203.0.113.9, not-an-ip", "10.0.0.2"),
        ("", "10.0.0.2"),
    ],
)
def test_behind_a_trusted_proxy_the_nearest_untrusted_hop_counts(settings, forwarded, expected):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert address("10.0.0.2", forwarded) == expected


def test_an_ipv6_client_counts_as_its_64(settings):
    assert address("2001:db8:1:2:aaaa::1") == address("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::"


def test_an_unidentifiable_client_shares_one_address():
    assert address("") == UNKNOWN_CLIENT_IP
