"""Writes and actions on connectors and destinations."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from billing.rules import connector_quota_check
from connectors import configs, payloads
from connectors.checks import run_check
from connectors.credentials import credential_binding
from connectors.custom.selectors import (
    custom_connector_for_type,
    custom_source_of_version,
    custom_version_get,
    is_custom_type,
)
from connectors.custom.source import COMPILED_URL_FIELDS, CustomApiSource
from connectors.framework import registry, selection
from connectors.framework.base import ConfigError, ConnectorError, Source, Stream
from connectors.framework.base import Destination as DestinationImpl
from connectors.framework.spec import ConfigIssue, ConnectorSpec
from connectors.models import Connector, CustomConnectorVersion, Destination
from landed.accounts.models import Account
from landed.api.errors import (
    BadRequestError,
    ConflictError,
    RequestValidationError,
    UpstreamError,
)
from landed.api.validation import invalid
from landed.security import network
from webhooks.events import EventType, event_raise

logger = logging.getLogger("connectors")


def source_spec(type_name: str) -> ConnectorSpec:
    """The spec of a built-in type (a custom type's depends on the version: see
    `connector_source_class`)."""
    spec = registry.source_spec(type_name)
    if spec is None:
        known = ", ".join(sorted(registry.source_types()))
        raise invalid(
            ["type"],
            f"Input should be one of: {known}, or custom:<id> of one of the account's custom "
            "connectors",
            "enum",
        )
    return spec


def _current_custom_version(account_id: Any, type_name: str) -> CustomConnectorVersion:
    """The version a new connector of a custom type pins: its custom connector's current
    one. 422 on `type` when the custom connector is not the account's or has no definition."""
    custom = custom_connector_for_type(account_id=account_id, type_name=type_name)
    if custom is None:
        raise invalid(["type"], "No custom connector of this account has this type.", "not_found")
    version = custom_version_get(custom_connector=custom, number=custom.current_version)
    if version is None:
        raise invalid(
            ["type"],
            "This custom connector has no definition yet: give it one first "
            "(PATCH /custom-connectors/{id} with a definition).",
            "no_definition",
        )
    return version


def connector_source_class(connector: Connector) -> type[Source]:
    """The class that reads for the connector: its type's, or for a custom type the one of the
    version it pins."""
    if not is_custom_type(connector.type):
        source_spec(connector.type)
        return registry.source_types()[connector.type]
    if connector.custom_version is None:
        raise ConfigError("This connector pins no version of its custom connector.")
    return custom_source_of_version(connector.custom_version)


def destination_spec(type_name: str) -> ConnectorSpec:
    spec = registry.destination_spec(type_name)
    if spec is None:
        known = ", ".join(sorted(registry.destination_types()))
        raise invalid(["type"], f"Input should be one of: {known}", "enum")
    return spec


def _save_unique(instance: Any, kind: str, fields: list[str] | None = None) -> None:
    """Save (only `fields`, for an update: a sync may have changed other columns of the row
    meanwhile); a clash with a unique constraint is a 409 that says which."""
    try:
        with transaction.atomic():
            instance.save(update_fields=None if fields is None else [*fields, "updated_at"])
    except IntegrityError as exc:
        if "connector_schema_unique" in str(exc):
            raise ConflictError(
                "Another connector already loads into this schema of the destination.",
                f"Schema {instance.destination_schema!r} is taken there: choose another "
                "destination, or another destination_schema when creating a connector.",
            ) from exc
        raise ConflictError(
            f"A {kind} with this name already exists.", "Names are unique per account."
        ) from exc


# --- Destinations --------------------------------------------------------------------------
def _check_destination_config(type_name: str, config: dict, account_id: Any) -> None:
    """The spec's field checks, then the type's own (a DuckDB path inside the account's
    directory), then the network policy for its host."""
    spec = destination_spec(type_name)
    configs.check_config(spec, config)
    destination_class = registry.destination_types()[type_name]
    issues = destination_class.config_issues(config, tenant=str(account_id))
    configs.raise_issues(issues + configs.host_issues(spec, config))


