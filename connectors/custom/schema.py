"""The definition of a custom connector: one JSON Schema (draft 2020-12, published as the
OpenAPI component `CustomConnectorDefinition` and in docs/custom_connectors.md), and the check
that runs it, then the http_api engine's own checks on the definition compiled with stand-in
credentials and config values.

A definition is the http_api manifest (docs/http_api.md) without credentials, plus the
`config_fields` each connector of the type fills in; `{config.<name>}` placeholders name them.
"""

from __future__ import annotations

from typing import Any

# Its stubs (types-jsonschema) are not a dependency: what it exports is Any here.
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]

from connectors.custom.compile import (
    AUTH_TYPES,
    CONFIG_FIELD_TYPES,
    CONFIG_PLACEHOLDER,
    CREDENTIAL_KEYS,
    compile_config,
    credential_fields,
    placeholder_names,
)
from connectors.framework.spec import ConfigIssue
from connectors.sources.http_api.bodies import METHODS, REQUEST_FORMATS
from connectors.sources.http_api.definition import DECLARABLE_TYPES, RECORDS_ORDERS
from connectors.sources.http_api.definition import definition_issues as engine_issues
from connectors.sources.http_api.paginators import PAGINATORS

_PATH = {
    "description": 'A dotted path ("data.items") or a list of keys and indexes.',
    "type": ["string", "array"],
    "items": {"type": ["string", "integer"]},
}
_TEXT = {"type": "string", "minLength": 1}
_SCALAR = {"type": ["string", "number", "boolean", "null"]}

_PAGINATOR: dict[str, Any] = {
    "description": "How the stream's pages follow each other (docs/http_api.md); a bare "
    "type name is the paginator of that type with its defaults.",
    "type": ["object", "string"],
    # A string is a type name; JSON Schema says "an enum when a string" with a conditional.
    "if": {"type": "string"},
    "then": {"enum": list(PAGINATORS)},
    "properties": {
        "type": {"enum": list(PAGINATORS)},
        "page_size": {"type": "integer", "minimum": 1},
        "max_pages": {"type": "integer", "minimum": 1},
        "start_page": {"type": "integer", "minimum": 0},
        "size_param": {"type": ["string", "null"]},
        "cursor_path": _PATH,
        "next_url_path": _PATH,
        **{
            key: _TEXT
            for key in ("limit_param", "offset_param", "page_param", "cursor_param", "rel")
        },
    },
    "additionalProperties": False,
}
_INCREMENTAL: dict[str, Any] = {
    "type": "object",
    "description": "Read only what changed since the last sync, by a cursor field.",
    "required": ["cursor_field"],
    "additionalProperties": False,
    "properties": {
        "cursor_field": _TEXT,
        "request_param": _TEXT,
        "start_value": {"type": ["string", "number"]},
        "records_order": {"enum": list(RECORDS_ORDERS)},
        "request_format": {"enum": list(REQUEST_FORMATS)},
        "delta_link_path": _PATH,
        "path": _TEXT,
        "params": {"type": "object", "additionalProperties": _SCALAR},
    },
}

_STREAM: dict[str, Any] = {
    "type": "object",
    "required": ["name", "path"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[A-Za-z0-9_][A-Za-z0-9_.\\-]{0,62}$"},
        "path": {
            "type": "string",
            "minLength": 1,
            "description": "Relative to base_url; may hold {parent.<field>} and "
            "{config.<name>} placeholders.",
        },
        "params": {
            "type": "object",
            "description": "Query parameters; text values may hold {config.<name>}.",
            "additionalProperties": _SCALAR,
        },
        "record_selector": _PATH,
        "primary_key": {"type": ["string", "array"], "items": _TEXT},
        "paginator": _PAGINATOR,
        "parent": {
            "type": "object",
            "required": ["stream"],
            "additionalProperties": False,
            "properties": {"stream": _TEXT, "field": _TEXT, "include_as": _TEXT},
        },
        "incremental": _INCREMENTAL,
        "columns": {"type": "object", "additionalProperties": {"enum": list(DECLARABLE_TYPES)}},
        "add_fields": {"type": "object", "additionalProperties": _PATH},
        "ignore_statuses": {
            "type": "array",
            "items": {"type": "integer", "minimum": 400, "maximum": 599},
        },
        "ignore_error_codes": {"type": "array", "items": _TEXT},
        "method": {"enum": list(METHODS)},
        "request_body": {"type": "object"},
        "result_window": {"type": "integer", "minimum": 1},
    },
}

_CONFIG_FIELD: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {
            "type": "string",
            "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,62}$",
            "not": {"enum": list(CREDENTIAL_KEYS)},
        },
        "type": {"enum": list(CONFIG_FIELD_TYPES), "default": "string"},
        "description": {"type": "string"},
        "required": {"type": "boolean", "default": False},
        "default": {"type": ["string", "number", "boolean", "null"]},
    },
}

