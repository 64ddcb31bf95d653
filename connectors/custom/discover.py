"""`POST /custom-connectors/{id}/discover`: a discovery of the custom connector's API from its
OpenAPI / Swagger document (uploaded, or fetched from `openapi_url`), extended by a bounded
live sample and, when an LLM provider is configured and a documentation page is given, by
what the model reads there. Stored on the row and returned (docs/custom_connector_discovery.md).
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from connectors.custom import llm as custom_llm
from connectors.custom.discovery.fetch import fetch_document
from connectors.custom.discovery.openapi import (
    MAX_DOCUMENT_BYTES,
    DocumentError,
    check_document,
    discover_from_openapi,
    empty_discovery,
    load_document,
)
from connectors.custom.discovery.sampling import sample_discovery
from connectors.framework.base import ConnectorError
from connectors.models import CustomConnector
from landed.api.errors import UpstreamError
from landed.api.validation import invalid
from landed.llm import client as llm_client
from landed.security import network

logger = logging.getLogger(__name__)

DOCUMENT_FETCH_SECONDS = 20.0
MAX_DOCUMENTATION_BYTES = 2 * 1024 * 1024
# The documentation page's text handed to the model at most (characters).
MAX_DOCUMENTATION_CHARS = 100_000


def custom_connector_discover(
    *,
    custom_connector: CustomConnector,
    config: dict[str, Any] | None = None,
    sample: bool = True,
    max_requests: int = 10,
) -> dict[str, Any]:
    """The discovery, stored on `custom_connector`. A document that is not a readable OpenAPI
    3 / Swagger 2 one is a 422 saying why; a document URL that cannot be fetched, a 502."""
    document, origin = _document(custom_connector)
    base_url = custom_connector.base_url or None
    if document is not None:
        try:
            discovery = discover_from_openapi(document, base_url=base_url)
        except DocumentError as exc:
            raise invalid([origin], exc.message, exc.kind) from exc
    else:
        discovery = empty_discovery(base_url=base_url)
        kind = custom_connector.auth_kind or "none"
        if kind == "none":
            # Nothing says how the API authenticates: the credentials the caller gives do
            # (else they would be dropped and every sampled request refused).
            kind = _auth_kind_from_config(config or {})
            if kind != "none":
                discovery["auth"]["evidence"] = "config"
        discovery["auth"]["type"] = kind
    if sample:
        discovery = _sampled(custom_connector, discovery, config or {}, max_requests)
    discovery = _storable(_with_documentation(custom_connector, discovery))
    custom_connector.discovery = discovery
    custom_connector.discovered_at = timezone.now()
    custom_connector.save(update_fields=["discovery", "discovered_at", "updated_at"])
    return discovery


# The credentials that make an auth type, most specific first.
_CONFIG_CREDENTIALS = (
    ("oauth2_client_credentials", ("client_id", "client_secret")),
    ("api_key", ("api_key",)),
    ("bearer", ("bearer_token",)),
    ("basic", ("username",)),
)


def _auth_kind_from_config(config: dict[str, Any]) -> str:
    for kind, names in _CONFIG_CREDENTIALS:
        if all(config.get(name) not in (None, "") for name in names):
            return kind
    return "none"


def _sampled(
    custom_connector: CustomConnector,
    discovery: dict[str, Any],
    config: dict[str, Any],
    max_requests: int,
) -> dict[str, Any]:
    """The discovery extended by the live sample; as it was, with a warning, when the sample
    fails in a way it does not foresee (what the document says is still worth having)."""
    try:
        return sample_discovery(
            discovery,
            config=config,
            max_requests=max_requests,
            allow_private_networks=network.private_allowed(),
        )
    except Exception:
        logger.exception("connectors.custom_discover_sample_crashed id=%s", custom_connector.id)
        discovery["warnings"].append(
            "The live sample failed unexpectedly; quote the X-Request-ID to support."
        )
        return discovery


def _document(custom_connector: CustomConnector) -> tuple[dict[str, Any] | None, str]:
    """The OpenAPI document (uploaded first, else fetched) and where it came from (the `loc`
    of a 422 about it)."""
    uploaded = custom_connector.openapi_document
    if uploaded is not None:
        try:
            if isinstance(uploaded, str):
                return load_document(uploaded), "openapi_document"
            return check_document(uploaded), "openapi_document"
        except DocumentError as exc:
            raise invalid(["openapi_document"], exc.message, exc.kind) from exc
    if not custom_connector.openapi_url:
        return None, ""
    try:
        content = fetch_document(
            custom_connector.openapi_url,
            allow_private_networks=network.private_allowed(),
            max_bytes=MAX_DOCUMENT_BYTES,
            timeout=DOCUMENT_FETCH_SECONDS,
        )
        return load_document(content), "openapi_url"
    except DocumentError as exc:
        raise invalid(["openapi_url"], exc.message, exc.kind) from exc
    except ConnectorError as exc:
        raise UpstreamError(
            "The OpenAPI document could not be fetched.",
            {"type": exc.kind, "message": exc.message},
        ) from exc


def _with_documentation(
    custom_connector: CustomConnector, discovery: dict[str, Any]
) -> dict[str, Any]:
    """The discovery extended from the documentation page by the LLM, when one is configured;
    the discovery as it is otherwise, or when that fails (a warning says why)."""
    url = custom_connector.documentation_url
    # The LLM provider is optional: without one, the deterministic discovery is the answer.
    if not url or not llm_client.llm_configured():
        return discovery
    try:
        content = fetch_document(
            url,
            allow_private_networks=network.private_allowed(),
            max_bytes=MAX_DOCUMENTATION_BYTES,
            timeout=DOCUMENT_FETCH_SECONDS,
        )
    except (ConnectorError, DocumentError) as exc:
        discovery["warnings"].append(f"The documentation page could not be read: {exc}")
        return discovery
    text = content.decode("utf-8", errors="replace")[:MAX_DOCUMENTATION_CHARS]
    try:
        extended = custom_llm.llm_discover_from_text(
            account_id=custom_connector.account_id,
            text=text,
            base_url=discovery.get("base_url") or custom_connector.base_url,
            discovery=discovery,
        )
    except Exception as exc:  # the model's failure must not lose the deterministic discovery
        logger.warning(
            "connectors.custom_discover_llm_failed custom_connector=%s error=%s",
            custom_connector.id,
            type(exc).__name__,
        )
        discovery["warnings"].append(
            f"Reading the documentation page with the LLM failed ({type(exc).__name__})."
        )
        return discovery
    if isinstance(extended, dict) and extended:
        if "llm" not in extended.setdefault("sources", []):
            extended["sources"].append("llm")
        return extended
    return discovery


def _storable(value: Any) -> Any:
    """`value` with the text PostgreSQL's jsonb refuses made storable: null characters
    dropped, lone surrogates replaced (a document's or an API's keys and texts are anyone's)."""
    if isinstance(value, str):
        cleaned = value.replace("\x00", "")
        return cleaned.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [_storable(item) for item in value]
    if isinstance(value, dict):
        return {_storable(str(key)): _storable(item) for key, item in value.items()}
    return value
