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
* A column whose type the destination does not model (a PostgreSQL source's own type, such
  as `text[]` or `interval`, created in a PostgreSQL destination as it is) is compared by the
  logical type its values travel as: an existing JSON column keeps holding an array, an
  existing text column anything; any other existing type is converted to text as above.
* Landed creates every non-key column nullable: a source's NOT NULL describes the source, and a
  copy that enforced it would fail a whole sync on the first row that breaks the claim.

The rules are pure functions over column descriptions; each destination renders SQL types
(`TypeDialect`), and the shared loader (`connectors.destinations.sql.loader`) applies the plan
through the destination's dialect hooks, in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from connectors.destinations.sql.identifiers import RESERVED_COLUMNS
from connectors.framework.base import SchemaChange
from connectors.framework.types import Column

Relation = Literal["same", "fits", "widen", "text"]

_INTEGERS = {"smallint": 5, "integer": 10, "bigint": 19}  # decimal digits each can hold
_WIDENINGS: dict[str, frozenset[str]] = {
    "smallint": frozenset({"integer", "bigint", "real", "double"}),
    "integer": frozenset({"bigint", "double"}),
    "real": frozenset({"double"}),
    "date": frozenset({"timestamp", "timestamptz"}),
    "timestamp": frozenset({"timestamptz"}),
}


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
    # A type the dialect does not parse (a PostgreSQL source's own type, say `text[]`) is
    # compared by the logical type its values travel as (an array's is JSON).
    new = dialect.parse(wanted_sql) or Column(
        "", load.type, precision=load.precision, scale=load.scale
    )
    if old is None:
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
