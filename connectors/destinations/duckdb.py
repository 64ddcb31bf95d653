"""DuckDB destination: loads Arrow batches into a DuckDB file on the Landed server.

Exactly once, overwrite staging and swap, merge and schema evolution are the shared SQL
loader's (`connectors.destinations.sql.loader`): every `write` is one DuckDB transaction holding
the batch's rows (scanned straight from Arrow, with casts done by DuckDB's vectorised engine) and
the stream's new state. This module holds what is DuckDB's own: files and their locks, catalog
reads, the table rebuild where DuckDB cannot ALTER in place, and the key a merge needs.

Files: this is a multi-tenant server, so a customer's `path` must not reach arbitrary server
files. Paths resolve under one root directory: `LANDED_DUCKDB_ROOT`, else
`$LANDED_DATA_DIR/duckdb`, else `./var/duckdb`. Relative paths are taken from the root; absolute
paths must lie inside it; `..` is refused outright and symbolic links are resolved before the
check. Only `.duckdb` files are written. Each tenant (account) has a directory of its own under
the root, so that one account can never name, test or overwrite another's file.

DuckDB lets one process write a file at a time; a file held by another process surfaces as a
retryable TransientError saying the file is in use.

Schema evolution follows `connectors.destinations.sql.evolution`. Connections run with
TimeZone=UTC.
"""

# SQL here is built from identifiers that pass through quote_ident and from SQL type names of
# our own; every value travels as a bound parameter or through Arrow.
# ruff: noqa: S608

from __future__ import annotations

import errno
import os
import re
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, cast

import duckdb
import pyarrow as pa

from connectors.destinations.sql.batches import row_numbers
from connectors.destinations.sql.dialect import SqlDialect
from connectors.destinations.sql.evolution import EvolutionPlan, ExistingColumn
from connectors.destinations.sql.identifiers import (
    REMOVED_MARK,
    ROW_NUMBER,
    column_list,
    quote_ident,
    short_name,
    sql_literal,
    validate_namespace,
)
from connectors.destinations.sql.loader import SqlLoader, SqlStreamLoader, duplicate_key_error
from connectors.framework.base import (
    CheckResult,
    ConfigError,
    ConnectorError,
    Destination,
    PermissionError_,
    SchemaChange,
    StorageFullError,
    StreamLoad,
    TransientError,
)
from connectors.framework.spec import ConfigIssue, ConnectorSpec, SpecField
from connectors.framework.types import MAX_ARROW_DECIMAL_PRECISION, Column

SUFFIX = ".duckdb"


# --- Files ---------------------------------------------------------------------------------
def duckdb_root() -> Path:
    """The directory every DuckDB destination file lives under (absolute, symlinks resolved)."""
    configured = os.environ.get("LANDED_DUCKDB_ROOT")
    if configured:
        root = Path(configured)
    elif os.environ.get("LANDED_DATA_DIR"):
        root = Path(os.environ["LANDED_DATA_DIR"]) / "duckdb"
    else:
        root = Path("var") / "duckdb"
    return root.expanduser().resolve()


_TENANT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def tenant_root(tenant: str | None) -> Path:
    """The directory of one tenant's files (the root itself when there is no tenant, as in
    a single-user install driven without accounts)."""
    root = duckdb_root()
    if tenant is None:
        return root
    if not _TENANT.match(tenant):
        raise ConfigError("Invalid tenant name for the DuckDB directory.")
    return root / tenant


# The POSIX limits Linux file systems share; a file system that says less (os.pathconf) wins.
NAME_MAX = 255
PATH_MAX = 4096


