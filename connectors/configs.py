"""Connector and destination configs: validated against the type's spec, split into plain and
secret parts for storage, joined again (decrypted) for the code that connects."""

from __future__ import annotations

import re
from typing import Any

from connectors.framework.base import HostNotAllowedError, UnreachableError
from connectors.framework.spec import ConfigIssue, ConnectorSpec, validate_config, with_defaults
from landed.api.errors import RequestValidationError
from landed.security import network
from landed.security.secrets import decrypt_secrets, encrypt_secrets

__all__ = [
    "SCHEMA_NAME",
    "check_config",
    "full_config",
    "host_issues",
    "pinned_address",
    "raise_issues",
    "secrets_set",
    "store",
    "updated_config",
    "with_defaults",
]

# A connector's destination schema: a lower-case identifier within PostgreSQL's 63 bytes.
SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_config(spec: ConnectorSpec, config: Any, *, partial: bool = False) -> None:
    """422 naming each bad field (`loc` ["body", "config", <field>])."""
    raise_issues(validate_config(spec, config, partial=partial))


def host_issues(spec: ConnectorSpec, config: dict[str, Any]) -> list[ConfigIssue]:
    """The network policy's verdict on the config's host, as a field issue."""
    if spec.host_field is None:
        return []
    problem = network.host_problem(config.get(spec.host_field), config.get("port", 5432))
    return [ConfigIssue(spec.host_field, problem, "host_not_allowed")] if problem else []


def pinned_address(spec: ConnectorSpec, config: dict[str, Any]) -> str | None:
    """The checked address to connect to, or None when the policy allows any (or the type
    names no host). Raises HostNotAllowedError, or UnreachableError when it does not resolve:
    the policy's answers as the connector's errors."""
    if spec.host_field is None:
        return None
    host = config.get(spec.host_field)
    try:
        return network.pinned_address(host, config.get("port"))
    except network.HostNotAllowedError as exc:
        raise HostNotAllowedError(str(exc)) from None
    except (OSError, UnicodeError) as exc:
        raise UnreachableError(f"The host {host!r} could not be resolved.") from exc


def raise_issues(issues: list[ConfigIssue]) -> None:
    if issues:
        raise RequestValidationError(
            [
                {
                    "loc": ["body", "config", *([i.field] if i.field else []), *i.path],
                    "msg": i.msg,
                    "type": i.type,
                }
                for i in issues
            ]
        )


def split_secrets(spec: ConnectorSpec, config: dict[str, Any]) -> tuple[dict, dict]:
    secret_names = set(spec.secret_fields)
    plain = {k: v for k, v in config.items() if k not in secret_names}
    secrets = {k: v for k, v in config.items() if k in secret_names and v is not None}
    return plain, secrets


def updated_config(
    instance: Any, spec: ConnectorSpec, config: dict[str, Any], *, partial: bool
) -> dict:
    """The whole config after an update with `config`. Saved secrets absent from `config` are
    kept: secrets are never sent to clients, so a client cannot send them back. A partial
    update keeps absent plain fields too; a full one replaces them."""
    plain, secrets = split_secrets(spec, config)
    saved_secrets = decrypt_secrets(instance.encrypted_secrets)
    base_plain = dict(instance.config) if partial else {}
    merged = {**base_plain, **plain, **saved_secrets, **secrets}
    # An explicit null clears an optional field, a secret one included.
    cleared = {name for name, value in config.items() if value is None}
    return {k: v for k, v in merged.items() if v is not None and k not in cleared}


def store(instance: Any, spec: ConnectorSpec, config: dict[str, Any]) -> None:
    """Set `instance.config` (plain fields) and `instance.encrypted_secrets` from `config`."""
    plain, secrets = split_secrets(spec, config)
    instance.config = plain
    instance.encrypted_secrets = encrypt_secrets(secrets)


def full_config(instance: Any, spec: ConnectorSpec) -> dict[str, Any]:
    """Plain config, decrypted secrets and the spec's defaults: what a connector is handed."""
    return with_defaults(spec, {**instance.config, **decrypt_secrets(instance.encrypted_secrets)})


def secrets_set(instance: Any) -> list[str]:
    return sorted(decrypt_secrets(instance.encrypted_secrets))
