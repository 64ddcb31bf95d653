"""What a connector type asks for: its spec, with typed fields (compare a peer's `authFields`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

FieldType = Literal["string", "integer", "number", "boolean", "enum", "secret", "json"]


@dataclass(frozen=True)
class SpecField:
    name: str
    type: FieldType
    description: str
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()  # for `enum`
    minimum: float | None = None
    maximum: float | None = None

    @property
    def secret(self) -> bool:
        return self.type == "secret"

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "description": self.description,
            "secret": self.secret,
        }
        if self.type == "enum":
            data["choices"] = list(self.choices)
        if self.minimum is not None:
            data["minimum"] = self.minimum
        if self.maximum is not None:
            data["maximum"] = self.maximum
        return data


@dataclass(frozen=True)
class ConnectorSpec:
    type: str
    display_name: str
    description: str
    category: str  # "database", "sample", "api", "warehouse", "file"
    auth_method: str  # "password", "none", "api_key", "oauth2", "file", "github_app"
    fields: tuple[SpecField, ...]
    supports_incremental: bool = False
    # The stream schema is the same for every connector of this type (sample): served by
    # `GET /connectors/catalog/{type}/schema` without credentials.
    static_schema: bool = False
    tags: tuple[str, ...] = field(default_factory=tuple)
    # The field naming a network host the connector connects to: checked against the
    # server's network policy (no private addresses unless allowed) before any connection.
    host_field: str | None = None
    # Credentials the platform supplies rather than the config holds (a GitHub App
    # installation's tokens): the kind, for which the Django side registers a binding that
    # checks the config and builds the source's TokenProvider (connectors/credentials.py).
    credentials: str | None = None

    def field_named(self, name: str) -> SpecField | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def secret_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.secret)


@dataclass(frozen=True)
class ConfigIssue:
    """One problem with a config, located by field name (the API turns it into a 422 item);
    `path` locates it inside a structured (json) field, e.g. ("streams", 0, "paginator")."""

    field: str
    msg: str
    type: str
    path: tuple[str | int, ...] = ()


def validate_config(
    spec: ConnectorSpec, config: Any, *, partial: bool = False
) -> list[ConfigIssue]:
    """Check `config` against the spec's fields: unknown fields, missing required ones, types,
    enum choices and bounds. `partial` skips the missing-field check (for updates)."""
    if not isinstance(config, dict):
        return [ConfigIssue("", "Config must be a JSON object.", "dict_type")]
    issues: list[ConfigIssue] = []
    known = {f.name for f in spec.fields}
    for name in config:
        if not _is_unicode(name):
            issues.append(ConfigIssue(_printable(name), "Invalid field name.", "string_unicode"))
        elif name not in known:
            issues.append(
                ConfigIssue(name, f"Unknown field for type '{spec.type}'.", "extra_forbidden")
            )
    for spec_field in spec.fields:
        if spec_field.name not in config:
            if spec_field.required and not partial:
                issues.append(ConfigIssue(spec_field.name, "Field required", "missing"))
            continue
        issue = _check_value(spec_field, config[spec_field.name])
        if issue:
            issues.append(issue)
    return issues


def _check_value(spec_field: SpecField, value: Any) -> ConfigIssue | None:
    name = spec_field.name
    if value is None:
        if spec_field.required:
            return ConfigIssue(name, "Field required", "missing")
        return None
    kind = spec_field.type
    if not _is_unicode(value):
        return ConfigIssue(name, "Input should be valid Unicode text", "string_unicode")
    if kind in ("string", "secret", "enum"):
        if not isinstance(value, str):
            return ConfigIssue(name, "Input should be a valid string", "string_type")
        if "\x00" in value:
            return ConfigIssue(name, "Null characters are not allowed.", "string_pattern_mismatch")
        if spec_field.required and value == "":
            return ConfigIssue(name, "String should have at least 1 character", "string_too_short")
        if kind == "enum" and value not in spec_field.choices:
            choices = ", ".join(spec_field.choices)
            return ConfigIssue(name, f"Input should be one of: {choices}", "enum")
        return None
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return ConfigIssue(name, "Input should be a valid integer", "int_type")
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return ConfigIssue(name, "Input should be a valid number", "float_type")
    elif kind == "boolean":
        if not isinstance(value, bool):
            return ConfigIssue(name, "Input should be a valid boolean", "bool_type")
        return None
    elif kind == "json":
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            return ConfigIssue(name, "Input should be JSON", "json_type")
        if _holds_nul(value):  # PostgreSQL's jsonb refuses "\u0000"
            return ConfigIssue(name, "Null characters are not allowed.", "string_pattern_mismatch")
        return None
    if spec_field.minimum is not None and value < spec_field.minimum:
        return ConfigIssue(
            name,
            f"Input should be greater than or equal to {spec_field.minimum:g}",
            "greater_than_equal",
        )
    if spec_field.maximum is not None and value > spec_field.maximum:
        return ConfigIssue(
            name, f"Input should be less than or equal to {spec_field.maximum:g}", "less_than_equal"
        )
    return None


def _holds_nul(value: Any) -> bool:
    """Whether a null character is in any text of a nested value, keys included (walked
    without recursion: the value may be deep)."""
    pending = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, str):
            if "\x00" in current:
                return True
        elif isinstance(current, dict):
            pending.extend(current.keys())
            pending.extend(current.values())
        elif isinstance(current, list | tuple):
            pending.extend(current)
    return False


def _is_unicode(value: Any) -> bool:
    """False for text holding lone surrogates (JSON allows "\\ud800"; UTF-8 and PostgreSQL
    do not), anywhere in a nested value."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    except (TypeError, ValueError):
        return True
    return True


def _printable(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


def with_defaults(spec: ConnectorSpec, config: dict[str, Any]) -> dict[str, Any]:
    """`config` with the spec's defaults filled in for absent fields."""
    merged = {f.name: f.default for f in spec.fields if f.default is not None}
    merged.update({k: v for k, v in config.items() if v is not None})
    return merged