def _limits(directory: Path) -> tuple[int, int]:
    """(longest file name, longest path) in bytes where files under `directory` go."""
    name_max, path_max = NAME_MAX, PATH_MAX
    existing = _nearest_directory(directory / "_")
    for key, default in (("PC_NAME_MAX", NAME_MAX), ("PC_PATH_MAX", PATH_MAX)):
        try:
            value = os.pathconf(existing, key)
        except (OSError, ValueError, AttributeError):
            continue  # not known here (or not on this OS): the POSIX figure stands
        if 0 < value < default:
            if key == "PC_NAME_MAX":
                name_max = value
            else:
                path_max = value
    return name_max, path_max


def _check_lengths(path: Path, root: Path) -> None:
    """Refuse a path the file system cannot hold, before anything touches it: the OS would
    answer ENAMETOOLONG only later, in the middle of a check or a sync."""
    name_max, path_max = _limits(root)
    for part in path.parts:
        if len(os.fsencode(part)) > name_max:
            raise ConfigError(
                f"A name in the DuckDB path is too long: at most {name_max} bytes per file or "
                "directory name."
            )
    if len(os.fsencode(str(path))) >= path_max:
        raise ConfigError(
            f"The DuckDB path is too long: the server's full path must stay under {path_max} bytes."
        )


def resolve_path(raw: Any, tenant: str | None = None) -> Path:
    """The file a configured `path` names, refused (ConfigError) unless it is a `.duckdb` file
    inside the tenant's directory."""
    if not isinstance(raw, str) or not raw.strip() or "\x00" in raw:
        raise ConfigError("Set `path` to a .duckdb file name, e.g. analytics.duckdb.")
    candidate = Path(raw.strip())
    if ".." in candidate.parts:
        raise ConfigError("The DuckDB path may not contain '..'.")
    if candidate.suffix != SUFFIX or candidate.name == SUFFIX:
        raise ConfigError(f"The DuckDB path must name a file ending in {SUFFIX}.")
    root = tenant_root(tenant)
    joined = candidate if candidate.is_absolute() else root / candidate
    _check_lengths(joined, root)
    try:
        resolved = joined.resolve()
    except (OSError, RuntimeError) as exc:
        # RuntimeError is how Python 3.11 reports a symbolic-link loop.
        raise ConfigError(f"The DuckDB path {raw.strip()!r} cannot be resolved: {exc}.") from exc
    # A symbolic link may lengthen the path; the file system's limits apply to what it opens.
    _check_lengths(resolved, root)
    if not resolved.is_relative_to(root) or resolved == root:
        raise ConfigError(
            "The DuckDB path must lie inside the server's DuckDB directory; "
            "use a relative path such as analytics.duckdb."
        )
    return resolved


def _nearest_directory(path: Path) -> Path:
    directory = path.parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    return directory


def _probe_writable(directory: Path) -> None:
    """Create and delete a file: the only test that also holds for root, read-only mounts
    and full quotas (os.access does not)."""
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".landed_probe_"):
            pass
    except OSError as exc:
        raise PermissionError_(
            f"The DuckDB directory is not writable: {exc.strerror or exc}."
        ) from exc


# Less room than this and a load cannot commit even one batch (DuckDB grows its file by 256 KB
# blocks, and writes its WAL beside it): the connection test fails then, as the sync would.
MIN_FREE_BYTES = 1024 * 1024


def _probe_space(directory: Path, shown: str) -> None:
    """A full disk still takes the probe's empty file (inodes outlast blocks), so the free
    space is asked for as well: a test after a sync failed on a full disk must not say the
    file can be written."""
    try:
        stats = os.statvfs(directory)
    except OSError:
        return  # the probe proved the directory usable; the space is unknown here
    free = stats.f_bavail * stats.f_frsize
    if free < MIN_FREE_BYTES:
        raise StorageFullError(
            f"The disk holding the DuckDB file {shown!r} is full ({free // 1024} KB free). "
            "Free space in the Landed server's DuckDB directory."
        )


