"""A custom connector's definition (docs/custom_connectors.md) made from a discovery, with no
judgement beyond what the discovery holds: the same discovery always gives the same
definition. What it cannot say (credentials) the definition does not hold either; the
generation step validates it and test-reads it before offering it.
"""

from __future__ import annotations

import re
from typing import Any

from connectors.framework.spec import ConfigIssue
from connectors.sources.http_api.definition import DECLARABLE_TYPES
from connectors.sources.http_api.definition import definition_issues as engine_issues
from connectors.sources.http_api.paginators import PAGINATORS

_AUTH_KEYS = {
    "api_key": ("api_key_name", "api_key_in"),
    "oauth2_client_credentials": ("token_url", "scopes"),
}
_CONFIG_FIELD_KEYS = ("name", "type", "description", "required", "default")
_CONFIG_PLACEHOLDER = re.compile(r"\{config\.([A-Za-z0-9_]+)\}")
# Stand-ins for the credentials when a definition is checked by the engine alone.
_DUMMY_CREDENTIALS = {
    "api_key": "x",
    "bearer_token": "x",
    "username": "x",
    "password": "x",
    "client_id": "x",
    "client_secret": "x",
}


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
    """What is wrong with a definition, by the engine's own checks: its config placeholders
    filled with their defaults (or a stand-in) and dummy credentials, as compiling does."""
    values = {
        str(spec.get("name")): spec.get("default") if spec.get("default") is not None else "x"
        for spec in definition.get("config_fields") or []
        if isinstance(spec, dict)
    }
    compiled = _filled({k: v for k, v in definition.items() if k != "config_fields"}, values)
    return engine_issues({**compiled, **_DUMMY_CREDENTIALS})


def _filled(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return _CONFIG_PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "x")), value)
    if isinstance(value, list):
        return [_filled(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _filled(v, values) for k, v in value.items()}
    return value