DEFINITION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "CustomConnectorDefinition",
    "description": "A custom connector's definition: the http_api manifest (docs/http_api.md) "
    "without credentials, plus the config_fields its connectors fill in. {config.<name>} "
    "placeholders may appear in base_url, token_url, header values, stream paths and param "
    "values.",
    "type": "object",
    "required": ["base_url", "streams"],
    "additionalProperties": False,
    "properties": {
        "base_url": {"type": "string", "minLength": 1, "description": "http:// or https://."},
        "auth_type": {"enum": list(AUTH_TYPES), "default": "none"},
        "api_key_name": _TEXT,
        "api_key_in": {"enum": ["header", "query"], "default": "header"},
        "token_url": _TEXT,
        "scopes": {"type": "string"},
        "client_auth_method": {"enum": ["basic", "body"], "default": "basic"},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "streams": {"type": "array", "minItems": 1, "items": _STREAM},
        "page_size": {"type": "integer", "minimum": 1, "maximum": 100_000},
        "request_timeout_seconds": {"type": "number", "minimum": 0.1, "maximum": 300},
        "max_request_seconds": {"type": "number", "minimum": 0.1, "maximum": 3600},
        "max_response_bytes": {"type": "integer", "minimum": 1024, "maximum": 2**31},
        "max_retries": {"type": "integer", "minimum": 0, "maximum": 20},
        "backoff_base_seconds": {"type": "number", "minimum": 0, "maximum": 60},
        "max_backoff_seconds": {"type": "number", "minimum": 0, "maximum": 600},
        "rate_limit": {"type": "object"},
        "body_errors": {"type": "object"},
        "config_fields": {"type": "array", "items": _CONFIG_FIELD},
    },
}

_VALIDATOR = Draft202012Validator(DEFINITION_SCHEMA)

# jsonschema's keyword -> the reference's (Pydantic's) error type.
_KEYWORD_TYPES = {
    "enum": "enum",
    "minimum": "greater_than_equal",
    "maximum": "less_than_equal",
    "minLength": "string_too_short",
    "minItems": "too_short",
    "pattern": "string_pattern_mismatch",
    "not": "value_error",
}
_JSON_TYPES = {
    "string": "string_type",
    "integer": "int_type",
    "number": "float_type",
    "boolean": "bool_type",
    "object": "dict_type",
    "array": "list_type",
    "null": "none_required",
}
# Stand-in values of a config field's type, to compile a definition for the engine's checks.
_STAND_INS: dict[str, Any] = {
    "string": "x",
    "secret": "x",
    "integer": 1,
    "number": 1,
    "boolean": True,
}


def definition_issues(definition: Any) -> list[ConfigIssue]:
    """Everything wrong with a definition, each located relative to it (`field` the top-level
    key, `path` inside it): the JSON Schema's errors, and when there are none, the
    placeholders' and the http_api engine's."""
    if not isinstance(definition, dict):
        return [ConfigIssue("", "A definition is a JSON object.", "dict_type")]
    issues = unstorable_text_issues(definition)
    if issues:
        return issues
    issues = _credential_issues(definition) + _schema_issues(definition)
    if issues:
        return issues
    issues = _config_field_issues(definition) + _placeholder_issues(definition)
    if issues:
        return issues
    return engine_issues(compile_config(definition, _stand_in_config(definition)))


def unstorable_text_issues(value: Any) -> list[ConfigIssue]:
    """Text that PostgreSQL's jsonb refuses, keys included: a null character, or a lone
    surrogate (JSON allows "\\ud800", UTF-8 does not). Walked without recursion: the value
    may be deep."""
    issues: list[ConfigIssue] = []
    pending: list[tuple[list[str | int], Any]] = [([], value)]
    while pending and len(issues) < 10:
        loc, current = pending.pop()
        texts: list[tuple[list[str | int], Any]] = []
        if isinstance(current, str):
            texts = [(loc, current)]
        elif isinstance(current, dict):
            texts = [(loc, key) for key in current]
            pending.extend(([*loc, str(key)], item) for key, item in current.items())
        elif isinstance(current, list):
            pending.extend(([*loc, index], item) for index, item in enumerate(current))
        for where, text in texts:
            if not isinstance(text, str):
                continue
            if "\x00" in text:
                issues.append(
                    _issue(where, "Null characters are not allowed.", "string_pattern_mismatch")
                )
            elif not _is_utf8(text):
                issues.append(_issue(where, "Input should be valid Unicode text", "string_unicode"))
    return issues


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _issue(loc: list[str | int], msg: str, kind: str) -> ConfigIssue:
    if not loc:
        return ConfigIssue("", msg, kind)
    return ConfigIssue(str(loc[0]), msg, kind, tuple(loc[1:]))


def _credential_issues(definition: dict[str, Any]) -> list[ConfigIssue]:
    return [
        _issue(
            [key],
            "Credentials are never part of a definition: each connector of this type gives "
            "its own in its config.",
            "credentials_forbidden",
        )
        for key in CREDENTIAL_KEYS
        if key in definition
    ]