def _check_source_config(source_class: type[Source], config: dict, account_id: Any) -> None:
    """The spec's field checks, then the type's own (an HTTP API's stream definitions), then
    the network policy for its host and the hosts of its URLs, then the account's credentials
    it names (a GitHub installation connected to this account)."""
    spec = source_class.spec
    configs.check_config(spec, config)
    issues = source_class.config_issues(config) + configs.host_issues(spec, config)
    configs.raise_issues(
        issues + _url_issues(source_class, config) + _credential_issues(spec, config, account_id)
    )


def _credential_issues(spec: ConnectorSpec, config: dict, account_id: Any) -> list[ConfigIssue]:
    if spec.credentials is None:
        return []
    binding = credential_binding(spec.credentials)
    if binding is None:
        return [
            ConfigIssue(
                "",
                f"This server cannot supply the credentials '{spec.type}' connectors need.",
                "not_supported",
            )
        ]
    return binding.config_issues(account_id=account_id, config=config)


def _url_issues(source_class: type[Source], config: dict) -> list[ConfigIssue]:
    """The network policy's verdict on the hosts of the source's URL fields (a custom type's:
    those of its definition compiled with the config, reported on the config as a whole)."""
    if issubclass(source_class, CustomApiSource):
        compiled = source_class.compiled(config)
        return [
            ConfigIssue("", f"The definition's {issue.field}: {issue.msg}", issue.type)
            for issue in _urls_issues(COMPILED_URL_FIELDS, compiled)
        ]
    return _urls_issues(source_class.url_fields, config)


def _urls_issues(fields: tuple[str, ...], config: dict) -> list[ConfigIssue]:
    issues = []
    for name in fields:
        try:
            url = urlsplit(config.get(name) or "")
            host, port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
        except (TypeError, ValueError):
            continue  # a malformed URL is reported by the type's own checks
        problem = network.host_problem(host, port)
        if problem:
            issues.append(ConfigIssue(name, problem, "host_not_allowed"))
    return issues


def destination_create(*, account: Account, name: str, type: str, config: dict) -> Destination:
    spec = destination_spec(type)
    _check_destination_config(type, config, account.id)
    destination = Destination(account=account, name=name, type=type)
    configs.store(destination, spec, config)
    _save_unique(destination, "destination")
    return destination


def destination_update(
    *, destination: Destination, name: str, type: str, config: dict
) -> Destination:
    """A full update of name and config; the type cannot change. Secret fields left out keep
    their saved values."""
    if type != destination.type:
        raise invalid(["type"], "The type of a destination cannot change.", "type_immutable")
    spec = destination_spec(type)
    configs.check_config(spec, config, partial=True)
    merged = configs.updated_config(destination, spec, config, partial=False)
    _check_destination_config(type, merged, destination.account_id)
    destination.name = name
    configs.store(destination, spec, merged)
    _save_unique(destination, "destination", ["name", "config", "encrypted_secrets"])
    return destination


def destination_delete(*, destination: Destination) -> None:
    try:
        destination.delete()
    except ProtectedError as exc:
        names = ", ".join(sorted(c.name for c in destination.connectors.all()[:10]))
        raise ConflictError(
            "The destination is used by connectors.",
            f"Delete or move these connectors first: {names}.",
        ) from exc


def _destination(type_name: str, config: dict, account_id: Any) -> DestinationImpl:
    spec = destination_spec(type_name)
    cls = registry.destination_types()[type_name]
    return cls(config, tenant=str(account_id), hostaddr=configs.pinned_address(spec, config))


def destination_impl(destination: Destination) -> DestinationImpl:
    """The destination, ready to connect (secrets decrypted, host checked and pinned).
    Raises a ConnectorError when its host is not allowed or does not resolve."""
    spec = destination_spec(destination.type)
    return _destination(
        destination.type, configs.full_config(destination, spec), destination.account_id
    )


