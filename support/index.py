"""Building the support chat's passages from Landed's own docs and API reference, and keeping
them current.

The sources are the Markdown pages (README.md, docs/*.md) and the OpenAPI description that
drf-spectacular generates from the code. Their fingerprint is cheap to compute (the pages'
bytes and the code files' sizes and times, no schema generation); the index is rebuilt when it
differs from the one stored with the passages: by `manage.py support_index` (scripts/run.sh
runs it at start), or lazily before an answer.
"""

import hashlib
import logging
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchVector
from django.db import connection, transaction
from django.utils import timezone

from landed.api.errors import ApplicationError
from support.models import SupportIndexState, SupportPassage
from support.passages import (
    PassageDraft,
    markdown_passages,
    openapi_passages,
    status_codes_passage,
)

logger = logging.getLogger("support.index")

REFERENCE_URL = "/redoc"
# The packages whose views and serializers the OpenAPI description is generated from.
_CODE_PACKAGES = ("landed", "connectors", "syncs", "webhooks", "billing", "integrations", "support")


def documentation_files() -> list[Path]:
    base = Path(settings.BASE_DIR)
    pages = [base / "README.md", *sorted((base / "docs").glob("*.md"))]
    return [path for path in pages if path.is_file()]


def sources_fingerprint() -> str:
    """What the index is built from, hashed: every page's bytes, and each code file's path,
    size and modification time (a deploy or an edit changes them; reading is cheap)."""
    digest = hashlib.sha256()
    base = Path(settings.BASE_DIR)
    for path in documentation_files():
        digest.update(str(path.relative_to(base)).encode())
        digest.update(path.read_bytes())
    for package in _CODE_PACKAGES:
        for path in sorted((base / package).rglob("*.py")):
            stat = path.stat()
            digest.update(f"{path.relative_to(base)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def build_passages() -> list[PassageDraft]:
    # Imported here: the generator walks every URL pattern, which imports every view; this
    # module is imported by the views (for the lazy refresh) long before that is needed.
    from drf_spectacular.generators import SchemaGenerator

    base = Path(settings.BASE_DIR)
    drafts: list[PassageDraft] = []
    for path in documentation_files():
        drafts.extend(
            markdown_passages(
                source_path=str(path.relative_to(base)),
                markdown=path.read_text(encoding="utf-8", errors="replace"),
                base_url=settings.SUPPORT_DOCS_BASE_URL,
            )
        )
    generator = SchemaGenerator()  # type: ignore[no-untyped-call]
    schema: dict[str, Any] = generator.get_schema(request=None, public=True)  # type: ignore[no-untyped-call]
    drafts.extend(openapi_passages(schema=schema, reference_url=REFERENCE_URL))
    drafts.append(status_codes_passage(statuses=_error_statuses(), reference_url=REFERENCE_URL))
    return drafts


def _error_statuses() -> list[tuple[int, str, str]]:
    found: list[tuple[int, str, str]] = []
    pending = list(ApplicationError.__subclasses__())
    while pending:
        error = pending.pop()
        pending.extend(error.__subclasses__())
        found.append((error.status_code, error.default_message, error.description))
    # One line per status: the most general class (the shortest description) of each.
    by_status: dict[int, tuple[int, str, str]] = {}
    for item in sorted(found, key=lambda item: len(item[2])):
        by_status.setdefault(item[0], item)
    return list(by_status.values())


def support_index_rebuild(*, force: bool = False) -> bool:
    """Rebuild the passages if the sources changed since the stored build (or `force`).
    Returns whether it rebuilt. Concurrent callers wait for each other on the state row."""
    fingerprint = sources_fingerprint()
    if not force and _stored_fingerprint() == fingerprint:
        return False
    # Built before the transaction: on SQLite the transaction holds the database's one write
    # lock, which the workers' writes would otherwise wait on while the passages are cut and
    # the API reference is generated (about a second).
    drafts = build_passages()
    with transaction.atomic():
        SupportIndexState.objects.bulk_create(
            [SupportIndexState(fingerprint="")], ignore_conflicts=True
        )
        state = SupportIndexState.objects.select_for_update().get(name="default")
        if state.fingerprint == fingerprint and not force:
            return False
        SupportPassage.objects.all().delete()
        SupportPassage.objects.bulk_create(
            [
                SupportPassage(
                    kind=draft.kind,
                    source_path=draft.source_path,
                    title=draft.title,
                    anchor=draft.anchor,
                    url=draft.url,
                    text=draft.text,
                    content_hash=draft.content_hash,
                    position=position,
                )
                for position, draft in enumerate(drafts)
            ],
            batch_size=500,
        )
        if connection.vendor == "postgresql":
            SupportPassage.objects.update(
                search=SearchVector("title", weight="A", config="english")
                + SearchVector("text", weight="B", config="english")
            )
        state.fingerprint = fingerprint
        state.built_at = timezone.now()
        state.passage_count = len(drafts)
        state.save()
    logger.info("support.index_rebuilt", extra={"passages": len(drafts)})
    return True


_last_check = 0.0
_check_lock = threading.Lock()


def support_index_refresh_if_stale() -> None:
    """The lazy refresh before an answer: at most once per SUPPORT_INDEX_CHECK_SECONDS per
    process, compare the sources' fingerprint and rebuild if they changed."""
    global _last_check
    with _check_lock:
        now = time.monotonic()
        if _last_check and now - _last_check < settings.SUPPORT_INDEX_CHECK_SECONDS:
            return
        _last_check = now
    if _stored_fingerprint() != sources_fingerprint():
        support_index_rebuild()


def _stored_fingerprint() -> str | None:
    return (
        SupportIndexState.objects.filter(name="default")
        .values_list("fingerprint", flat=True)
        .first()
    )
