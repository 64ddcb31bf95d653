"""A custom connector's definition made into what the http_api engine reads: its spec (the
credentials its auth needs plus its declared `config_fields`) and, for one connector's config,
the http_api config (the definition with the credentials added and every `{config.<name>}`
placeholder substituted).

Plain Python: no Django (the connector framework's rule).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from connectors.framework.spec import ConnectorSpec, FieldType, SpecField

# Credentials are never in a definition: each connector of the type holds its own, in its
# config (the secret ones encrypted).
CREDENTIAL_KEYS = ("api_key", "bearer_token", "username", "password", "client_id", "client_secret")

# The credential fields each auth type asks a connector for.
_CREDENTIAL_FIELDS: dict[str, tuple[SpecField, ...]] = {
    "none": (),
    "api_key": (SpecField("api_key", "secret", "The API key.", required=True),),
    "bearer": (
        SpecField("bearer_token", "secret", "The token (Authorization: Bearer).", required=True),
    ),
    "basic": (
        SpecField("username", "string", "The user name.", required=True),
        SpecField("password", "secret", "The password."),
    ),
    "oauth2_client_credentials": (
        SpecField("client_id", "string", "The OAuth2 client id.", required=True),
        SpecField("client_secret", "secret", "The OAuth2 client secret.", required=True),
    ),
}
# The catalog's `auth_method` of each auth type.
_AUTH_METHODS = {
    "none": "none",
    "api_key": "api_key",
    "bearer": "api_key",
    "basic": "password",
    "oauth2_client_credentials": "oauth2",
}
AUTH_TYPES = tuple(_CREDENTIAL_FIELDS)
CONFIG_FIELD_TYPES: tuple[FieldType, ...] = ("string", "integer", "number", "boolean", "secret")

# `{config.region}`: a value of the connector's config, by a name its config_fields declare.
CONFIG_PLACEHOLDER = re.compile(r"\{config\.([A-Za-z_][A-Za-z0-9_]*)\}")


def credential_fields(auth_type: str) -> tuple[SpecField, ...]:
    return _CREDENTIAL_FIELDS.get(auth_type, ())


def custom_spec(
    *, type_name: str, display_name: str, description: str, definition: dict[str, Any]
) -> ConnectorSpec:
    """The spec of a custom type at one version of its definition: the credentials of its
    auth type, then its config_fields. A field with a default need not be sent."""
    auth_type = str(definition.get("auth_type") or "none")
    declared = tuple(
        SpecField(
            name=item["name"],
            type=item.get("type", "string"),
            description=item.get("description") or "",
            required=bool(item.get("required")) and item.get("default") is None,
            default=item.get("default"),
        )
        for item in definition.get("config_fields") or []
    )
    streams = definition.get("streams") or []
    return ConnectorSpec(
        type=type_name,
        display_name=display_name,
        description=description or f"A custom connector for {definition.get('base_url')}.",
        category="api",
        auth_method=_AUTH_METHODS.get(auth_type, "none"),
        fields=(*credential_fields(auth_type), *declared),
        supports_incremental=any(
            isinstance(s, dict) and s.get("incremental") is not None for s in streams
        ),
        tags=("custom",),
    )


def compile_config(definition: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The http_api config of a connector of the custom type: the definition without its
    config_fields, `{config.<name>}` substituted in base_url, token_url, header values, stream
    paths and param values, and the connector's credentials added. A placeholder naming a
    value the config does not hold is left as it is (the engine's checks then refuse it)."""
    compiled = {k: v for k, v in definition.items() if k != "config_fields"}
    for key in ("base_url", "token_url"):
        if isinstance(compiled.get(key), str):
            compiled[key] = substitute(compiled[key], config)
    if isinstance(compiled.get("headers"), dict):
        compiled["headers"] = {
            name: substitute(value, config) if isinstance(value, str) else value
            for name, value in compiled["headers"].items()
        }
    if isinstance(compiled.get("streams"), list):
        compiled["streams"] = [_compiled_stream(s, config) for s in compiled["streams"]]
    for key in CREDENTIAL_KEYS:
        if config.get(key) is not None:
            compiled[key] = config[key]
    return compiled


def _compiled_stream(stream: Any, config: dict[str, Any]) -> Any:
    if not isinstance(stream, dict):
        return stream
    stream = dict(stream)
    if isinstance(stream.get("path"), str):
        # A value is one path segment's text: percent-encoded, so that it cannot add segments
        # or a query of its own.
        stream["path"] = substitute(stream["path"], config, encode=True)
    if isinstance(stream.get("params"), dict):
        stream["params"] = {
            name: substitute(value, config, keep_type=True) if isinstance(value, str) else value
            for name, value in stream["params"].items()
        }
    return stream


def substitute(
    text: str, config: dict[str, Any], *, encode: bool = False, keep_type: bool = False
) -> Any:
    """`text` with its `{config.<name>}` placeholders replaced, each value as text (`encode`:
    percent-encoded). With `keep_type`, a text that is one placeholder alone takes the value
    as it is typed (a number stays a number in a query parameter)."""
    whole = CONFIG_PLACEHOLDER.fullmatch(text)
    if whole and keep_type and config.get(whole.group(1)) is not None:
        return config[whole.group(1)]

    def value(match: re.Match[str]) -> str:
        found = config.get(match.group(1))
        if found is None:
            return match.group(0)
        if isinstance(found, bool):
            found = "true" if found else "false"
        return quote(str(found), safe="") if encode else str(found)

    return CONFIG_PLACEHOLDER.sub(value, text)


def placeholder_names(text: str) -> list[str]:
    return CONFIG_PLACEHOLDER.findall(text)
