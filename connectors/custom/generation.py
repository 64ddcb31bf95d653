"""Generating a custom connector's definition (`POST /custom-connectors/{id}/generate`): an
attempt is queued (`generation_start`), and a worker runs it (`generation_run`, the task
`connectors.custom_generate`):

1. the discovery: the one stored on the custom connector, or one run now;
2. the deterministic definition made from it (`definition_from_discovery`);
3. with an LLM provider configured, the model's refinement of it, which must pass the same
   validation, or the deterministic definition is kept (the attempt's errors say so);
4. validation (`definition_issues`): a definition with problems fails the attempt;
5. a test-read in the sandbox with the credentials given (`run_sandbox_test`);
6. succeeded: a new version (origin "generated") made current, with the diff against the
   version the attempt started from; failed: the errors of the step that failed.

The credentials are kept encrypted on the attempt only while it runs: erased when it ends,
either way. See docs/custom_connector_testing.md.
"""

from __future__ import annotations

import difflib
import json
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from connectors.configs import with_defaults
from connectors.custom.compile import custom_spec
from connectors.custom.discover import custom_connector_discover
from connectors.custom.discovery.definition import definition_from_discovery
from connectors.custom.llm import llm_refine_definition
from connectors.custom.sandbox.runner import run_sandbox_test
from connectors.custom.schema import definition_issues
from connectors.custom.services import custom_version_create
from connectors.framework.spec import ConfigIssue, validate_config
from connectors.models import CustomConnector, CustomConnectorGeneration
from landed.api.errors import ApplicationError, ConflictError
from landed.llm.client import llm_configured
from landed.security.secrets import decrypt_secrets, encrypt_secrets
from landed.tasks import enqueue_on_commit

logger = logging.getLogger("connectors.custom.generation")

GENERATE_TASK = "connectors.custom_generate"
GENERATION_STATUSES = CustomConnectorGeneration.STATUSES
ACTIVE_STATUSES = ("queued", "running")
# Records read per stream by a generation's test-read (as many as a test's default).
GENERATION_TEST_RECORDS = 20
# An attempt still queued this long after it was made, or running this long after it started,
# is taken as lost (its message, its worker): the next generation ends it failed rather than
# wait for it, and a redelivered task of a running one runs it again.
STALE_AFTER = timedelta(minutes=10)


def _lost(custom_connector: CustomConnector) -> QuerySet[CustomConnectorGeneration]:
    """Attempts that should have ended by now: queued or running for longer than STALE_AFTER
    (their message or their worker was lost)."""
    stale = timezone.now() - STALE_AFTER
    return custom_connector.generations.filter(
        Q(status="queued", created_at__lt=stale) | Q(status="running", started_at__lt=stale)
    )


def generation_start(
    *, custom_connector: CustomConnector, config: dict[str, Any]
) -> CustomConnectorGeneration:
    """A queued attempt, its credentials encrypted, sent to a worker once committed; 409 when
    one is queued or running already."""
    with transaction.atomic():
        # Locked: two requests at once cannot both find no attempt under way.
        locked = CustomConnector.objects.select_for_update().get(pk=custom_connector.pk)
        # Lost attempts end failed (their credentials erased) rather than hold this one back.
        _lost(locked).update(
            status="failed",
            errors=[
                {
                    "stage": "internal",
                    "type": "lost",
                    "message": "The attempt did not end in time: its worker or its message "
                    "was lost.",
                }
            ],
            encrypted_config="",
            finished_at=timezone.now(),
        )
        under_way = locked.generations.filter(status__in=ACTIVE_STATUSES).first()
        if under_way is not None:
            raise ConflictError(
                "A generation is already under way.",
                f"Generation {under_way.id} is {under_way.status}: wait for it to end.",
            )
        generation = CustomConnectorGeneration.objects.create(
            custom_connector=locked,
            base_version=locked.current_version,
            encrypted_config=encrypt_secrets(config),
        )
        enqueue_on_commit(GENERATE_TASK, str(generation.id))
    return generation


def generation_list(*, custom_connector: CustomConnector) -> QuerySet[CustomConnectorGeneration]:
    return custom_connector.generations.select_related("version").order_by("-created_at", "id")


