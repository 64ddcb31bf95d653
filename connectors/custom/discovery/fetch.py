"""Fetching a document (an OpenAPI description, a documentation page) by URL through the
http_api engine's requester: the outbound network policy, no redirects followed, one
deadline and a size cap, and failures reported in words that quote no secret."""

from __future__ import annotations

from connectors.custom.discovery.openapi import DocumentError
from connectors.framework.base import ConnectorError
from connectors.sources.http_api.requester import Requester, RetryPolicy, http_status

_ACCEPT = "application/json, application/yaml, text/yaml, text/html;q=0.5, */*;q=0.1"


def fetch_document(
    url: str, *, allow_private_networks: bool, max_bytes: int, timeout: float
) -> bytes:
    """The body GET `url` answers with a 2xx. A ConnectorError when it cannot be had (the
    caller reports an upstream failure); a DocumentError when it is larger than `max_bytes`."""
    requester = Requester(
        {"base_url": url, "headers": {"Accept": _ACCEPT}},
        allow_private_networks=allow_private_networks,
        # One attempt: `timeout` is the whole time a caller is promised (docs say "within 20
        # seconds"); a retry after a deadline would double it while the web request waits.
        retry=RetryPolicy(max_retries=0),
        timeout=timeout,
        max_request_seconds=timeout,
        max_response_bytes=max_bytes,
    )
    try:
        return bytes(requester.get(url, {}, stream=None).content)
    except ConnectorError as error:
        if http_status(error) is None and "max_response_bytes" in error.message:
            raise DocumentError(
                f"The document is larger than {max_bytes} bytes.", "openapi_too_large"
            ) from error
        raise
    finally:
        requester.close()
