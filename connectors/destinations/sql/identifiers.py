"""Names in a SQL destination: Landed's own objects, and identifiers and literals made safe.

Every name a user or a source chooses (namespace, table, column) reaches SQL through
`quote_ident`; the few names Landed chooses are fixed here, so that every destination keeps the
same state table, audit column and staging names.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from connectors.framework.base import ConfigError

# Landed's own objects in a destination namespace.
STATE_TABLE = "_landed_state"
SYNCED_AT = "_landed_synced_at"
ROW_NUMBER = "_landed_rn"  # batch order in a staging table, for "last occurrence wins"
STAGE_PREFIX = "_landed_stage_"
REMOVED_MARK = "landed: removed from the source; kept with its earlier values"
RESERVED_COLUMNS = frozenset({SYNCED_AT, ROW_NUMBER})
# PostgreSQL truncates identifiers at 63 bytes; DuckDB has no limit but the same rule is harmless.
MAX_IDENTIFIER_BYTES = 63

_NAMESPACE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def quote_ident(name: str) -> str:
    """A SQL identifier, double-quoted (the same rule in PostgreSQL and DuckDB)."""
    if not name or "\x00" in name:
        raise ConfigError(f"Invalid identifier {name!r}.")
    return '"' + name.replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    """A SQL string literal (for DDL such as COMMENT, which takes no bound parameters)."""
    return "'" + text.replace("'", "''") + "'"


def column_list(names: Sequence[str]) -> str:
    return ", ".join(quote_ident(n) for n in names)


def validate_namespace(namespace: str) -> str:
    """The namespace (schema) name, refused unless it is a plain identifier: it is chosen by a
    user, and names like `pg_catalog` or `information_schema` must never be written into."""
    if not isinstance(namespace, str) or not _NAMESPACE.match(namespace):
        raise ConfigError(
            f"Invalid namespace {namespace!r}: use letters, digits and underscores, "
            "starting with a letter or underscore (at most 63 characters)."
        )
    lowered = namespace.lower()
    if lowered.startswith("pg_") or lowered == "information_schema":
        raise ConfigError(f"Namespace {namespace!r} is reserved by the database.")
    return namespace


def short_name(prefix: str, name: str) -> str:
    """`prefix + name`, or, when that exceeds the identifier limit, the prefix, a hash of the
    name and as much of the name as fits: distinct tables never share a derived name."""
    full = prefix + name
    if len(full.encode()) <= MAX_IDENTIFIER_BYTES:
        return full
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:10]
    room = MAX_IDENTIFIER_BYTES - len(prefix.encode()) - len(digest) - 1
    head = name.encode()[:room].decode(errors="ignore")
    return f"{prefix}{digest}_{head}"


def stage_table_name(table: str) -> str:
    """The staging table an overwrite loads into before it is swapped in."""
    return short_name(STAGE_PREFIX, table)
