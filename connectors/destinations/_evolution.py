"""Schema evolution rules shared by the SQL destinations (PostgreSQL, DuckDB).

A destination table follows its source without ever losing data:

* A column new in the source is added (nullable: the rows already loaded have no value).
* A column gone from the source is kept, made nullable, and marked as removed with a column
  comment (`REMOVED_MARK`). The mark is what makes the change recorded once: `column_removed`
  is reported when a column is newly absent, not on every later sync. A column that comes back
  loses its mark and is written again.
* A column whose type changed:
    - if the new type *widens* the old one (every old value converts exactly), the column is
      altered to the new type: smallint -> integer -> bigint, smallint -> real,
      smallint/integer -> double, real -> double, any integer -> a decimal with enough integer
      digits, decimal(p,s) -> decimal(p',s') with s' >= s and p'-s' >= p-s (or unconstrained),
      date -> timestamp/timestamptz, timestamp -> timestamptz (read as UTC);
    - if the old type already holds every new value (the reverse of a widening, or the column
      is text), the column stays and the new values are cast to it on load;
    - otherwise the column is converted to text, since every value has a text form, and the
      new values are loaded as text. bigint -> double is *not* a widening (doubles hold 53
      bits), so it lands as text.
  Both alterations are recorded as `type_changed` with the old and new SQL type.
* Landed creates every non-key column nullable: a source's NOT NULL describes the source, and a
  copy that enforced it would fail a whole sync on the first row that breaks the claim.

The rules are pure functions over column descriptions; each destination renders SQL types
(`TypeDialect`) and applies the plan in its own dialect, in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from connectors.framework.base import ConfigError, ConnectorError, SchemaChange, StreamLoad
from connectors.framework.types import Column, column_from_field

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

Relation = Literal["same", "fits", "widen", "text"]

_INTEGERS = {"smallint": 5, "integer": 10, "bigint": 19}  # decimal digits each can hold
_WIDENINGS: dict[str, frozenset[str]] = {
    "smallint": frozenset({"integer", "bigint", "real", "double"}),
    "integer": frozenset({"bigint", "double"}),
    "real": frozenset({"double"}),
    "date": frozenset({"timestamp", "timestamptz"}),
    "timestamp": frozenset({"timestamptz"}),
}


# --- Identifiers ---------------------------------------------------------------------------
def quote_ident(name: str) -> str:
    """A SQL identifier, double-quoted (the same rule in PostgreSQL and DuckDB)."""
    if not name or "\x00" in name:
        raise ConfigError(f"Invalid identifier {name!r}.")
    return '"' + name.replace('"', '""') + '"'


def qualified(namespace: str, table: str) -> str:
    return f"{quote_ident(namespace)}.{quote_ident(table)}"


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


def validate_load(load: StreamLoad) -> None:
    """Refuse a load the loader cannot honour: no columns, reserved or repeated names, a merge
    without a key, or a key column that is not loaded."""
    names = [c.name for c in load.columns]
    if not names:
        raise ConfigError("A stream needs at least one column.", stream=load.stream)
    for name in names:
        quote_ident(name)
        if name in RESERVED_COLUMNS:
            raise ConfigError(f"Column name {name!r} is reserved by Landed.", stream=load.stream)
    if len(set(names)) != len(names):
        raise ConfigError("Column names must be unique.", stream=load.stream)
    if load.load_mode == "merge" and not load.primary_key:
        raise ConfigError("Merge needs a primary key.", stream=load.stream)
    missing = [k for k in load.primary_key if k not in names]
    if missing:
        raise ConfigError(
            f"Primary key column(s) {', '.join(missing)} are not among the stream's columns.",
            stream=load.stream,
        )


# --- Types ---------------------------------------------------------------------------------
class TypeDialect(Protocol):
    """How a destination spells logical types, and reads them back from its catalog."""

    text_type: str

    def render(self, column: Column) -> str:
        """The SQL type a column of this logical type is created with, spelled exactly as
        the catalog reports it (so that equal types compare equal as strings)."""
        ...

    def parse(self, sql_type: str) -> Column | None:
        """The logical type a catalog type stands for, or None for a type Landed never
        creates."""
        ...


def widens(old: Column, new: Column) -> bool:
    """True when every value of `old` converts exactly to `new` (and the types differ)."""
    if old.type == new.type and old.type != "decimal":
        return False
    if new.type == "decimal":
        return _decimal_holds(new, old)
    return new.type in _WIDENINGS.get(old.type, frozenset())


def _decimal_holds(target: Column, value: Column) -> bool:
    if value.type in _INTEGERS:
        if target.precision is None:
            return True
        return target.precision - (target.scale or 0) >= _INTEGERS[value.type]
    if value.type != "decimal":
        return False
    if target.precision is None:
        return value.precision is not None  # unconstrained holds any constrained decimal
    if value.precision is None:
        return False
    target_scale, value_scale = target.scale or 0, value.scale or 0
    same = (target.precision, target_scale) == (value.precision, value_scale)
    return (
        not same
        and target_scale >= value_scale
        and target.precision - target_scale >= value.precision - value_scale
    )


def _same_logical(a: Column, b: Column) -> bool:
    return (a.type, a.precision, a.scale or 0) == (b.type, b.precision, b.scale or 0)


def relation(existing_sql: str, load: Column, dialect: TypeDialect) -> Relation:
    """What loading `load` into a column of type `existing_sql` needs (see the module rules)."""
    wanted_sql = dialect.render(load)
    if existing_sql == wanted_sql:
        return "same"
    old = dialect.parse(existing_sql)
    new = dialect.parse(wanted_sql)
    if old is None or new is None:
        return "text" if existing_sql != dialect.text_type else "fits"
    if _same_logical(old, new) or old.type == "string" or widens(new, old):
        return "fits"
    if widens(old, new):
        return "widen"
    return "text"


# --- Plans ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExistingColumn:
    """A column of a destination table, as its catalog describes it."""

    name: str
    sql_type: str
    nullable: bool
    removed: bool  # carries REMOVED_MARK


@dataclass
class EvolutionPlan:
    """What to change in an existing table, and the changes to report."""

    add: list[tuple[str, str]] = field(default_factory=list)  # (column, sql type)
    retype: list[tuple[str, str]] = field(default_factory=list)  # (column, new sql type)
    drop_not_null: list[str] = field(default_factory=list)
    mark_removed: list[str] = field(default_factory=list)
    unmark_removed: list[str] = field(default_factory=list)
    changes: list[SchemaChange] = field(default_factory=list)


def plan_evolution(
    stream: str,
    existing: Sequence[ExistingColumn],
    load: Sequence[Column],
    dialect: TypeDialect,
    key: Sequence[str] = (),
) -> EvolutionPlan:
    """The changes that make an existing table hold `load` without losing a value."""
    plan = EvolutionPlan()
    current = {c.name: c for c in existing}
    for column in load:
        found = current.get(column.name)
        if found is None:
            sql = dialect.render(column)
            plan.add.append((column.name, sql))
            plan.changes.append(SchemaChange(stream, "column_added", column.name, new_type=sql))
            continue
        if found.removed:
            plan.unmark_removed.append(column.name)
        _plan_type(plan, stream, found, column, dialect)
    loaded = {c.name for c in load}
    for column in existing:
        if column.name in loaded or column.name in RESERVED_COLUMNS:
            continue
        if not column.nullable and column.name not in key:
            plan.drop_not_null.append(column.name)
        if not column.removed:
            plan.mark_removed.append(column.name)
            plan.changes.append(
                SchemaChange(
                    stream,
                    "column_removed",
                    column.name,
                    old_type=column.sql_type,
                    note="Kept with its earlier values; new rows leave it empty.",
                )
            )
    return plan


def _plan_type(
    plan: EvolutionPlan,
    stream: str,
    found: ExistingColumn,
    column: Column,
    dialect: TypeDialect,
) -> None:
    kind = relation(found.sql_type, column, dialect)
    if kind == "widen":
        new_sql = dialect.render(column)
        note = "Widened; every earlier value converted exactly."
    elif kind == "text":
        new_sql = dialect.text_type
        note = f"Incompatible with {dialect.render(column)}; converted to text to keep every value."
    else:
        return
    plan.retype.append((column.name, new_sql))
    plan.changes.append(
        SchemaChange(stream, "type_changed", column.name, found.sql_type, new_sql, note)
    )


@dataclass
class ReplacementPlan:
    """The table an overwrite builds: the load's columns with their new types, plus the old
    table's columns the load lacks (kept, empty, marked removed)."""

    columns: list[tuple[str, str]]  # (column, sql type)
    removed: list[str]
    changes: list[SchemaChange]


