"""`POST /custom-connectors/{id}/test`: a definition (a stored version, or one sent to try)
test-read in the sandbox with the config given (credentials and config fields, never
stored). A bad definition or config is a 422; the API under test failing is a result
(`status: failed`, with per-stream errors), not an error of the request."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from connectors.configs import check_config, raise_issues, with_defaults
from connectors.custom.compile import custom_spec
from connectors.custom.sandbox.runner import run_sandbox_test
from connectors.custom.schema import definition_issues
from connectors.custom.selectors import custom_version_get
from connectors.custom.source import custom_source_class
from connectors.framework.spec import ConfigIssue
from connectors.models import CustomConnector
from landed.api.errors import RequestValidationError
from landed.api.validation import invalid


def definition_invalid(issues: list[ConfigIssue]) -> RequestValidationError:
    """The 422 naming each problem of a definition sent in the body."""
    return RequestValidationError(
        [
            {
                "loc": ["body", "definition", *([i.field] if i.field else []), *i.path],
                "msg": i.msg,
                "type": i.type,
            }
            for i in issues
        ]
    )


def definition_to_test(
    *, custom_connector: CustomConnector, version: int | None, definition: Any
) -> tuple[dict[str, Any], int | None]:
    """The definition a test reads with, and its version number (None for one sent in the
    body): the one sent, else the version asked for, else the current one."""
    if definition is not None:
        if isinstance(definition, dict) and "base_url" not in definition:
            definition = {**definition, "base_url": custom_connector.base_url}
        issues = definition_issues(definition)
        if issues:
            raise definition_invalid(issues)
        return definition, None
    number = version if version is not None else custom_connector.current_version
    if number is None:
        raise invalid(
            ["definition"],
            "The custom connector has no definition yet: send one, or generate one first.",
            "missing",
        )
    stored = custom_version_get(custom_connector=custom_connector, number=number)
    if stored is None:
        raise invalid(["version"], f"The custom connector has no version {number}.", "not_found")
    return stored.definition, stored.number


def custom_connector_test(
    *,
    custom_connector: CustomConnector,
    config: dict[str, Any],
    version: int | None = None,
    definition: Any = None,
    max_records: int = 20,
) -> dict[str, Any]:
    if not 1 <= max_records <= settings.SANDBOX_MAX_RECORDS:
        raise invalid(
            ["max_records"],
            f"Input should be between 1 and {settings.SANDBOX_MAX_RECORDS} (SANDBOX_MAX_RECORDS).",
            "less_than_equal" if max_records > 1 else "greater_than_equal",
        )
    tested, number = definition_to_test(
        custom_connector=custom_connector, version=version, definition=definition
    )
    spec = custom_spec(
        type_name=custom_connector.type_name,
        display_name=custom_connector.name,
        description=custom_connector.description,
        definition=tested,
    )
    check_config(spec, config)
    # What the config's values make of the definition (a base_url a placeholder made
    # invalid): the 422 a connector with this config gets, not a test that cannot start.
    source_class = custom_source_class(
        type_name=spec.type,
        display_name=custom_connector.name,
        description=custom_connector.description,
        definition=tested,
    )
    raise_issues(source_class.config_issues(config))
    return run_sandbox_test(
        definition=tested,
        config=with_defaults(spec, config),
        max_records=max_records,
        version=number,
    )
