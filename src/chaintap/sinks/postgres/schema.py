"""Arrow types to PostgreSQL column types, and the check of an existing table.

Every type is spelled the way `format_type()` prints it, so the DDL chaintap
issues and the catalog it reads back compare as plain strings:

| Arrow | PostgreSQL |
|---|---|
| u256 (`chaintap.u256`) | numeric(78,0) |
| string, large_string, null | text |
| int64, uint32 / int32, uint16 / int16, int8, uint8 | bigint / integer / smallint |
| uint64 | numeric(20,0) |
| bool | boolean |
| float16, float32, float64 | double precision |
| timestamp (any unit; naive means UTC) | timestamp with time zone |
| date32, date64 | date |
| binary, large_binary, other fixed_size_binary | bytea |
| list, struct, map | jsonb |

An existing column is compatible when every value of the Arrow type can be stored
in it exactly: a wider integer, an unconstrained numeric or one with enough integer
digits, `json` for `jsonb`, `character varying` for `text`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

from chaintap.u256 import is_u256

U256_SQL = "numeric(78,0)"
UINT64_SQL = "numeric(20,0)"

# Decimal digits each integer type needs, for the numeric(p,s) compatibility test.
_INTEGER_DIGITS = {
    "smallint": 5,
    "integer": 10,
    "bigint": 19,
    UINT64_SQL: 20,
    U256_SQL: 78,
}
# Existing column types that can hold every value of the type chaintap would create.
# Over-long values in a `character varying(n)` column still fail when written.
_ACCEPTS = {
    "smallint": ("smallint", "integer", "bigint"),
    "integer": ("integer", "bigint"),
    "bigint": ("bigint",),
    "text": ("text", "character varying"),
    "boolean": ("boolean",),
    "double precision": ("double precision",),
    "timestamp with time zone": ("timestamp with time zone",),
    "date": ("date",),
    "bytea": ("bytea",),
    "jsonb": ("jsonb", "json"),
}
_NUMERIC = re.compile(r"^numeric(?:\((\d+),(\d+)\))?$")
_VARCHAR = re.compile(r"^character varying(?:\(\d+\))?$")


def pg_type(dtype: pa.DataType) -> str | None:
    """The column type for an Arrow type, None when chaintap cannot store it."""
    if pa.types.is_dictionary(dtype):
        return pg_type(dtype.value_type)
    if is_u256(dtype):
        return U256_SQL
    if pa.types.is_integer(dtype):
        return _integer_type(dtype)
    if pa.types.is_floating(dtype):
        return "double precision"
    if pa.types.is_boolean(dtype):
        return "boolean"
    if (
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_string_view(dtype)
        or pa.types.is_null(dtype)
    ):
        return "text"
    if pa.types.is_timestamp(dtype):
        return "timestamp with time zone"
    if pa.types.is_date(dtype):
        return "date"
    if (
        pa.types.is_binary(dtype)
        or pa.types.is_large_binary(dtype)
        or pa.types.is_fixed_size_binary(dtype)
        or pa.types.is_binary_view(dtype)
    ):
        return "bytea"
    if pa.types.is_nested(dtype):
        return "jsonb"
    # NOTE: decimal128/256, durations, intervals and time-of-day are not mapped
    # yet; a sink receiving them fails at open, and the transform has to cast
    # them (to DOUBLE or VARCHAR) first.
    return None


def _integer_type(dtype: pa.DataType) -> str:
    if dtype in (pa.int8(), pa.int16(), pa.uint8()):
        return "smallint"
    if dtype in (pa.int32(), pa.uint16()):
        return "integer"
    if dtype == pa.uint64():
        return UINT64_SQL
    return "bigint"


def compatible(wanted: str, existing: str) -> bool:
    """Whether a column of type `existing` can take every value of type `wanted`."""
    if existing == wanted or existing in _ACCEPTS.get(wanted, ()):
        return True
    if wanted == "text" and _VARCHAR.match(existing):
        return True

    digits = _INTEGER_DIGITS.get(wanted)
    numeric = _NUMERIC.match(existing)
    if digits is None or numeric is None:
        return False
    if numeric.group(1) is None:
        return True
    return int(numeric.group(1)) - int(numeric.group(2)) >= digits


@dataclass(frozen=True)
class ExistingColumn:
    """One column of a table as the catalog describes it."""

    name: str
    type: str
    not_null: bool
    has_default: bool


def check_table(
    columns: dict[str, str],
    existing: dict[str, ExistingColumn],
    primary_key: tuple[str, ...],
    unique_keys: list[tuple[str, ...]],
) -> list[str]:
    """Every reason an existing table cannot take the rows, in one list.

    `columns` maps each stored column to the type chaintap would create; `unique_keys`
    lists the column sets of the table's usable unique indexes (constraints included).
    """
    problems = []
    for name, wanted in columns.items():
        column = existing.get(name)
        if column is None:
            problems.append(f"column {name!r} ({wanted}) is missing")
        elif not compatible(wanted, column.type):
            problems.append(
                f"column {name!r} is {column.type} but the rows carry {wanted} values"
            )

    for column in existing.values():
        if column.name not in columns and column.not_null and not column.has_default:
            problems.append(
                f"column {column.name!r} is NOT NULL without a default, and the rows "
                f"do not carry it"
            )

    if primary_key and set(primary_key) not in [set(key) for key in unique_keys]:
        problems.append(
            f"no unique constraint or index on exactly ({', '.join(primary_key)}), "
            f"which upserts on primary_key need"
        )
    return problems