def destination_test(*, account: Account, type: str, config: dict) -> dict[str, Any]:
    spec = destination_spec(type)
    _check_destination_config(type, config, account.id)
    full = configs.with_defaults(spec, config)
    return run_check(lambda: _destination(type, full, account.id).check())


def destination_test_saved(*, destination: Destination) -> dict[str, Any]:
    result = run_check(lambda: destination_impl(destination).check())
    if result["status"] == "failed":
        with transaction.atomic():
            event_raise(
                account_id=destination.account_id,
                type=EventType.DESTINATION_TEST_FAILED,
                data={"destination": payloads.destination_data(destination), "test": result},
            )
    return result


# --- Connectors ----------------------------------------------------------------------------
def _default_schema(account: Account, destination: Destination, name: str) -> str:
    base = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "connector"
    if base[0].isdigit() or base.startswith("pg_") or base == "information_schema":
        base = f"c_{base}"
    base = base[:50]
    taken = set(
        Connector.objects.filter(destination=destination).values_list(
            "destination_schema", flat=True
        )
    )
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    return candidate


def connector_create(
    *,
    account: Account,
    name: str,
    type: str,
    config: dict,
    destination: Destination,
    sync_frequency_minutes: int | None,
    paused: bool = False,
    destination_schema: str | None = None,
) -> Connector:
    # A custom type's connector pins its current version, and is checked against it.
    version = _current_custom_version(account.id, type) if is_custom_type(type) else None
    source_class = (
        custom_source_of_version(version)
        if version is not None
        else registry.source_types()[source_spec(type).type]
    )
    spec = source_class.spec
    _check_source_config(source_class, config, account.id)
    if destination_schema is None:
        destination_schema = _default_schema(account, destination, name)
    connector = Connector(
        account=account,
        name=name,
        # A custom type as its custom connector spells it (the id's canonical text).
        type=version.custom_connector.type_name if version is not None else type,
        destination=destination,
        destination_schema=destination_schema,
        sync_frequency_minutes=sync_frequency_minutes,
        paused=paused,
        custom_version=version,
    )
    configs.store(connector, spec, config)
    with transaction.atomic():
        # 402 at the plan's limit; it locks the account's billing row until this commits, so
        # two concurrent creates cannot both take the last place.
        connector_quota_check(account)
        _save_unique(connector, "connector")
        _raise_connector_event(connector, EventType.CONNECTOR_CREATED)
    return connector


def _raise_connector_event(connector: Connector, event_type: EventType) -> None:
    event_raise(
        account_id=connector.account_id,
        type=event_type,
        data={"connector": payloads.connector_data(connector)},
    )


def connector_type_check(*, connector: Connector, data: dict[str, Any]) -> type[Source]:
    """The class that will read for the connector after the update `data` (a custom type's at
    the version `data` re-pins); 422 when `data` would change its type (it cannot change) or
    names a version its custom connector does not have."""
    if "type" in data and data["type"] != connector.type:
        raise invalid(["type"], "The type of a connector cannot change.", "type_immutable")
    if data.get("custom_version") is None:
        return connector_source_class(connector)
    return custom_source_of_version(_pinnable_version(connector, data["custom_version"]))


def _pinnable_version(connector: Connector, number: int) -> CustomConnectorVersion:
    custom = custom_connector_for_type(account_id=connector.account_id, type_name=connector.type)
    if custom is None:
        raise invalid(
            ["custom_version"],
            "Only a connector of a custom type (custom:<id>) pins a version.",
            "not_custom",
        )
    version = custom_version_get(custom_connector=custom, number=number)
    if version is None:
        numbers = ", ".join(str(n) for n in custom.versions.values_list("number", flat=True))
        raise invalid(
            ["custom_version"],
            f"The custom connector has no version {number} (it has: {numbers or 'none'}).",
            "not_found",
        )
    return version


