"""The PostgreSQL source's catalog: the schemas, relations and columns the role may read, from
pg_catalog through psycopg (domains resolved to their base types), and the checks of a
connection test."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from connectors.framework.base import ConfigError, PermissionError_
from connectors.framework.types import Column
from connectors.sources.postgres.casts import logical_type, postgres_type
from connectors.sources.sql.catalog import Relation

RELKINDS = {"r": "table", "p": "table", "f": "table", "v": "view", "m": "view"}


# --- catalog ---------------------------------------------------------------------------------
def check_schemas(conn: psycopg.Connection[Any], schemas: tuple[str, ...]) -> str:
    """Raise unless every schema exists and is usable and some relation in them is readable;
    return a summary for the user."""
    require_schemas(conn, schemas)
    readable, unreadable = conn.execute(
        """
        SELECT count(*) FILTER (WHERE has_any_column_privilege(c.oid, 'SELECT')),
               count(*) FILTER (WHERE NOT has_any_column_privilege(c.oid, 'SELECT'))
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'f', 'v', 'm')
          AND NOT c.relispartition
        """,
        (list(schemas),),
    ).fetchone() or (0, 0)
    if unreadable and not readable:
        raise PermissionError_(
            f"The role may not SELECT from any of the {unreadable} tables and views in "
            f"schema(s) {', '.join(schemas)}."
        )
    message = f"Connected; {readable} readable tables and views in {', '.join(schemas)}."
    if unreadable:
        message += f" {unreadable} without SELECT privilege will be skipped."
    return message


def require_schemas(conn: psycopg.Connection[Any], schemas: tuple[str, ...]) -> None:
    rows = conn.execute(
        "SELECT nspname, has_schema_privilege(oid, 'USAGE') FROM pg_namespace"
        " WHERE nspname = ANY(%s)",
        (list(schemas),),
    ).fetchall()
    usage = dict(rows)
    missing = [s for s in schemas if s not in usage]
    if missing:
        raise ConfigError(f"Schema(s) not found: {', '.join(missing)}.")
    denied = [s for s in schemas if not usage[s]]
    if denied:
        raise PermissionError_(f"The role lacks USAGE on schema(s): {', '.join(denied)}.")


@dataclass(frozen=True)
class PostgresColumn:
    """A live column with its type resolved through domains to the base type."""

    name: str
    not_null: bool
    source_type: str  # format_type() of the declared type: valid SQL for casts
    base_type: str  # pg_type.typname of the base type
    base_typmod: int
    is_array: bool
    # The base type as a PostgreSQL destination creates it (see `casts.postgres_type`);
    # None for a type that is not built in (an enum, an extension's type).
    postgres_type: str | None = None
    base_oid: int = 0  # the base type's oid: binary COPY writes the column in its format

    def column(self) -> Column:
        logical, precision, scale = logical_type(self.base_type, self.base_typmod, self.is_array)
        return Column(
            name=self.name,
            type=logical,
            nullable=not self.not_null,
            precision=precision,
            scale=scale,
            source_type=self.source_type,
            postgres_type=self.postgres_type,
        )


@dataclass(frozen=True)
class PostgresRelation(Relation[PostgresColumn]):
    """A table, view or materialized view; its namespace is its schema."""

    @property
    def schema(self) -> str:
        return self.namespace


_RELATIONS_SQL = """
SELECT c.oid, n.nspname, c.relname, c.relkind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p', 'f', 'v', 'm')
  AND NOT c.relispartition
  AND has_any_column_privilege(c.oid, 'SELECT')
  AND (%(only)s::text IS NULL OR n.nspname || '.' || c.relname = %(only)s::text)
ORDER BY n.nspname, c.relname
"""
_COLUMNS_SQL = """
SELECT a.attrelid, a.attname, a.attnotnull, a.atttypid, a.atttypmod,
       format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
  AND has_column_privilege(a.attrelid, a.attnum, 'SELECT')