def _claim(generation_id: Any) -> CustomConnectorGeneration | None:
    """The attempt, marked running, when it is this worker's to run: queued, or running
    since longer than STALE_AFTER (its worker was lost: the task, acknowledged late, is
    delivered again). None otherwise (done, or running elsewhere): a task delivered twice
    runs it once."""
    now = timezone.now()
    claimable = Q(status="queued") | Q(status="running", started_at__lt=now - STALE_AFTER)
    with transaction.atomic():
        generation = (
            CustomConnectorGeneration.objects.select_for_update()
            .filter(claimable, id=generation_id)
            .first()
        )
        if generation is None:
            return None
        generation.status = "running"
        generation.started_at = now
        generation.save(update_fields=["status", "started_at"])
    return generation


class _Failed(Exception):
    """A step failed: the attempt ends failed with `errors`."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "failed")
        self.errors = errors


def generation_run(*, generation_id: Any) -> CustomConnectorGeneration | None:
    """Run a queued attempt to its end (see the module's docstring); None when it is not
    this call's to run."""
    generation = _claim(generation_id)
    if generation is None:
        logger.info("connectors.custom_generate_skipped generation=%s", generation_id)
        return None
    custom = generation.custom_connector
    errors: list[dict[str, Any]] = []
    try:
        config = decrypt_secrets(generation.encrypted_config)
        definition = _generated_definition(generation, custom, config, errors)
        generation.definition = definition
        spec = custom_spec(
            type_name=custom.type_name,
            display_name=custom.name,
            description=custom.description,
            definition=definition,
        )
        config_problems = validate_config(spec, config)
        if config_problems:
            raise _Failed([_issue_error("config", ["config"], i) for i in config_problems])
        test = run_sandbox_test(
            definition=definition,
            config=with_defaults(spec, config),
            max_records=min(GENERATION_TEST_RECORDS, settings.SANDBOX_MAX_RECORDS),
        )
        generation.test = test
        if test["status"] != "succeeded":
            raise _Failed(_test_errors(test))
        version = custom_version_create(
            custom_connector=custom, definition=definition, origin="generated"
        )
        generation.version = version
        generation.test = {**test, "version": version.number}
        generation.status = "succeeded"
    except _Failed as failure:
        errors.extend(failure.errors)
        generation.status = "failed"
    except Exception as exc:
        # Unexpected: recorded on the attempt (it must not stay running), then raised for the
        # worker's log.
        logger.exception("connectors.custom_generate_crashed generation=%s", generation.id)
        errors.append({"stage": "internal", "type": "crashed", "message": type(exc).__name__})
        generation.status = "failed"
        _finish(generation, custom, errors)
        raise
    _finish(generation, custom, errors)
    return generation


def _finish(
    generation: CustomConnectorGeneration, custom: CustomConnector, errors: list[dict[str, Any]]
) -> None:
    """The attempt's end: its errors, its diff against the version it started from, and its
    credentials erased."""
    generation.errors = errors
    if generation.definition is not None:
        generation.diff = definition_diff(custom, generation.base_version, generation.definition)
    generation.encrypted_config = ""
    generation.finished_at = timezone.now()
    generation.save()
    logger.info(
        "connectors.custom_generate_finished generation=%s status=%s",
        generation.id,
        generation.status,
    )


def _generated_definition(
    generation: CustomConnectorGeneration,
    custom: CustomConnector,
    config: dict[str, Any],
    errors: list[dict[str, Any]],
) -> dict[str, Any]:
    """Steps 1 to 4: a valid definition, or _Failed."""
    discovery = custom.discovery
    if not discovery:
        try:
            discovery = custom_connector_discover(custom_connector=custom, config=config)
        except ApplicationError as exc:
            detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
            message = f"{exc.message}: {detail}" if exc.detail else exc.message
            failure = {"stage": "discovery", "type": "discovery_failed", "message": message}
            raise _Failed([failure]) from exc
    definition = definition_from_discovery(discovery)
    if not definition.get("base_url"):
        definition["base_url"] = custom.base_url
    issues = definition_issues(definition)
    if llm_configured():
        definition, issues = _refined(generation, custom, discovery, definition, issues, errors)
    if issues:
        raise _Failed([_issue_error("validation", ["definition"], i) for i in issues])
    if not definition.get("streams"):
        raise _Failed(
            [
                {
                    "stage": "discovery",
                    "type": "no_streams",
                    "message": "The discovery found no stream to read: upload an OpenAPI "
                    "document that lists the API's GET operations, or write the definition.",
                }
            ]
        )
    return definition


def _refined(
    generation: CustomConnectorGeneration,
    custom: CustomConnector,
    discovery: dict[str, Any],
    definition: dict[str, Any],
    issues: list[ConfigIssue],
    errors: list[dict[str, Any]],
) -> tuple[dict[str, Any], list[ConfigIssue]]:
    """The model's refinement when it passes validation; the deterministic definition and its
    issues otherwise (noted in `errors`)."""
    problems = [_issue_error("validation", ["definition"], i) for i in issues]
    try:
        result = llm_refine_definition(
            account_id=custom.account_id,
            discovery=discovery,
            definition=definition,
            problems=problems,
        )
    except Exception as exc:  # the model's failure must not lose the deterministic path
        logger.warning(
            "connectors.custom_generate_llm_failed generation=%s error=%s",
            generation.id,
            type(exc).__name__,
        )
        errors.append(
            {
                "stage": "llm",
                "type": "llm_failed",
                "message": f"The LLM could not refine the definition ({type(exc).__name__}): "
                "the deterministic definition is used.",
            }
        )
        return definition, issues
    if result is None:
        return definition, issues
    generation.used_llm = True
    generation.llm_model = str(result.model or "")[:200]
    generation.prompt_tokens = int(result.prompt_tokens or 0)
    generation.completion_tokens = int(result.completion_tokens or 0)
    refined = result.data
    refined_issues = definition_issues(refined)
    if refined_issues:
        errors.append(
            {
                "stage": "llm",
                "type": "llm_definition_invalid",
                "message": "The LLM's definition failed validation ("
                + "; ".join(
                    f"{'.'.join(map(str, [i.field, *i.path]))}: {i.msg}" for i in refined_issues[:5]
                )
                + "): the deterministic definition is used.",
            }
        )
        return definition, issues
    return refined, []


def _issue_error(stage: str, prefix: list[Any], issue: ConfigIssue) -> dict[str, Any]:
    loc = [*prefix, *([issue.field] if issue.field else []), *issue.path]
    return {"stage": stage, "type": issue.type, "message": issue.msg, "loc": loc}


def _test_errors(test: dict[str, Any]) -> list[dict[str, Any]]:
    """What failed in a test-read: the sandbox's limit, the check, each failed stream."""
    errors: list[dict[str, Any]] = []
    if test.get("error"):
        errors.append({"stage": "test", **test["error"]})
    check = test.get("check") or {}
    if check.get("status") != "succeeded":
        errors.append(
            {
                "stage": "test",
                "type": check.get("error_type") or "check_failed",
                "message": f"Check: {check.get('message')}",
            }
        )
    for stream in test.get("streams") or []:
        if stream.get("status") != "succeeded" and stream.get("error"):
            named = f"Stream '{stream['name']}'"
            message = str(stream["error"].get("message"))
            # The engine's own messages already start with the stream's name.
            if not message.startswith(named):
                message = f"{named}: {message}"
            errors.append(
                {
                    "stage": "test",
                    "type": stream["error"].get("type"),
                    "message": message,
                    "stream": stream["name"],
                }
            )
    return errors


def definition_diff(
    custom: CustomConnector, base_version: int | None, definition: dict[str, Any]
) -> str:
    """A unified diff of the definitions as sorted-key, indented JSON: the base version's
    (none: empty) against the generated one."""
    base = custom.versions.filter(number=base_version).first() if base_version else None
    before = _lines(base.definition) if base is not None else []
    label = f"version {base_version}" if base is not None else "no version"
    return "".join(
        difflib.unified_diff(before, _lines(definition), fromfile=label, tofile="generated")
    )


def _lines(definition: Any) -> list[str]:
    return [line + "\n" for line in json.dumps(definition, indent=2, sort_keys=True).splitlines()]
