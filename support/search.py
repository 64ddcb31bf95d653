"""Full-text retrieval of passages, ranked by the database: PostgreSQL's text search in
production, SQLite's FTS5 with BM25 in the embedded default. One function for both.

A question in natural language ("how do I rotate webhook secrets") rarely has every one of its
words in the passage that answers it, so a passage matches on any of its words; passages that
have all of them come first.
"""

import re

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import F

from support.models import SupportPassage

# Words too common to say what a question is about; PostgreSQL's english configuration drops
# these itself, FTS5 has no stop-word list.
STOP_WORDS = frozenset(
    """
    a about above after again all am an and any are as at be been before being below
    between both but by can could did do does doing down during each few for from
    further had has have having he her here hers him his how i if in into is it its
    itself just me more most my no nor not now of off on once only or other our out over
    own same she should so some such than that the their them then there these they this
    those through to too under until up very was we were what when where which while who
    whom why will with would you your yours please help get got getting use using
    """.split()  # noqa: SIM905 (a list of words reads as words)
)
_WORD = re.compile(r"\w+", re.UNICODE)
# Title matches count ten times a text match in BM25 (as weight A over B on PostgreSQL).
_SQLITE_TITLE_WEIGHT = 10.0
_MAX_TERMS = 32


def query_terms(query: str) -> list[str]:
    """The words of `query` that can say what it is about, in order, each once."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        if word not in STOP_WORDS and word not in seen:
            seen[word] = None
    return list(seen)[:_MAX_TERMS]


def passages_search(query: str, limit: int) -> list[SupportPassage]:
    """The passages that best answer `query`, best first; each has a `rank` attribute (higher
    is better on both databases)."""
    terms = query_terms(query)
    if not terms or limit <= 0:
        return []
    if connection.vendor == "postgresql":
        return _postgres_search(terms, limit)
    if connection.vendor == "sqlite":
        return _sqlite_search(terms, limit)
    raise NotImplementedError(f"no full-text search for {connection.vendor}")


def _postgres_search(terms: list[str], limit: int) -> list[SupportPassage]:
    # websearch_to_tsquery: all the words (stemmed; the english configuration drops its stop
    # words), ranked by cover density (ts_rank_cd): how close together they are.
    all_words = SearchQuery(" ".join(terms), search_type="websearch", config="english")
    # to_tsquery of the words joined by OR (each is \w+, so nothing else is query syntax):
    # a passage must have one of them; ts_rank grows with each further word it has.
    any_word = SearchQuery(" | ".join(terms), search_type="raw", config="english")
    return list(
        SupportPassage.objects.filter(search=any_word)
        .annotate(
            all_rank=SearchRank(F("search"), all_words, cover_density=True),
            rank=SearchRank(F("search"), any_word),
        )
        .order_by("-all_rank", "-rank", "id")[:limit]
    )


def _sqlite_search(terms: list[str], limit: int) -> list[SupportPassage]:
    # Each term quoted (FTS5 query syntax has operators and column filters); OR between them.
    match = " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rowid, -bm25(support_passage_fts, %s, 1.0) AS rank "
            "FROM support_passage_fts WHERE support_passage_fts MATCH %s "
            "ORDER BY rank DESC, rowid LIMIT %s",
            [_SQLITE_TITLE_WEIGHT, match, limit],
        )
        ranked = cursor.fetchall()
    by_id = SupportPassage.objects.in_bulk([row[0] for row in ranked])
    found = []
    for passage_id, rank in ranked:
        passage = by_id.get(passage_id)
        if passage is not None:
            passage.rank = rank  # type: ignore[attr-defined]
            found.append(passage)
    return found