ORDER BY a.attrelid, a.attnum
"""
_TYPES_SQL = """
SELECT oid, typname, typtype, typbasetype, typtypmod, typcategory = 'A'
FROM pg_type WHERE oid = ANY(%s)
"""
_PRIMARY_KEYS_SQL = """
SELECT i.indrelid, array_agg(a.attname::text ORDER BY k.ord)
FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indisprimary AND i.indrelid = ANY(%s)
GROUP BY i.indrelid
"""


def load_relations(
    conn: psycopg.Connection[Any], schemas: Sequence[str], only: str | None = None
) -> list[PostgresRelation]:
    """The readable relations of `schemas` (or just the one named `only`, as "schema.table")."""
    relations = conn.execute(_RELATIONS_SQL, {"schemas": list(schemas), "only": only}).fetchall()
    oids = [row[0] for row in relations]
    columns = conn.execute(_COLUMNS_SQL, (oids,)).fetchall()
    keys = dict(conn.execute(_PRIMARY_KEYS_SQL, (oids,)).fetchall())
    bases = _resolve_base_types(conn, {row[3] for row in columns})
    resolved = [
        (row, bases[row[3]], row[4] if row[4] >= 0 else bases[row[3]][2]) for row in columns
    ]
    spelled = _format_types(conn, {(base[0], typmod) for _, base, typmod in resolved})
    by_relation: dict[int, list[PostgresColumn]] = {oid: [] for oid in oids}
    for (relid, name, not_null, _, _, source_type), base, typmod in resolved:
        base_oid, base_type, _, is_array = base
        by_relation[relid].append(
            PostgresColumn(
                name=name,
                not_null=not_null,
                source_type=source_type,
                base_type=base_type,
                base_typmod=typmod,
                is_array=is_array,
                postgres_type=postgres_type(
                    base_oid, base_type, is_array, spelled[(base_oid, typmod)]
                ),
                base_oid=base_oid,
            )
        )
    return [
        PostgresRelation(
            namespace=schema,
            name=name,
            kind=RELKINDS[relkind],
            columns=tuple(by_relation[oid]),
            primary_key=tuple(keys.get(oid) or ()),
        )
        for oid, schema, name, relkind in relations
    ]


def _format_types(
    conn: psycopg.Connection[Any], types: set[tuple[int, int]]
) -> dict[tuple[int, int], str]:
    """{(type oid, typmod): the type as `format_type` spells it}."""
    pairs = sorted(types)
    rows = conn.execute(
        "SELECT t.oid, t.mod, format_type(t.oid, t.mod) "
        "FROM unnest(%s::oid[], %s::int[]) AS t(oid, mod)",
        ([p[0] for p in pairs], [p[1] for p in pairs]),
    ).fetchall()
    return {(oid, mod): spelled for oid, mod, spelled in rows}


def _resolve_base_types(
    conn: psycopg.Connection[Any], type_oids: Iterable[int]
) -> dict[int, tuple[int, str, int, bool]]:
    """{type oid: (base type oid, base typname, base typmod, is array)}, following domains
    (which may be stacked) down to the type they constrain."""
    info: dict[int, tuple[str, str, int, int, bool]] = {}
    wanted = set(type_oids)
    while wanted - info.keys():
        rows = conn.execute(_TYPES_SQL, (list(wanted - info.keys()),)).fetchall()
        if not rows:
            break
        for oid, typname, typtype, basetype, typtypmod, is_array in rows:
            info[oid] = (typname, typtype, basetype, typtypmod, is_array)
            if typtype == "d":
                wanted.add(basetype)

    def resolve(oid: int, typmod: int) -> tuple[int, str, int, bool]:
        typname, typtype, basetype, typtypmod, is_array = info[oid]
        if typtype == "d" and basetype in info:
            return resolve(basetype, typmod if typmod >= 0 else typtypmod)
        return oid, typname, typmod, is_array

    return {oid: resolve(oid, -1) for oid in type_oids if oid in info}