def plan_replacement(
    stream: str,
    existing: Sequence[ExistingColumn] | None,
    load: Sequence[Column],
    dialect: TypeDialect,
) -> ReplacementPlan:
    """The columns of an overwrite's new table, and the changes against the table it replaces
    (`table_created` when there is none)."""
    columns = [(c.name, dialect.render(c)) for c in load]
    if existing is None:
        return ReplacementPlan(columns, [], [SchemaChange(stream, "table_created")])
    changes: list[SchemaChange] = []
    current = {c.name: c for c in existing}
    for name, sql in columns:
        found = current.get(name)
        if found is None:
            changes.append(SchemaChange(stream, "column_added", name, new_type=sql))
        elif found.sql_type != sql:
            note = "The overwrite reloads every row with the new type."
            changes.append(SchemaChange(stream, "type_changed", name, found.sql_type, sql, note))
    loaded = {c.name for c in load}
    kept = [c for c in existing if c.name not in loaded and c.name not in RESERVED_COLUMNS]
    for column in kept:
        columns.append((column.name, column.sql_type))
        if not column.removed:
            note = "Kept (empty for the reloaded rows)."
            changes.append(
                SchemaChange(stream, "column_removed", column.name, column.sql_type, note=note)
            )
    return ReplacementPlan(columns, [c.name for c in kept], changes)


