"""The MySQL source's catalog: the databases, tables, views and columns information_schema
shows the user, read with PyMySQL, and the checks of a connection test."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import pymysql

from connectors.framework.base import ConfigError, PermissionError_
from connectors.framework.types import Column
from connectors.sources.mysql.casts import logical_type
from connectors.sources.sql.catalog import Relation

KINDS = {"BASE TABLE": "table", "SYSTEM VERSIONED": "table", "VIEW": "view"}


def quote_identifier(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def use_database(conn: pymysql.connections.Connection, database: str) -> None:
    """USE tells apart what information_schema hides: a database that does not exist (1049)
    and one the user may not use (1044)."""
    with conn.cursor() as cursor:
        try:
            cursor.execute(f"USE {quote_identifier(database)}")
        except pymysql.Error as exc:
            code = exc.args[0] if exc.args else None
            if code == 1049:
                raise ConfigError(f"Database not found: {database}.") from exc
            if code == 1044:
                raise PermissionError_(f"The user may not use database {database}.") from exc
            raise


def require_databases(conn: pymysql.connections.Connection, databases: Iterable[str]) -> None:
    for database in databases:
        use_database(conn, database)


def check_databases(conn: pymysql.connections.Connection, databases: tuple[str, ...]) -> str:
    """Raise unless every database may be used and holds a table or view the user can read;
    return a summary for the user."""
    require_databases(conn, databases)
    relations = load_relations(conn, databases)
    if not relations:
        raise PermissionError_(
            f"No readable tables or views in database(s) {', '.join(databases)} "
            "(the user needs SELECT on them)."
        )
    # information_schema lists a table on any privilege; reading it needs SELECT.
    with conn.cursor() as cursor:
        first = relations[0]
        table = f"{quote_identifier(first.database)}.{quote_identifier(first.name)}"
        cursor.execute(f"SELECT 1 FROM {table} LIMIT 0")  # noqa: S608
    return f"Connected; {len(relations)} tables and views in {', '.join(databases)}."


@dataclass(frozen=True)
class MySQLColumn:
    """A live column as information_schema describes it."""

    name: str
    nullable: bool
    data_type: str  # DATA_TYPE, lower case ("int", "varchar", ...)
    column_type: str  # COLUMN_TYPE ("int(10) unsigned", "enum('a','b')", ...)
    precision: int | None
    scale: int | None
    charset: str | None
    collation: str | None
    is_json: bool

    def column(self) -> Column:
        logical, precision, scale = logical_type(
            self.data_type, self.column_type, self.precision, self.scale, is_json=self.is_json
        )
        return Column(
            name=self.name,
            type=logical,
            nullable=self.nullable,
            precision=precision,
            scale=scale,
            source_type=self.column_type,
        )


@dataclass(frozen=True)
class MySQLRelation(Relation[MySQLColumn]):
    """A table or view; its namespace is its database."""

    @property
    def database(self) -> str:
        return self.namespace


_RELATIONS_SQL = """
SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES
WHERE TABLE_SCHEMA IN %(databases)s AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED', 'VIEW')
  AND (%(only)s IS NULL OR TABLE_NAME = %(only)s)
ORDER BY TABLE_SCHEMA, TABLE_NAME
"""
_COLUMNS_SQL = """
SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, IS_NULLABLE, LOWER(DATA_TYPE), COLUMN_TYPE,
       NUMERIC_PRECISION, NUMERIC_SCALE, CHARACTER_SET_NAME, COLLATION_NAME
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA IN %(databases)s AND (%(only)s IS NULL OR TABLE_NAME = %(only)s)
ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION
"""
_PRIMARY_KEYS_SQL = """
SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA IN %(databases)s AND INDEX_NAME = 'PRIMARY'
  AND (%(only)s IS NULL OR TABLE_NAME = %(only)s)
ORDER BY TABLE_SCHEMA, TABLE_NAME, SEQ_IN_INDEX
"""
# MariaDB's JSON is LONGTEXT with a CHECK (json_valid(`column`)) constraint named after the
# column; MySQL has a real JSON type (and a CHECK_CONSTRAINTS table without TABLE_NAME).
_JSON_CHECKS_SQL = """
SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA IN %(databases)s AND (%(only)s IS NULL OR TABLE_NAME = %(only)s)
  AND CHECK_CLAUSE LIKE '%%json_valid%%'
"""
_JSON_VALID = re.compile(r"^\s*json_valid\(`((?:[^`]|``)+)`\)\s*$", re.IGNORECASE)


def load_relations(
    conn: pymysql.connections.Connection, databases: Iterable[str], only: str | None = None
) -> list[MySQLRelation]:
    """The tables and views of `databases` the user can see (or just the table `only`)."""
    params = {"databases": tuple(databases), "only": only}
    with conn.cursor() as cursor:
        cursor.execute(_RELATIONS_SQL, params)
        relations = cursor.fetchall()
        cursor.execute(_COLUMNS_SQL, params)
        columns = cursor.fetchall()
        cursor.execute(_PRIMARY_KEYS_SQL, params)
        keys = cursor.fetchall()
        json_columns: set[tuple[str, str, str]] = set()
        if "mariadb" in (conn.get_server_info() or "").lower():
            cursor.execute(_JSON_CHECKS_SQL, params)
            for database, table, clause in cursor.fetchall():
                match = _JSON_VALID.match(clause or "")
                if match:
                    json_columns.add((database, table, match.group(1).replace("``", "`")))
    by_relation: dict[tuple[str, str], list[MySQLColumn]] = {}
    for database, table, name, nullable, data_type, column_type, prec, scale, cs, coll in columns:
        by_relation.setdefault((database, table), []).append(
            MySQLColumn(
                name=name,
                nullable=nullable == "YES",
                data_type=data_type,
                column_type=str(column_type).lower(),
                precision=int(prec) if prec is not None else None,
                scale=int(scale) if scale is not None else None,
                charset=cs,
                collation=coll,
                is_json=(database, table, name) in json_columns,
            )
        )
    primary: dict[tuple[str, str], list[str]] = {}
    for database, table, name in keys:
        primary.setdefault((database, table), []).append(name)
    return [
        MySQLRelation(
            namespace=database,
            name=table,
            kind=KINDS[kind],
            columns=tuple(by_relation.get((database, table), ())),
            primary_key=tuple(primary.get((database, table), ())),
        )
        for database, table, kind in relations
        if by_relation.get((database, table))
    ]


def uses_tls(conn: pymysql.connections.Connection) -> bool:
    with conn.cursor() as cursor:
        cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        row = cursor.fetchone()
    return bool(row and row[1])
