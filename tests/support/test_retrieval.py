"""Retrieval: real questions find the passage of Landed's docs or API reference that answers
them, ranked by PostgreSQL's full-text search here and by SQLite's FTS5 (BM25) on the embedded
default."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.index import support_index_rebuild, support_index_refresh_if_stale
from support.models import SupportIndexState, SupportPassage
from support.passages import MAX_PASSAGE_CHARS, heading_anchor, markdown_passages
from support.search import passages_search

ROOT = Path(__file__).resolve().parents[2]

# A question and where its answer is: the first passage's URL, or the top three's.
QUESTIONS = [
    ("how do I rotate webhook secrets", "/redoc#operation/webhooks_rotate_secret"),
    ("what does 409 mean", "/redoc"),
    ("how do I create an API key", "/redoc#operation/auth_api_keys_create"),
    ("verify the signature of a webhook delivery", "docs/webhooks.md#verifying-a-delivery"),
]


@pytest.fixture
def built(index, db) -> None:
    """The index (tests/support/conftest.py), in a test that may read and change it."""


@pytest.mark.parametrize(("question", "answer_url"), QUESTIONS)
def test_a_question_finds_its_answer_on_postgresql(built, question, answer_url):
    found = passages_search(question, 3)

    assert answer_url in [passage.url for passage in found]
    assert found[0].rank >= found[-1].rank > 0


def test_the_best_passage_comes_first_on_postgresql(built):
    found = passages_search("how do I rotate webhook secrets", 5)

    assert found[0].url == "/redoc#operation/webhooks_rotate_secret"
    assert passages_search("what does 409 mean", 1)[0].title.startswith("API error responses")


def test_words_that_are_not_in_the_docs_find_nothing(built):
    assert passages_search("zxqvbn plorkification", 5) == []
    assert passages_search("how do I", 5) == []  # only stop words


def test_the_index_has_the_docs_and_every_operation(built):
    kinds = set(SupportPassage.objects.values_list("kind", "source_path"))
    assert ("docs", "docs/webhooks.md") in kinds
    assert ("docs", "README.md") in kinds
    assert ("api", "openapi") in kinds
    assert SupportPassage.objects.filter(title__startswith="POST /support/chat").exists()
    assert SupportPassage.objects.filter(title__startswith="GET /jobs/{job_id}").exists()
    assert SupportPassage.objects.filter(search__isnull=True).count() == 0


def test_the_index_is_rebuilt_only_when_its_sources_change(built, settings):
    state = SupportIndexState.objects.get()
    assert support_index_rebuild() is False  # nothing changed

    SupportIndexState.objects.update(fingerprint="stale")
    settings.SUPPORT_INDEX_CHECK_SECONDS = 0
    support_index_refresh_if_stale()

    assert SupportIndexState.objects.get().fingerprint == state.fingerprint
    assert SupportIndexState.objects.get().built_at > state.built_at


def test_markdown_is_cut_by_heading_into_bounded_passages():
    long_section = "\n\n".join(f"Paragraph {i} " + "word " * 100 for i in range(12))
    markdown = (
        "# Guide\n\nIntro.\n\n## Rotate the `secret` (safely)\n\nDo it.\n\n```sh\n# not a heading\n"
        f"```\n\n## Long\n\n{long_section}\n"
    )

    drafts = markdown_passages(source_path="docs/guide.md", markdown=markdown, base_url="")

    titles = [draft.title for draft in drafts]
    assert titles[:2] == ["Guide", "Guide: Rotate the `secret` (safely)"]
    assert drafts[1].url == "docs/guide.md#rotate-the-secret-safely"
    assert "# not a heading" in drafts[1].text
    long_parts = [draft for draft in drafts if draft.anchor == "long"]
    assert len(long_parts) > 1
    assert all(len(draft.text) <= MAX_PASSAGE_CHARS for draft in long_parts)
    assert heading_anchor("Delivery, retries and ordering") == "delivery-retries-and-ordering"


SQLITE_SCRIPT = """
import json, sys
import django
from django.core.management import call_command

django.setup()
call_command("migrate", "support", verbosity=0)  # and what it depends on
call_command("support_index", verbosity=0)

from support.search import passages_search

questions = json.loads(sys.argv[1])
print(json.dumps({q: [[p.url, p.rank] for p in passages_search(q, 3)] for q in questions}))
"""


def test_questions_find_their_answers_on_the_embedded_default_sqlite(tmp_path):
    """The embedded default (no DATABASE_URL) ranks with FTS5's bm25(); as `make run` with
    nothing configured, in a process of its own."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"} and not k.startswith("PYTEST_")
    }
    env.update(LANDED_DATA_DIR=str(tmp_path / "data"), DJANGO_SETTINGS_MODULE="landed.settings")
    questions = [*(question for question, _ in QUESTIONS), "zxqvbn plorkification"]
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", SQLITE_SCRIPT, json.dumps(questions)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])

    for question, answer_url in QUESTIONS:
        urls = [url for url, _ in found[question]]
        assert answer_url in urls, (question, found[question])
        ranks = [rank for _, rank in found[question]]
        assert ranks == sorted(ranks, reverse=True)
    assert found["how do I rotate webhook secrets"][0][0] == QUESTIONS[0][1]
    assert found["zxqvbn plorkification"] == []
    assert (tmp_path / "data" / "landed.sqlite3").exists()