# --- State and batches ---------------------------------------------------------------------
def state_document(state: dict[str, Any] | None, stream: str) -> str | None:
    """The state as strict JSON text (NaN and Infinity refused: the databases' JSON types
    reject them, and a state must read back as it was written)."""
    if state is None:
        return None
    try:
        return json.dumps(state, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConnectorError(f"The stream state is not JSON: {exc}", stream=stream) from exc


def normalize_batch(records: pa.RecordBatch, stream: str, known: set[str]) -> pa.RecordBatch:
    """The batch with every column in its logical type's one Arrow representation (dictionary
    and view encodings decoded, other integer and time widths cast), refusing columns the
    table does not have. Vectorised: Arrow casts, no per-row Python."""
    arrays: list[pa.Array] = []
    fields: list[pa.Field] = []
    for arrow_field, array in zip(records.schema, records.columns, strict=True):
        if arrow_field.name not in known:
            raise ConfigError(
                f"Column {arrow_field.name!r} is not among the stream's columns.", stream=stream
            )
        canonical = column_from_field(arrow_field).arrow_field()
        if array.type != canonical.type:
            try:
                array = _cast(array, canonical.type)
            except (pa.ArrowException, ValueError) as exc:
                raise ConnectorError(
                    f"Column {arrow_field.name!r} cannot be read as {canonical.type}: {exc}",
                    stream=stream,
                ) from exc
        arrays.append(array)
        fields.append(canonical)
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _cast(array: pa.Array, target: pa.DataType) -> pa.Array:
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if array.type == target:
        return array
    # Nanoseconds (or a finer time) must truncate to the microseconds both databases keep.
    lossy_ok = pa.types.is_temporal(array.type) and pa.types.is_temporal(target)
    return pc.cast(array, target, safe=not lossy_ok)


def row_numbers(count: int) -> pa.Array:
    """0, 1, ..., count-1 as int64, computed in Arrow (no Python loop): the batch order that
    decides which of a key's duplicates in one batch wins a merge."""
    if count == 0:
        return pa.array([], pa.int64())
    ones = pc.fill_null(pa.nulls(count, pa.int64()), 1)
    return pc.subtract(pc.cumulative_sum(ones), 1)
