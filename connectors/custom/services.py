"""Writes on custom connectors: the row, and the versions of its definition (each immutable;
a new one becomes current, connectors keep the one they pinned)."""

from __future__ import annotations

import json
from typing import Any

import yaml
from django.db import IntegrityError, transaction
from django.db.models import Max, ProtectedError

from connectors.custom.schema import definition_issues, unstorable_text_issues
from connectors.custom.selectors import custom_connector_list, custom_connector_users
from connectors.models import CustomConnector, CustomConnectorVersion
from landed.accounts.models import Account
from landed.api.errors import ConflictError, NotFoundError, RequestValidationError
from landed.api.validation import invalid

# The fields of the row a PATCH may set besides the definition.
ROW_FIELDS = (
    "name",
    "description",
    "base_url",
    "documentation_url",
    "openapi_url",
    "openapi_document",
    "auth_kind",
)


# libyaml's safe loader: linear time and a bound on nesting, where the pure-Python one takes
# seconds on a few thousand nested brackets.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def custom_connector_get(*, account: Account, custom_connector_id: Any) -> CustomConnector:
    """The account's custom connector; 404 for another account's (or none)."""
    custom = custom_connector_list(account=account).filter(id=custom_connector_id).first()
    if custom is None:
        raise NotFoundError("Custom connector not found")
    return custom


def openapi_document_parse(raw: Any) -> dict[str, Any] | None:
    """An OpenAPI 3 or Swagger 2 document given as an object, or as text holding JSON or
    YAML; 422 on `openapi_document` for anything else."""
    if raw is None:
        return None
    document = raw
    if isinstance(raw, str):
        try:
            if any(isinstance(e, yaml.AliasEvent) for e in yaml.parse(raw, Loader=_YAML_LOADER)):
                # An alias repeats a node: a few nested ones make a document exponentially
                # large once written out as JSON.
                raise invalid(
                    ["openapi_document"],
                    "YAML anchors and aliases are not accepted: write the document out.",
                    "value_error",
                )
            # YAML reads JSON too; the safe loader builds plain data only.
            document = yaml.load(raw, Loader=_YAML_LOADER)  # noqa: S506 (a safe loader)
        except (yaml.YAMLError, RecursionError, ValueError) as exc:
            # ValueError: an integer of more digits than Python converts.
            where = getattr(exc, "problem_mark", None)
            at = f" (line {where.line + 1})" if where is not None else ""
            raise invalid(
                ["openapi_document"], f"Not valid JSON or YAML{at}.", "json_invalid"
            ) from exc
    if not isinstance(document, dict) or not (
        isinstance(document.get("openapi"), str) or document.get("swagger") == "2.0"
    ):
        raise invalid(
            ["openapi_document"],
            "Give an OpenAPI 3 or Swagger 2 document: an object with an `openapi` (or "
            '`swagger: "2.0"`) member.',
            "value_error",
        )
    try:
        # Stored as JSON: YAML's dates and other non-JSON values become text; NaN is refused.
        stored = dict(json.loads(json.dumps(document, default=str, allow_nan=False)))
    except (ValueError, RecursionError) as exc:
        raise invalid(["openapi_document"], "Not representable as JSON.", "value_error") from exc
    issues = unstorable_text_issues(stored)
    if issues:
        first = issues[0]
        raise invalid(
            ["openapi_document", *([first.field] if first.field else []), *first.path],
            first.msg,
            first.type,
        )
    return stored


def _definition_with_base_url(custom: CustomConnector, definition: Any) -> Any:
    if isinstance(definition, dict) and "base_url" not in definition:
        return {**definition, "base_url": custom.base_url}
    return definition


def custom_version_create(
    *, custom_connector: CustomConnector, definition: Any, origin: str = "manual"
) -> CustomConnectorVersion:
    """A new version of the definition (numbered after the highest), made current; the row's
    auth_kind follows the definition's auth type. 422 with `loc` ["body", "definition", ...]
    naming each problem of an invalid definition."""
    issues = definition_issues(definition)
    if issues:
        raise RequestValidationError(
            [
                {
                    "loc": ["body", "definition", *([i.field] if i.field else []), *i.path],
                    "msg": i.msg,
                    "type": i.type,
                }
                for i in issues
            ]
        )
    with transaction.atomic():
        # Locked: two versions made at once get two numbers.
        custom = CustomConnector.objects.select_for_update().get(pk=custom_connector.pk)
        highest = custom.versions.aggregate(highest=Max("number"))["highest"] or 0
        version = CustomConnectorVersion.objects.create(
            custom_connector=custom, number=highest + 1, definition=definition, origin=origin
        )
        custom.current_version = version.number
        custom.auth_kind = str(definition.get("auth_type") or "none")
        custom.save(update_fields=["current_version", "auth_kind", "updated_at"])
    custom_connector.current_version = custom.current_version
    custom_connector.auth_kind = custom.auth_kind
    return version


def _save_unique(custom: CustomConnector, fields: list[str] | None = None) -> None:
    try:
        with transaction.atomic():
            custom.save(update_fields=None if fields is None else [*fields, "updated_at"])
    except IntegrityError as exc:
        raise ConflictError(
            "A custom connector with this name already exists.", "Names are unique per account."
        ) from exc


def _row_values(data: dict[str, Any]) -> dict[str, Any]:
    """The row's columns from the API's fields: null URLs stored as blank."""
    values = {key: data[key] for key in ROW_FIELDS if key in data}
    for key in ("description", "documentation_url", "openapi_url"):
        if key in values and values[key] is None:
            values[key] = ""
    if "openapi_document" in values:
        values["openapi_document"] = openapi_document_parse(values["openapi_document"])
    return values


def custom_connector_create(*, account: Account, data: dict[str, Any]) -> CustomConnector:
    """The row, and its first version when `data` has a definition (its base_url defaults to
    the row's). Nothing is saved when the definition is invalid."""
    custom = CustomConnector(account=account, **_row_values(data))
    with transaction.atomic():
        _save_unique(custom)
        if data.get("definition") is not None:
            custom_version_create(
                custom_connector=custom,
                definition=_definition_with_base_url(custom, data["definition"]),
                origin="manual",
            )
    return custom


def custom_connector_update(*, custom_connector: CustomConnector, data: dict[str, Any]) -> None:
    """A partial update; a definition makes a new version (origin manual), which new
    connectors pin; existing connectors keep theirs until re-pinned."""
    values = _row_values(data)
    for key, value in values.items():
        setattr(custom_connector, key, value)
    with transaction.atomic():
        if values:
            _save_unique(custom_connector, list(values))
        if data.get("definition") is not None:
            custom_version_create(
                custom_connector=custom_connector,
                definition=_definition_with_base_url(custom_connector, data["definition"]),
                origin="manual",
            )


def custom_connector_delete(*, custom_connector: CustomConnector) -> None:
    """Deletes it with its versions; 409 naming the connectors of its type."""
    try:
        with transaction.atomic():
            if not custom_connector_users(custom_connector=custom_connector).exists():
                custom_connector.delete()
                return
    except ProtectedError:
        pass  # a connector pinned one of its versions meanwhile
    names = ", ".join(
        c.name for c in custom_connector_users(custom_connector=custom_connector)[:20]
    )
    raise ConflictError(
        "The custom connector is used by connectors.",
        f"Delete these connectors first: {names}.",
    )
