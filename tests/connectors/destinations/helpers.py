"""What the destination tests share: streams and batches to load, and for each destination, a
way to read back what its loader wrote (`DestinationUnderTest`)."""

import datetime as dt
import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from connectors.destinations.duckdb import DuckDBDestination
from connectors.destinations.postgres import PostgresDestination
from connectors.framework.base import Destination, StreamLoad
from connectors.framework.types import Column, schema_for
from tests.pg import connect, pg_config

NS = "landed_raw"
DUCKDB_PATH = "warehouse/test.duckdb"
UTC = dt.UTC

# --- Data ----------------------------------------------------------------------------------
EVERY_TYPE: list[tuple[Column, Any]] = [
    # (column, a value); each destination says the SQL type the column must get
    (Column("c_boolean", "boolean"), True),
    (Column("c_smallint", "smallint"), -32768),
    (Column("c_integer", "integer"), 2147483647),
    (Column("c_bigint", "bigint"), -9223372036854775808),
    (Column("c_real", "real"), 1.5),
    (Column("c_double", "double"), 1e308),
    (Column("c_decimal", "decimal", precision=12, scale=2), Decimal("-1234567890.12")),
    (
        Column("c_decimal_wide", "decimal", precision=50, scale=10),
        "1234567890123456789012345678901234567890.0123456789",
    ),
    (Column("c_decimal_any", "decimal"), "-0.000000000000000000000000000000000000000001"),
    (Column("c_string", "string"), "h\u00e9llo, 'quoted' \"and\" \\ back"),
    (Column("c_binary", "binary"), b"\x00\xffbin"),
    (Column("c_date", "date"), dt.date(2024, 2, 29)),
    (Column("c_time", "time"), dt.time(23, 59, 59, 999999)),
    (Column("c_timestamp", "timestamp"), dt.datetime(2024, 2, 29, 12, 0, 0, 123456)),
    (
        Column("c_timestamptz", "timestamptz"),
        dt.datetime(2024, 2, 29, 12, 0, 0, 654321, tzinfo=UTC),
    ),
    (Column("c_json", "json"), '{"a": [1, 2, {"b": null}], "s": "\u00e9"}'),
    (Column("c_uuid", "uuid"), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
]
ID = Column("id", "bigint", nullable=False)


def batch_of(columns: list[Column], rows: list[dict[str, Any]]) -> pa.RecordBatch:
    """A record batch in the columns' Arrow types (the form sources produce)."""
    schema = schema_for(columns)
    arrays = [pa.array([row.get(f.name) for row in rows], type=f.type) for f in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def keyed(rows: list[tuple[int, str]]) -> pa.RecordBatch:
    return batch_of([ID, Column("v", "string")], [{"id": i, "v": v} for i, v in rows])


def load(
    table: str = "items",
    mode: str = "append",
    columns: tuple[Column, ...] = (ID, Column("v", "string")),
    run_id: str = "run-1",
    key: tuple[str, ...] = ("id",),
) -> StreamLoad:
    return StreamLoad(f"public.{table}", table, columns, mode, run_id, key)  # type: ignore[arg-type]


# --- Reading back --------------------------------------------------------------------------
def pg_rows(database: str, sql: str) -> list[tuple[Any, ...]]:
    with connect(database) as conn:
        return conn.execute(sql).fetchall()


def pg_column_types(database: str, table: str, namespace: str = NS) -> dict[str, str]:
    rows = pg_rows(
        database,
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        f"WHERE attrelid = '{namespace}.{table}'::regclass AND attnum > 0 AND NOT attisdropped",
    )
    return dict(rows)


def duckdb_dicts(file: Path, sql: str) -> list[dict[str, Any]]:
    """Rows as dicts, through Arrow (DuckDB's Python rows need pytz for TIMESTAMPTZ)."""
    with duckdb.connect(str(file)) as conn:
        return conn.sql(sql).to_arrow_table().to_pylist()


def duckdb_rows(file: Path, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row.values()) for row in duckdb_dicts(file, sql)]


class DestinationUnderTest(ABC):
    """One destination as the contract tests see it: the destination, and how to read what
    its loader committed, from a connection of its own."""

    name: str
    destination: Destination
    # The catalog's spelling of the SQL types the contract's streams get, by logical type
    # ("text" for string).
    sql_types: dict[str, str]
    # The SQL type each EVERY_TYPE column must get, by column name.
    every_type_sql: dict[str, str]
    # What the error of a batch the database refuses as JSON says (a regex).
    bad_json_error: str
    # What refusing a merge into a table with a repeated key says (a regex).
    duplicate_key_error: str

    @abstractmethod
    def rows(self, sql: str) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def column_types(self, table: str) -> dict[str, str]: ...

    @abstractmethod
    def tables(self) -> list[str]:
        """The names of the tables in the namespace, sorted."""

    @abstractmethod
    @contextmanager
    def reader(self) -> Iterator[Callable[[str], list[tuple[Any, ...]]]]:
        """A connection held open across the block (an analyst's session), as a query
        function."""

    @abstractmethod
    def expected_value(self, column: Column, written: Any) -> Any:
        """What reading back a value written as `written` gives."""

    def read_value(self, column: Column, read: Any) -> Any:
        """A read value in the form `expected_value` compares with."""
        return read


class PostgresUnderTest(DestinationUnderTest):
    name = "postgres"
    sql_types = {
        "integer": "integer",
        "bigint": "bigint",
        "text": "text",
        "date": "date",
        "timestamptz": "timestamp with time zone",
    }
    every_type_sql = {
        "c_boolean": "boolean",
        "c_smallint": "smallint",
        "c_integer": "integer",
        "c_bigint": "bigint",
        "c_real": "real",
        "c_double": "double precision",
        "c_decimal": "numeric(12,2)",
        "c_decimal_wide": "numeric(50,10)",
        "c_decimal_any": "numeric",
        "c_string": "text",
        "c_binary": "bytea",
        "c_date": "date",
        "c_time": "time without time zone",
        "c_timestamp": "timestamp without time zone",
        "c_timestamptz": "timestamp with time zone",
        "c_json": "jsonb",
        "c_uuid": "uuid",
    }
    bad_json_error = "json"
    duplicate_key_error = "holds duplicate values of the key"

    def __init__(self, database: str) -> None:
        self.database = database
        self.destination = PostgresDestination(pg_config(database))

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return pg_rows(self.database, sql)

    def column_types(self, table: str) -> dict[str, str]:
        return pg_column_types(self.database, table)

    def tables(self) -> list[str]:
        rows = self.rows(f"SELECT tablename FROM pg_tables WHERE schemaname = '{NS}' ORDER BY 1")
        return [name for (name,) in rows]

    @contextmanager
    def reader(self) -> Iterator[Callable[[str], list[tuple[Any, ...]]]]:
        with connect(self.database) as conn:
            yield lambda sql: conn.execute(sql).fetchall()

    def expected_value(self, column: Column, written: Any) -> Any:
        if column.type == "decimal" and isinstance(written, str):
            return Decimal(written)
        if column.type == "json":
            return json.loads(written)
        if column.type == "uuid":
            return uuid.UUID(written)
        return written


class DuckDBUnderTest(DestinationUnderTest):
    name = "duckdb"
    sql_types = {
        "integer": "INTEGER",
        "bigint": "BIGINT",
        "text": "VARCHAR",
        "date": "DATE",
        "timestamptz": "TIMESTAMP WITH TIME ZONE",
    }
    every_type_sql = {
        "c_boolean": "BOOLEAN",
        "c_smallint": "SMALLINT",
        "c_integer": "INTEGER",
        "c_bigint": "BIGINT",
        "c_real": "FLOAT",
        "c_double": "DOUBLE",
        "c_decimal": "DECIMAL(12,2)",
        "c_decimal_wide": "VARCHAR",
        "c_decimal_any": "VARCHAR",
        "c_string": "VARCHAR",
        "c_binary": "BLOB",
        "c_date": "DATE",
        "c_time": "TIME",
        "c_timestamp": "TIMESTAMP",
        "c_timestamptz": "TIMESTAMP WITH TIME ZONE",
        "c_json": "JSON",
        "c_uuid": "UUID",
    }
    bad_json_error = "JSON"
    duplicate_key_error = "holds duplicate or missing values of the key"

    def __init__(self, root: Path) -> None:
        self.file = root / DUCKDB_PATH
        self.destination = DuckDBDestination({"path": DUCKDB_PATH})

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return duckdb_rows(self.file, sql)

    def column_types(self, table: str) -> dict[str, str]:
        sql = (
            "SELECT column_name, data_type FROM duckdb_columns() "
            f"WHERE schema_name = '{NS}' AND table_name = '{table}'"
        )
        return dict(self.rows(sql))

    def tables(self) -> list[str]:
        sql = f"SELECT table_name FROM duckdb_tables() WHERE schema_name = '{NS}' ORDER BY 1"
        return [name for (name,) in self.rows(sql)]

    @contextmanager
    def reader(self) -> Iterator[Callable[[str], list[tuple[Any, ...]]]]:
        # A second connection of this process (another process cannot open a file being
        # written).
        with duckdb.connect(str(self.file)) as conn:
            yield lambda sql: conn.execute(sql).fetchall()

    def expected_value(self, column: Column, written: Any) -> Any:
        # Decimals too wide for DuckDB are kept as their exact text; JSON reads as its text.
        return json.loads(written) if column.type == "json" else written

    def read_value(self, column: Column, read: Any) -> Any:
        return json.loads(read) if column.type == "json" else read
