"""A custom connector's definition (docs/custom_connectors.md) made from a discovery, with no
judgement beyond what the discovery holds: the same discovery always gives the same
definition. What it cannot say (credentials) the definition does not hold either; the
generation step validates it and test-reads it before offering it.
"""

from __future__ import annotations

from typing import Any

from connectors.custom.schema import definition_issues
from connectors.framework.spec import ConfigIssue
from connectors.sources.http_api.definition import DECLARABLE_TYPES
from connectors.sources.http_api.paginators import PAGINATORS

_AUTH_KEYS = {
    "api_key": ("api_key_name", "api_key_in"),
    "oauth2_client_credentials": ("token_url", "scopes"),
}
_CONFIG_FIELD_KEYS = ("name", "type", "description", "required", "default")


def definition_from_discovery(discovery: dict[str, Any]) -> dict[str, Any]:
    auth = discovery.get("auth") or {}
    auth_type = auth.get("type") or "none"
    definition: dict[str, Any] = {
        "base_url": discovery.get("base_url") or "",
        "auth_type": auth_type,
    }
    for key in _AUTH_KEYS.get(auth_type, ()):
        if auth.get(key):
            definition[key] = auth[key]
    fields = [
        {key: spec.get(key) for key in _CONFIG_FIELD_KEYS}
        for spec in discovery.get("config_fields") or []
        if isinstance(spec, dict) and spec.get("name")
    ]
    if fields:
        definition["config_fields"] = fields
    streams = [s for s in discovery.get("streams") or [] if isinstance(s, dict) and s.get("name")]
    names = {s["name"] for s in streams}
    definition["streams"] = [
        _stream(s) for s in streams if not s.get("parent") or s["parent"].get("stream") in names
    ]
    return definition


def _stream(stream: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": stream["name"], "path": stream.get("path") or ""}
    if stream.get("params"):
        out["params"] = dict(stream["params"])
    if stream.get("record_selector"):
        out["record_selector"] = stream["record_selector"]
    if stream.get("primary_key"):
        out["primary_key"] = list(stream["primary_key"])
    paginator = _paginator(stream.get("paginator"))
    if paginator is not None:
        out["paginator"] = paginator
    if stream.get("parent"):
        parent = stream["parent"]
        out["parent"] = {k: parent[k] for k in ("stream", "field", "include_as") if parent.get(k)}
    candidates = stream.get("cursor_candidates") or []
    if candidates:
        incremental = {"cursor_field": candidates[0]}
        if stream.get("incremental_param"):
            incremental["request_param"] = stream["incremental_param"]
        out["incremental"] = incremental
    columns = {
        name: kind
        for name, kind in (stream.get("columns") or {}).items()
        if kind in DECLARABLE_TYPES
    }
    if columns:
        out["columns"] = columns
    return out


def _paginator(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict) or raw.get("type") in (None, "none"):
        return None
    kind = PAGINATORS.get(str(raw["type"]))
    if kind is None:
        return None
    return {k: v for k, v in raw.items() if k in kind.keys and v is not None}


def definition_problems(definition: dict[str, Any]) -> list[ConfigIssue]:
    """What is wrong with a definition: the definition's JSON Schema, then the engine's own
    checks on it compiled with stand-in credentials and config values."""
    return definition_issues(definition)
