"""Column types: a small set of logical types, each with one Arrow representation.

Sources describe their columns with these; destinations create columns from them. The Arrow
field of a column carries its logical type in metadata (`landed.type`), so that a destination
can tell a JSON document or an arbitrary-precision decimal held as Arrow text from plain text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pyarrow as pa


def arrow_module() -> ModuleType:
    """pyarrow, imported on first use rather than with this module: the API process describes
    columns (discovery, stream settings) without ever building an Arrow type, and importing
    Arrow costs it some 40 MiB. The one deferred import of pyarrow, for every module that the
    API process may load (the http_api engine's records too)."""
    import pyarrow

    module: ModuleType = pyarrow  # untyped package: named as the module it is
    return module


LogicalType = Literal[
    "boolean",
    "smallint",
    "integer",
    "bigint",
    "real",
    "double",
    "decimal",
    "string",
    "binary",
    "date",
    "time",
    "timestamp",  # without time zone
    "timestamptz",  # an instant, carried in UTC
    "json",
    "uuid",
]
LOGICAL_TYPES: tuple[str, ...] = LogicalType.__args__  # type: ignore[attr-defined]

TYPE_KEY = b"landed.type"
PRECISION_KEY = b"landed.precision"
SCALE_KEY = b"landed.scale"
# Arrow's decimal128 holds 38 digits; a wider or unconstrained decimal travels as exact text.
MAX_ARROW_DECIMAL_PRECISION = 38


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # a LogicalType
    nullable: bool = True
    precision: int | None = None  # decimal only
    scale: int | None = None  # decimal only
    source_type: str | None = None  # the type as the source names it, for display
    # Set by a PostgreSQL source: the PostgreSQL type the column's values are (domains resolved
    # to their base type), spelled as `format_type` does, for a built-in type only. A
    # PostgreSQL destination creates the column with this type, so that both ends agree and
    # binary COPY can pass through (docs/syncs.md, "Load paths").
    postgres_type: str | None = None

    def arrow_type(self) -> pa.DataType:
        return arrow_type_for(self.type, self.precision, self.scale)

    def arrow_field(self) -> pa.Field:
        pa = arrow_module()
        metadata = {TYPE_KEY: self.type.encode()}
        if self.precision is not None:
            metadata[PRECISION_KEY] = str(self.precision).encode()
        if self.scale is not None:
            metadata[SCALE_KEY] = str(self.scale).encode()
        return pa.field(self.name, self.arrow_type(), nullable=True, metadata=metadata)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "nullable": self.nullable,
            "precision": self.precision,
            "scale": self.scale,
            "source_type": self.source_type,
            "postgres_type": self.postgres_type,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Column:
        return cls(
            name=data["name"],
            type=data["type"],
            nullable=data.get("nullable", True),
            precision=data.get("precision"),
            scale=data.get("scale"),
            source_type=data.get("source_type"),
            postgres_type=data.get("postgres_type"),
        )


def arrow_type_for(
    logical: str, precision: int | None = None, scale: int | None = None
) -> pa.DataType:
    if logical == "decimal":
        pa = arrow_module()
        if precision is not None and precision <= MAX_ARROW_DECIMAL_PRECISION:
            return pa.decimal128(precision, scale or 0)
        return pa.string()
    return arrow_types()[logical]


@cache
def arrow_types() -> dict[str, pa.DataType]:
    """Each logical type's Arrow type (decimal: see arrow_type_for)."""
    pa = arrow_module()
    return {
        "boolean": pa.bool_(),
        "smallint": pa.int16(),
        "integer": pa.int32(),
        "bigint": pa.int64(),
        "real": pa.float32(),
        "double": pa.float64(),
        "string": pa.string(),
        "binary": pa.binary(),
        "date": pa.date32(),
        "time": pa.time64("us"),
        "timestamp": pa.timestamp("us"),
        "timestamptz": pa.timestamp("us", tz="UTC"),
        "json": pa.string(),
        "uuid": pa.string(),
    }


def column_from_field(arrow_field: pa.Field) -> Column:
    """The logical column an Arrow field stands for (its metadata first, else its Arrow type)."""
    metadata = arrow_field.metadata or {}
    if TYPE_KEY in metadata:
        precision = metadata.get(PRECISION_KEY)
        scale = metadata.get(SCALE_KEY)
        return Column(
            name=arrow_field.name,
            type=metadata[TYPE_KEY].decode(),
            precision=int(precision) if precision else None,
            scale=int(scale) if scale else None,
        )
    return Column(name=arrow_field.name, **_infer(arrow_field.type))


def __getattr__(name: str) -> dict[str, pa.DataType]:
    # `ARROW_TYPES`, the mapping as a module constant, built when first asked for.
    if name == "ARROW_TYPES":
        return arrow_types()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _infer(arrow: pa.DataType) -> dict[str, Any]:
    pa = arrow_module()
    if pa.types.is_decimal(arrow):
        return {"type": "decimal", "precision": arrow.precision, "scale": arrow.scale}
    if pa.types.is_timestamp(arrow):
        return {"type": "timestamptz" if arrow.tz else "timestamp"}
    for logical, candidate in arrow_types().items():
        if logical not in ("json", "uuid") and arrow == candidate:
            return {"type": logical}
    if pa.types.is_integer(arrow):
        return {"type": "bigint"}
    if pa.types.is_floating(arrow):
        return {"type": "double"}
    if pa.types.is_large_string(arrow) or pa.types.is_string_view(arrow):
        return {"type": "string"}
    if pa.types.is_large_binary(arrow):
        return {"type": "binary"}
    if pa.types.is_date(arrow):
        return {"type": "date"}
    if pa.types.is_time(arrow):
        return {"type": "time"}
    return {"type": "json"}


def schema_for(columns: list[Column]) -> pa.Schema:
    return arrow_module().schema([column.arrow_field() for column in columns])