def connector_update(*, connector: Connector, data: dict[str, Any]) -> Connector:
    """A partial update. Config fields merge into the saved config (secrets left out are
    kept). The API goes through `syncs.services.connector_update`, which first
    refuses a change of config or destination while a sync is pending or running."""
    source_class = connector_type_check(connector=connector, data=data)
    spec = source_class.spec
    changed = []
    repinned = data.get("custom_version") is not None
    if "config" in data or repinned:
        given = data.get("config") or {}
        configs.check_config(spec, given, partial=True)
        merged = configs.updated_config(connector, spec, given, partial=True)
        if repinned:
            # Fields the pinned version does not declare (a credential of another auth
            # type) are dropped with the old version.
            merged = {k: v for k, v in merged.items() if spec.field_named(k) is not None}
            connector.custom_version = _pinnable_version(connector, data["custom_version"])
            changed.append("custom_version")
        _check_source_config(source_class, merged, connector.account_id)
        configs.store(connector, spec, merged)
        changed += ["config", "encrypted_secrets"]
    for field in ("name", "destination", "sync_frequency_minutes", "paused"):
        if field in data:
            setattr(connector, field, data[field])
            changed.append(field)
    with transaction.atomic():
        _save_unique(connector, "connector", changed)
        _raise_connector_event(connector, EventType.CONNECTOR_UPDATED)
    return connector


def connectors_config_replace(
    *, account_id: Any, types: list[str], field: str, old: Any, new: Any
) -> list[Connector]:
    """Set `field` to `new` in the config of the account's connectors of `types` that hold
    `old` there (credentials that moved: a GitHub App installed again gets a new installation
    id), raising `connector.updated` for each. A connector's `updated_at` moves with it: a
    schedule stopped for reauthorization resumes (syncs.selectors)."""
    changed = []
    candidates = Connector.objects.select_for_update().filter(account_id=account_id, type__in=types)
    with transaction.atomic():
        for connector in candidates:
            if connector.config.get(field) != old:
                continue
            connector.config = {**connector.config, field: new}
            connector.save(update_fields=["config", "updated_at"])
            _raise_connector_event(connector, EventType.CONNECTOR_UPDATED)
            changed.append(connector)
    return changed


def connectors_touch(*, connectors: list[Connector]) -> None:
    """Mark connectors as changed (their `updated_at`) with `connector.updated`: what they
    depend on outside their own config changed (their credentials were authorized again), so
    that a schedule stopped for reauthorization resumes (syncs.selectors)."""
    with transaction.atomic():
        for connector in connectors:
            connector.save(update_fields=["updated_at"])
            _raise_connector_event(connector, EventType.CONNECTOR_UPDATED)


def connector_delete(*, connector: Connector) -> None:
    """Removes the connector with its jobs, stream state and schema history (not the
    destination's tables), raising `connector.deleted`. The API and the admin go through
    `syncs.services.connector_delete`, which first settles its active job, in the same
    transaction."""
    with transaction.atomic():
        # Built before the row goes: the connector as it was.
        _raise_connector_event(connector, EventType.CONNECTOR_DELETED)
        connector.delete()


def source_impl(connector: Connector) -> Source:
    """The source, ready to connect (secrets decrypted, host checked and pinned, the
    credentials the platform supplies bound). Raises a ConnectorError when its host is not
    allowed or does not resolve, or its credentials cannot be had."""
    cls = connector_source_class(connector)
    spec = cls.spec
    config = configs.full_config(connector, spec)
    if spec.credentials is not None:
        binding = credential_binding(spec.credentials)
        if binding is None:
            raise ConfigError(
                f"This server cannot supply the credentials '{spec.type}' connectors need."
            )
        config, provider = binding.bind(account_id=connector.account_id, config=config)
        return cls(config, allow_private_networks=network.private_allowed(), credentials=provider)
    if spec.host_field is None:
        # No single host to pin (an HTTP API's URLs): the source checks every connection it
        # opens against the policy handed to it.
        return cls(config, allow_private_networks=network.private_allowed())
    return cls(config, hostaddr=configs.pinned_address(spec, config))