# --- Types ---------------------------------------------------------------------------------
class DuckDBTypes:
    """Logical types as `duckdb_columns()` spells them (so they compare as strings). Decimals
    wider than DuckDB's 38 digits, or unconstrained, are kept exactly as text."""

    text_type = "VARCHAR"
    _RENDER: dict[str, str] = {
        "boolean": "BOOLEAN",
        "smallint": "SMALLINT",
        "integer": "INTEGER",
        "bigint": "BIGINT",
        "real": "FLOAT",
        "double": "DOUBLE",
        "string": "VARCHAR",
        "binary": "BLOB",
        "date": "DATE",
        "time": "TIME",
        "timestamp": "TIMESTAMP",
        "timestamptz": "TIMESTAMP WITH TIME ZONE",
        "json": "JSON",
        "uuid": "UUID",
    }
    _PARSE: dict[str, str] = {
        **{sql: logical for logical, sql in _RENDER.items()},
        "REAL": "real",
        "TIMESTAMPTZ": "timestamptz",
    }
    _DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")

    def render(self, column: Column) -> str:
        if column.type != "decimal":
            return self._RENDER[column.type]
        precision, scale = column.precision, column.scale or 0
        if precision is None or not 0 < precision <= MAX_ARROW_DECIMAL_PRECISION:
            return self.text_type
        if not 0 <= scale <= precision:
            return self.text_type
        return f"DECIMAL({precision},{scale})"

    def parse(self, sql_type: str) -> Column | None:
        match = self._DECIMAL.match(sql_type)
        if match:
            return Column("", "decimal", precision=int(match[1]), scale=int(match[2]))
        logical = self._PARSE.get(sql_type)
        return Column("", logical) if logical else None


TYPES = DuckDBTypes()


# --- Errors --------------------------------------------------------------------------------
# How DuckDB passes on the OS's ENOSPC and EDQUOT: as an IO error from a write, a failed commit
# (the WAL could not be written), or a FATAL error from a checkpoint, which invalidates the
# database for the rest of the connection and repeats the original error in every later one.
_STORAGE_FULL_HINTS = ("no space left on device", "disk quota exceeded")
_STORAGE_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def _storage_full(shown: str, stream: str | None = None) -> StorageFullError:
    """The error a full disk gets, whichever statement met it. DuckDB's own text names the
    server's directory layout and its WAL; the user needs what happened and what to do. Both
    halves of a batch (rows and state) are in one transaction, so the file holds whole
    batches and the state that matches them, however the write failed."""
    return StorageFullError(
        f"The disk holding the DuckDB file {shown!r} is full (no space left on device). The "
        "file keeps every batch committed before it, with the stream state that matches them. "
        "Free space on the Landed server's DuckDB directory, then sync again: the sync resumes "
        "from the last committed batch.",
        stream=stream,
    )


def _is_storage_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in _STORAGE_FULL_ERRNOS
    lowered = str(exc).lower()
    return any(hint in lowered for hint in _STORAGE_FULL_HINTS)


def _open_error(exc: duckdb.Error, shown: str) -> ConnectorError:
    """A failure to open the file, worded with the path as the user gave it (not the server's
    directory layout)."""
    message = str(exc)
    lowered = message.lower()
    if _is_storage_full(exc):
        return _storage_full(shown)
    if "lock" in lowered or "different configuration" in lowered:
        return TransientError(
            f"The DuckDB file {shown!r} is in use by another process (DuckDB allows one writer "
            "per file). Retry when it is free."
        )
    if "not a valid duckdb database" in lowered:
        return ConfigError(f"{shown!r} exists but is not a DuckDB database file.")
    if "permission denied" in lowered:
        return PermissionError_(f"The DuckDB file {shown!r} cannot be opened: permission denied.")
    return ConnectorError(f"Could not open the DuckDB file {shown!r}: {message}")


