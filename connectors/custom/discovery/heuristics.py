"""The guesses both a document and a live sample are read with: which array holds the records,
which field is the key, which fields are cursors, which query parameters page, and how a
stream is named. One place, so that the two sources of evidence agree."""

from __future__ import annotations

import re
from collections.abc import Iterable

# The stream name rule of the http_api engine (connectors/sources/http_api/definition.py).
STREAM_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,62}$")

# Property names that usually hold a list response's records, best first.
RECORD_ARRAY_NAMES = ("data", "items", "results", "records", "entries", "values", "rows")

# Query parameter names of each pagination style (compared case- and separator-insensitively).
LIMIT_PARAMS = ("limit",)
OFFSET_PARAMS = ("offset", "skip", "start")
PAGE_PARAMS = ("page", "pagenumber", "pageno")
PAGE_SIZE_PARAMS = ("perpage", "pagesize", "size", "limit", "count", "pagelimit")
CURSOR_PARAMS = (
    "cursor",
    "pagetoken",
    "nextpagetoken",
    "continuationtoken",
    "continuation",
    "after",
    "startingafter",
    "next",
    "pagecursor",
)
# Properties of a list response holding the next page's cursor or URL.
NEXT_CURSOR_NAMES = (
    "nextcursor",
    "nextpagetoken",
    "cursor",
    "nextpagecursor",
    "continuationtoken",
    "endcursor",
    "after",
)
NEXT_URL_NAMES = ("next", "nexturl", "nextpageurl", "nextpage", "nextlink", "odatanextlink")
# Objects of a list response that hold the paging properties.
PAGING_CONTAINERS = ("meta", "pagination", "paging", "links", "page_info", "pageinfo", "cursor")
# Query parameters that ask for records changed since a time (an incremental read).
SINCE_PARAMS = (
    "updatedsince",
    "updatedafter",
    "modifiedsince",
    "modifiedafter",
    "changedsince",
    "since",
    "updatedatgte",
    "updatedatmin",
)
_UPDATED_WORDS = ("updated", "modified", "changed", "lastedit", "edited")
_CREATED_WORDS = ("created", "inserted", "added")


def squash(name: str) -> str:
    """`name` lower-cased without separators: `page_size`, `pageSize` and `page-size` agree."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def snake(name: str) -> str:
    """`findPetsByStatus` -> `find_pets_by_status`; other characters become `_`."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"[^A-Za-z0-9]+", "_", spaced).strip("_").lower()


def singular(name: str) -> str:
    lowered = name.lower()
    if lowered.endswith("ies") and len(lowered) > 3:
        return lowered[:-3] + "y"
    if lowered.endswith(("ses", "xes")):
        return lowered[:-2]
    if lowered.endswith("s") and not lowered.endswith("ss"):
        return lowered[:-1]
    return lowered


def find_name(names: Iterable[str], wanted: Iterable[str]) -> str | None:
    """The first of `names` whose squashed form is the first of `wanted` that any has."""
    by_squashed: dict[str, str] = {}
    for name in names:
        by_squashed.setdefault(squash(name), name)
    for candidate in wanted:
        if candidate in by_squashed:
            return by_squashed[candidate]
    return None


def record_array_name(array_names: list[str], stream_name: str) -> str | None:
    """Which of an object's array properties holds the records: a conventional name, the
    stream's own name, or the only one."""
    found = find_name(array_names, (*RECORD_ARRAY_NAMES, squash(stream_name)))
    if found is not None:
        return found
    last_word = squash(stream_name.split("_")[-1]) if stream_name else ""
    found = find_name(array_names, (last_word,)) if last_word else None
    if found is not None:
        return found
    return array_names[0] if len(array_names) == 1 else None


def primary_key(fields: Iterable[str], stream_name: str) -> list[str] | None:
    names = list(fields)
    resource = singular(stream_name.split("_")[-1]) if stream_name else ""
    found = find_name(names, ("id", f"{resource}id", "uuid", "guid", "key"))
    return [found] if found is not None else None


def cursor_candidates(temporal_fields: Iterable[str]) -> list[str]:
    """Date-time fields that may serve as an incremental cursor: last-change times first, then
    creation times; other date-times are not offered (a birthday does not move on change)."""
    names = list(dict.fromkeys(temporal_fields))
    updated = [n for n in names if any(w in squash(n) for w in _UPDATED_WORDS)]
    created = [n for n in names if n not in updated and any(w in squash(n) for w in _CREATED_WORDS)]
    return updated + created


def unique_stream_name(base: str, taken: set[str]) -> str:
    """`base` made valid for the engine's name rule and unique among `taken` (which it joins)."""
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "_", base).strip("_.-")[:60] or "stream"
    if not STREAM_NAME.match(name):
        name = f"s_{name}"[:60]
    candidate, number = name, 2
    while candidate in taken:
        candidate = f"{name}_{number}"
        number += 1
    taken.add(candidate)
    return candidate