def connector_test(*, connector: Connector) -> dict[str, Any]:
    result = run_check(lambda: source_impl(connector).check())
    if result["status"] == "failed":
        with transaction.atomic():
            event_raise(
                account_id=connector.account_id,
                type=EventType.CONNECTOR_TEST_FAILED,
                data={"connector": payloads.connector_data(connector), "test": result},
            )
    return result


def connector_discover(*, connector: Connector) -> list[Stream]:
    """Live discovery. A source that cannot be reached is a 502 (an upstream failure); one that
    refuses the credentials or the config is a 400 the user can act on."""
    try:
        return source_impl(connector).discover()
    except ConnectorError as exc:
        error = UpstreamError if exc.retryable else BadRequestError
        raise error("Stream discovery failed.", {"type": exc.kind, "message": exc.message}) from exc
    except Exception as exc:
        logger.exception("connectors.discover_crashed connector=%s", connector.id)
        raise UpstreamError(
            "Stream discovery failed.",
            {
                "type": "internal_error",
                "message": "The source answered in a way Landed could "
                "not read; quote the X-Request-ID to support.",
            },
        ) from exc


def connector_streams(*, connector: Connector) -> list[selection.StreamSelection]:
    return _resolve(connector_discover(connector=connector), connector.streams)


def _resolve(
    discovered: list[Stream], saved: list[dict[str, Any]]
) -> list[selection.StreamSelection]:
    """`selection.resolve`, with a saved entry it cannot read (a mode the API never accepted)
    as a 400 naming the stream: sending that stream's settings again repairs it."""
    try:
        return selection.resolve(discovered, saved)
    except ConfigError as exc:
        raise BadRequestError(
            "The saved stream settings cannot be read.",
            {"type": exc.kind, "message": exc.message, "stream": exc.stream},
        ) from exc


@dataclass(frozen=True)
class StreamsChange:
    """A new stream selection, checked against live discovery and ready to save."""

    streams: list[dict[str, Any]]
    resolved: list[selection.StreamSelection]
    # Enabled streams that the saved selection had disabled.
    reenabled: list[selection.StreamSelection]


def connector_streams_check(
    *, connector: Connector, entries: list[dict[str, Any]]
) -> StreamsChange:
    """The selection `entries` make, merged into the saved one and checked against live
    discovery (422 naming each bad entry). Writes nothing: `connector_streams_save` does. The
    API goes through `syncs.services.connector_streams_update`, which does both."""
    discovered = connector_discover(connector=connector)
    problems = selection.validate(discovered, entries)
    if problems:
        raise RequestValidationError(
            [
                {
                    "loc": ["body", "streams", p["index"], p["field"]],
                    "msg": p["msg"],
                    "type": p["type"],
                }
                for p in problems
            ]
        )
    saved = {entry["name"]: entry for entry in connector.streams}
    for entry in entries:
        saved[entry["name"]] = {
            "name": entry["name"],
            "enabled": entry["enabled"],
            "sync_mode": entry["sync_mode"],
            "load_mode": entry["load_mode"],
            "cursor_field": entry.get("cursor_field"),
            "primary_key": list(entry.get("primary_key") or []),
        }
    # Read from the saved entries as they are (not resolved), so that an entry that cannot be
    # resolved is repaired by sending its stream again.
    was_disabled = {entry["name"] for entry in connector.streams if not entry.get("enabled", True)}
    streams = list(saved.values())
    resolved = _resolve(discovered, streams)
    return StreamsChange(
        streams=streams,
        resolved=resolved,
        reenabled=[s for s in resolved if s.enabled and s.stream.name in was_disabled],
    )


def connector_streams_save(*, connector: Connector, change: StreamsChange) -> None:
    """Save a checked selection, raising `connector.updated` with it."""
    connector.streams = change.streams
    with transaction.atomic():
        connector.save(update_fields=["streams", "updated_at"])
        _raise_connector_event(connector, EventType.CONNECTOR_UPDATED)