def _schema_issues(definition: dict[str, Any]) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    errors = sorted(_VALIDATOR.iter_errors(definition), key=lambda e: list(e.absolute_path))
    for error in errors:
        issues.extend(_from_schema_error(error))
    return issues


def _from_schema_error(error: ValidationError) -> list[ConfigIssue]:
    loc: list[str | int] = list(error.absolute_path)
    keyword = str(error.validator)
    if keyword == "required":
        instance = error.instance if isinstance(error.instance, dict) else {}
        return [
            _issue([*loc, name], "Field required", "missing")
            for name in error.validator_value
            if name not in instance
        ]
    if keyword == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        instance = error.instance if isinstance(error.instance, dict) else {}
        if not loc and set(instance) & set(CREDENTIAL_KEYS):
            # Said once, with why, by _credential_issues.
            instance = {k: v for k, v in instance.items() if k not in CREDENTIAL_KEYS}
        return [
            _issue(
                [*loc, key],
                f"Unknown key; known keys: {', '.join(sorted(known))}.",
                "extra_forbidden",
            )
            for key in instance
            if key not in known
        ]
    if keyword == "type":
        expected = error.validator_value
        first = expected[0] if isinstance(expected, list) else expected
        return [_issue(loc, error.message, _JSON_TYPES.get(str(first), "type_error"))]
    if keyword == "not" and loc and loc[-1] == "name":
        return [
            _issue(
                loc,
                "This name is a credential field, which the auth type adds by itself.",
                "value_error",
            )
        ]
    if keyword == "enum":
        choices = ", ".join(str(c) for c in error.validator_value)
        return [_issue(loc, f"Input should be one of: {choices}", "enum")]
    return [_issue(loc, error.message, _KEYWORD_TYPES.get(keyword, "value_error"))]


def _config_field_issues(definition: dict[str, Any]) -> list[ConfigIssue]:
    """Names unique, and each default of its field's type."""
    issues: list[ConfigIssue] = []
    seen: set[str] = set()
    kinds = {"integer": (int,), "number": (int, float), "boolean": (bool,)}
    for index, item in enumerate(definition.get("config_fields") or []):
        name = item["name"]
        if name in seen:
            issues.append(
                _issue(
                    ["config_fields", index, "name"], f"'{name}' is declared twice.", "value_error"
                )
            )
        seen.add(name)
        kind = item.get("type", "string")
        default = item.get("default")
        if default is None:
            continue
        allowed = kinds.get(kind, (str,))
        if not isinstance(default, allowed) or (kind != "boolean" and isinstance(default, bool)):
            issues.append(
                _issue(
                    ["config_fields", index, "default"],
                    f"The default of {_a(kind)} field is {_a(kind)}.",
                    _JSON_TYPES.get(kind, "string_type"),
                )
            )
        if kind == "secret":
            issues.append(
                _issue(
                    ["config_fields", index, "default"],
                    "A secret field has no default: a definition holds no secrets.",
                    "credentials_forbidden",
                )
            )
    return issues


def _placeholder_issues(definition: dict[str, Any]) -> list[ConfigIssue]:
    """Each `{config.<name>}` names a declared config field."""
    declared = {item["name"] for item in definition.get("config_fields") or []}
    texts: list[tuple[list[str | int], str]] = []
    for key in ("base_url", "token_url"):
        if isinstance(definition.get(key), str):
            texts.append(([key], definition[key]))
    for name, value in (definition.get("headers") or {}).items():
        texts.append((["headers", name], value))
    for index, stream in enumerate(definition["streams"]):
        texts.append((["streams", index, "path"], stream["path"]))
        for name, value in (stream.get("params") or {}).items():
            if isinstance(value, str):
                texts.append((["streams", index, "params", name], value))
    issues = []
    for loc, text in texts:
        for name in placeholder_names(text):
            if name not in declared:
                known = ", ".join(sorted(declared)) or "none"
                issues.append(
                    _issue(
                        loc,
                        f"Unknown placeholder {{config.{name}}}: declare it in config_fields "
                        f"(declared: {known}).",
                        "value_error",
                    )
                )
        if "{config." in text and not CONFIG_PLACEHOLDER.search(text):
            issues.append(_issue(loc, "A placeholder is {config.<name>}.", "value_error"))
    return issues


def _stand_in_config(definition: dict[str, Any]) -> dict[str, Any]:
    """A config with every credential and config field set (to its default when it has one):
    what the engine's checks need to judge the definition itself."""
    config: dict[str, Any] = {
        field.name: "x" for field in credential_fields(str(definition.get("auth_type") or "none"))
    }
    for item in definition.get("config_fields") or []:
        default = item.get("default")
        config[item["name"]] = (
            default if default is not None else _STAND_INS.get(item.get("type", "string"), "x")
        )
    return config


def _a(kind: str) -> str:
    """`kind` with its indefinite article: "an integer", "a number"."""
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"
