"""The PostgreSQL source's type mapping and casts: the logical type of a PostgreSQL base type,
and the Arrow casts that give ADBC's batches the stream's types."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from connectors.sources.sql.read_plan import column_drift

# PostgreSQL base types (pg_type.typname) with a logical type of their own. Anything else
# (interval, inet, money, timetz, enums, ranges, ...) is read as its text form.
LOGICAL_BY_TYPNAME = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "float4": "real",
    "float8": "double",
    "bool": "boolean",
    "bytea": "binary",
    "date": "date",
    "time": "time",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
    "json": "json",
    "jsonb": "json",
    "uuid": "uuid",
    "text": "string",
    "varchar": "string",
    "bpchar": "string",
    "name": "string",
    "citext": "string",
}
# Text types ADBC already returns as Arrow strings. Casting bpchar to text would strip its
# padding, so these are selected as they are.
NATIVE_TEXT = frozenset({"text", "varchar", "bpchar", "name"})


# Objects with a lower oid are built into every PostgreSQL server (FirstNormalObjectId): a
# built-in type is the same type, with the same binary format, on any other server.
FIRST_NORMAL_OID = 16384
# Built-in types whose values name objects of the source database (regclass, regtype, ...):
# they would not name the same objects in another database, so they travel as text.
_OBJECT_REFERENCES = ("reg",)


def postgres_type(base_oid: int, typname: str, is_array: bool, spelled: str) -> str | None:
    """The type a PostgreSQL destination creates for a column whose base type is `typname`
    (`spelled` by format_type, with its typmod): the base type itself, text for the text types,
    None for a type that is not built in or names the source's objects (read as text)."""
    if base_oid >= FIRST_NORMAL_OID or typname.lstrip("_").startswith(_OBJECT_REFERENCES):
        return None
    if typname in NATIVE_TEXT and not is_array:
        # The text types' binary format is text's: they land as text (a length limit is
        # the source's constraint, as its NOT NULL is, which Landed does not copy either).
        return "text"
    return spelled


def logical_type(typname: str, typmod: int, is_array: bool) -> tuple[str, int | None, int | None]:
    """(logical type, precision, scale) of a PostgreSQL base type."""
    if is_array:
        return "json", None, None
    if typname == "numeric":
        if typmod < 4:  # unconstrained numeric
            return "decimal", None, None
        precision = ((typmod - 4) >> 16) & 0xFFFF
        scale = (typmod - 4) & 0x7FF
        if scale & 0x400:  # PostgreSQL 15+ allows a negative scale (11-bit signed)
            scale -= 0x800
        return "decimal", precision, scale
    return LOGICAL_BY_TYPNAME.get(typname, "string"), None, None


def cast(array: pa.Array, target: pa.Field, stream: str) -> pa.Array:
    """An ADBC column as the stream's field type."""
    if array.type == target.type:
        return array
    if isinstance(array, pa.ExtensionArray):
        array = array.storage
    if array.type == target.type:
        return array
    try:
        return pc.cast(array, target.type)
    except pa.ArrowInvalid as exc:
        if pa.types.is_decimal(target.type) and pa.types.is_string(array.type):
            return _cast_decimal_with_specials(array, target.type)
        raise column_drift(target, exc, stream) from exc


def _cast_decimal_with_specials(array: pa.Array, target: pa.DataType) -> pa.Array:
    """NaN and +/-Infinity are valid PostgreSQL numerics with no decimal128 equivalent; they
    become NULL (only this slow path, taken when a plain cast fails, pays for the check)."""
    special = pc.match_substring_regex(array, r"^[+-]?(nan|inf)", ignore_case=True)
    cleaned = pc.if_else(special, pa.scalar(None, pa.string()), array)
    return pc.cast(cleaned, target)