def _query_error(exc: duckdb.Error, stream: str | None, shown: str) -> ConnectorError:
    if _is_storage_full(exc):
        return _storage_full(shown, stream)
    # The first paragraph names the problem and the value; the rest echoes the SQL.
    message = str(exc).split("\n\n")[0].strip()
    if isinstance(exc, duckdb.TransactionException | duckdb.IOException):
        return TransientError(f"DuckDB failed for now: {message}", stream=stream)
    if isinstance(exc, duckdb.CatalogException | duckdb.BinderException):
        return ConfigError(message, stream=stream)
    return ConnectorError(f"DuckDB rejected the load: {message}", stream=stream)


# --- Destination ---------------------------------------------------------------------------
class DuckDBDestination(Destination):
    spec = ConnectorSpec(
        type="duckdb",
        display_name="DuckDB",
        description="Load into a DuckDB file on the Landed server, one schema per namespace.",
        category="file",
        auth_method="file",
        fields=(
            SpecField(
                "path",
                "string",
                "The .duckdb file, relative to the server's DuckDB directory.",
                required=True,
            ),
        ),
        tags=("sql", "file", "embedded"),
    )

    @classmethod
    def config_issues(
        cls, config: dict[str, Any], *, tenant: str | None = None
    ) -> list[ConfigIssue]:
        if "path" not in config:
            return []  # the spec reports it missing
        try:
            resolve_path(config["path"], tenant)
        except ConfigError as exc:
            return [ConfigIssue("path", exc.message, "value_error")]
        return []

    def check(self) -> CheckResult:
        """The path lies inside the root, its directory is writable and has room, and the file
        (when it exists) opens as a DuckDB database. Nothing is created."""
        try:
            path = resolve_path(self.config.get("path"), self.tenant)
            directory = _nearest_directory(path)
            _probe_writable(directory)
            _probe_space(directory, str(self.config["path"]))
            if path.exists():
                self._open(path, read_only=True).close()
        except ConnectorError as exc:
            return CheckResult.failure(exc)
        except OSError as exc:
            # Whatever the OS refuses (a name too long for this file system, an I/O error) is
            # the answer to the test, not a crash of it.
            return CheckResult.failure(
                ConnectorError(
                    f"The DuckDB file {self.config.get('path')!r} cannot be reached: "
                    f"{exc.strerror or exc}."
                )
            )
        return CheckResult.success(f"The DuckDB file {self.config['path']!r} can be written.")

    def open_loader(self, namespace: str) -> DuckDBLoader:
        namespace = validate_namespace(namespace)
        path = resolve_path(self.config.get("path"), self.tenant)
        shown = str(self.config["path"])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if _is_storage_full(exc):
                raise _storage_full(shown) from exc
            raise PermissionError_(
                f"Cannot create the directory of {shown!r}: {exc.strerror or exc}."
            ) from exc
        return DuckDBLoader(self._open(path, read_only=False), namespace, shown=shown)

    def _open(self, path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        try:
            connection = duckdb.connect(str(path), read_only=read_only)
            connection.execute("SET TimeZone = 'UTC'")
        except duckdb.Error as exc:
            raise _open_error(exc, str(self.config.get("path"))) from exc
        return connection


# --- Loader --------------------------------------------------------------------------------
class DuckDBDialect(SqlDialect):
    types = TYPES
    timestamptz = "TIMESTAMPTZ"
    now = "current_timestamp"


class DuckDBLoader(SqlLoader):
    """One DuckDB connection (and so the file's write lock) for one sync, into one schema."""

    dialect = DuckDBDialect()
    driver_error = duckdb.Error

    def __init__(
        self, connection: duckdb.DuckDBPyConnection, namespace: str, *, shown: str
    ) -> None:
        # The name a batch is registered under; unique, as registrations are per connection.
        self.view = f"_landed_batch_{uuid.uuid4().hex[:12]}"
        # The file as the user named it, for errors (not the server's directory layout).
        self.shown = shown
        super().__init__(connection, namespace)

    def _open_session(self) -> None:
        # Names are qualified with the catalog (the file's stem): a namespace named like the
        # file would otherwise be an ambiguous reference.
        (self.catalog,) = self.connection.execute("SELECT current_database()").fetchone()

    # Connection hooks.
    def close(self) -> None:
        """Close the connection, releasing the file (an open transaction rolls back). After a
        fatal error (a checkpoint that met a full disk) DuckDB has invalidated the database:
        closing its last connection drops that instance, so that the next sync in this
        worker process opens the file afresh (replaying its WAL) instead of inheriting it."""
        with suppress(duckdb.Error):
            self.connection.close()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> duckdb.DuckDBPyConnection:
        return self.connection.execute(sql, list(params) if params else None)

    def _begin(self) -> None:
        self.connection.begin()

    def _commit(self) -> None:
        self.connection.commit()

    def _rollback_quietly(self) -> None:
        # A failure means nothing was open, or the connection is gone; the caller's error
        # says why.
        with suppress(duckdb.Error):
            self.connection.rollback()

    def _translate_error(self, exc: Exception, stream: str | None) -> ConnectorError:
        return _query_error(cast(duckdb.Error, exc), stream, self.shown)

    def schema_name(self) -> str:
        return f"{quote_ident(self.catalog)}.{quote_ident(self.namespace)}"

    # Catalog.
    def columns_of(self, table: str) -> list[ExistingColumn] | None:
        """The table's columns from the catalog, or None when there is no such table.
        (DuckDB identifiers are case-insensitive, so names are compared lower-cased.)"""
        rows = self.execute(
            "SELECT column_name, data_type, is_nullable, coalesce(comment, '') = $3 "
            "FROM duckdb_columns() WHERE database_name = current_database() "
            "AND lower(schema_name) = lower($1) AND lower(table_name) = lower($2) "
            "ORDER BY column_index",
            (self.namespace, table, REMOVED_MARK),
        ).fetchall()
        return [ExistingColumn(*row) for row in rows] or None

    def _catalog_filter(self) -> str:
        return (
            "database_name = current_database() AND lower(schema_name) = lower($1) "
            "AND lower(table_name) = lower($2)"
        )

    def _index_sql(self, table: str) -> list[tuple[str, str]]:
        """(name, CREATE statement) of the table's indexes (constraints excluded)."""
        return self.execute(
            f"SELECT index_name, sql FROM duckdb_indexes() WHERE {self._catalog_filter()}",
            (self.namespace, table),
        ).fetchall()

    def _keys(self, table: str) -> list[tuple[str, list[str]]]:
        """(constraint type, columns) of the table's PRIMARY KEY and UNIQUE constraints."""
        return self.execute(
            "SELECT constraint_type, constraint_column_names FROM duckdb_constraints() "
            f"WHERE {self._catalog_filter()} AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')",
            (self.namespace, table),
        ).fetchall()

    # Streams.
    def _stream_loader(
        self,
        load: StreamLoad,
        write_table: str,
        columns: dict[str, str],
        changes: list[SchemaChange],
    ) -> DuckDBStreamLoader:
        return DuckDBStreamLoader(self, load, write_table, columns, changes)

    def _alter_columns(self, table: str, plan: EvolutionPlan) -> None:
        if self._alter_blocked(table, plan):
            self._rebuild(table, dict(plan.retype), set(plan.drop_not_null))
        else:
            super()._alter_columns(table, plan)

    def _alter_blocked(self, table: str, plan: EvolutionPlan) -> bool:
        """DuckDB refuses to alter a column's type or nullability while the table has an
        index, and the type of a key column at all."""
        if self._index_sql(table):
            return True
        touched = {name.lower() for name, _ in plan.retype} | {
            n.lower() for n in plan.drop_not_null
        }
        return any(touched & {c.lower() for c in columns} for _, columns in self._keys(table))

    def _rebuild(self, table: str, retype: dict[str, str], loosen: set[str]) -> None:
        """Copy the table into a new one with the changed column types and nullability, keys,
        defaults, comments and indexes carried over, then put it in the old one's place; all
        in the caller's transaction. Used where DuckDB cannot ALTER in place."""
        columns = self.execute(
            "SELECT column_name, data_type, is_nullable, column_default, comment "
            f"FROM duckdb_columns() WHERE {self._catalog_filter()} ORDER BY column_index",
            (self.namespace, table),
        ).fetchall()
        indexes = self._index_sql(table)
        keys = [(kind, cols) for kind, cols in self._keys(table) if not loosen & set(cols)]
        parts = []
        for name, sql_type, nullable, default, _ in columns:
            part = f"{quote_ident(name)} {retype.get(name, sql_type)}"
            if not nullable and name not in loosen:
                part += " NOT NULL"
            if default is not None:
                part += f" DEFAULT {default}"
            parts.append(part)
        parts += [f"{kind} ({column_list(cols)})" for kind, cols in keys]
        interim = short_name("_landed_rebuild_", table)
        names = [name for name, *_ in columns]
        casts = ", ".join(
            f"CAST({quote_ident(n)} AS {retype[n]})" if n in retype else quote_ident(n)
            for n in names
        )
        self.execute(f"CREATE TABLE {self.table(interim)} ({', '.join(parts)})")
        self.execute(
            f"INSERT INTO {self.table(interim)} ({column_list(names)}) "
            f"SELECT {casts} FROM {self.table(table)}"
        )
        self.execute(f"DROP TABLE {self.table(table)}")
        self.execute(f"ALTER TABLE {self.table(interim)} RENAME TO {quote_ident(table)}")
        for _, create in indexes:
            self.execute(create)
        for name, _, _, _, comment in columns:
            if comment:
                self.execute(
                    f"COMMENT ON COLUMN {self.table(table)}.{quote_ident(name)} "
                    f"IS {sql_literal(comment)}"
                )

    def _ensure_unique_key(self, load: StreamLoad, key: Sequence[str]) -> None:
        """A primary key on the key columns (ON CONFLICT needs one), unless the table has a
        matching key. A table whose primary key is on other columns gets a unique index
        instead (DuckDB allows one primary key)."""
        wanted = {k.lower() for k in key}
        existing = self._keys(load.table)
        if any({c.lower() for c in cols} == wanted for _, cols in existing):
            return
        index = short_name("_landed_key_", f"{load.table}_{'_'.join(key)}")
        if any(name.lower() == index.lower() for name, _ in self._index_sql(load.table)):
            return
        if any(kind == "PRIMARY KEY" for kind, _ in existing):
            statement = (
                f"CREATE UNIQUE INDEX {quote_ident(index)} "
                f"ON {self.table(load.table)} ({column_list(key)})"
            )
        else:
            statement = f"ALTER TABLE {self.table(load.table)} ADD PRIMARY KEY ({column_list(key)})"
        try:
            self.execute(statement)
        except duckdb.ConstraintException as exc:
            raise duplicate_key_error(load, key, "duplicate or missing values") from exc


class DuckDBStreamLoader(SqlStreamLoader):
    """Writes one stream's batches, each with its state in one transaction; DuckDB scans each
    batch in place from Arrow and casts it with its vectorised engine."""

    loader: DuckDBLoader

    @contextmanager
    def _staged(self, batch: pa.RecordBatch, *, numbered: bool) -> Iterator[str]:
        """The batch as a view DuckDB scans in place (zero-copy Arrow)."""
        if numbered:
            batch = batch.append_column(ROW_NUMBER, row_numbers(batch.num_rows))
        view = self.loader.view
        self.loader.connection.register(view, batch)
        try:
            yield quote_ident(view)
        finally:
            # An aborted transaction refuses this; the next register replaces the view.
            with suppress(duckdb.Error):
                self.loader.connection.unregister(view)
