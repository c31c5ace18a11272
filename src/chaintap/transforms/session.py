"""The DataFusion session behind SQL transforms and source filters.

One session per transform or filter, created at `open` with every chaintap function
registered and reused for every batch: a batch only swaps the registered tables.
SQL is parsed as DataFusion's generic dialect, which takes both `"name"` and
`` `name` `` as quoted identifiers (Turbo files use backticks), and folds unquoted
names to lower case.
"""

from __future__ import annotations

import pyarrow as pa
from datafusion import SessionConfig, SessionContext, SQLOptions

from chaintap.errors import ConfigError
from chaintap.transforms.functions import abi, evm_decode
from chaintap.transforms.functions.registry import LOG_DECODE_NAMES, register_functions
from chaintap.transforms.sqltext import LiteralArgument, replace_literal_arguments
from chaintap.tuning import SQL_BATCH_ROWS, SQL_TARGET_PARTITIONS

# Queries only: a transform must not create, drop or write tables of its session.
QUERY_ONLY = (
    SQLOptions()
    .with_allow_ddl(False)
    .with_allow_dml(False)
    .with_allow_statements(False)
)


def new_session(partitions: int = SQL_TARGET_PARTITIONS) -> SessionContext:
    """A session with chaintap's functions, running plans in `partitions` streams.

    One partition keeps rows in input order through filters and projections.
    """
    config = (
        SessionConfig()
        .with_target_partitions(partitions)
        .with_batch_size(SQL_BATCH_ROWS)
    )
    ctx = SessionContext(config)
    register_functions(ctx)
    return ctx


def one_line(err: BaseException) -> str:
    """DataFusion's multi-line error text as one line, without its generic prefix."""
    text = " ".join(str(err).split()).removeprefix("DataFusion error: ")
    return text.rstrip(".")


def excerpt(text: str, limit: int = 80) -> str:
    """`text` on one line, shortened to about `limit` characters for a message."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def quoted(name: str) -> str:
    """`name` as a double-quoted SQL identifier (exact case, any characters)."""
    return '"' + name.replace('"', '""') + '"'


def put_table(ctx: SessionContext, name: str, table: pa.Table) -> None:
    """Register `table` as `name`, replacing the previous batch's table.

    The exact name is registered (for `"Name"` and `` `Name` ``); a name with
    capitals is also registered lower-cased, which is what an unquoted reference
    resolves to. No data is copied.
    """
    batches = table.to_batches() or [pa.RecordBatch.from_pylist([], table.schema)]
    for alias in {name, name.lower()}:
        ctx.deregister_table(quoted(alias))
        ctx.register_record_batches(quoted(alias), [batches])


def _plain_type(dtype: pa.DataType) -> pa.DataType:
    """`dtype` with view layouts (which DataFusion may produce) made plain."""
    if dtype == pa.string_view():
        return pa.string()
    if dtype == pa.binary_view():
        return pa.binary()
    if pa.types.is_list(dtype) or pa.types.is_list_view(dtype):
        return pa.list_(dtype.value_field.with_type(_plain_type(dtype.value_type)))
    if pa.types.is_large_list(dtype):
        return pa.large_list(dtype.value_field.with_type(_plain_type(dtype.value_type)))
    if pa.types.is_struct(dtype):
        return pa.struct([f.with_type(_plain_type(f.type)) for f in dtype])
    return dtype


def plain_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` with plain string/binary/list layouts, as sinks expect them."""
    return pa.schema(
        [f.with_type(_plain_type(f.type)) for f in schema], metadata=schema.metadata
    )


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly `schema` (same column order and names; types cast)."""
    if table.schema.equals(schema):
        return table
    columns = [
        column.cast(field.type)
        for column, field in zip(table.columns, schema, strict=True)
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def intern_abi_literals(sql: str, where: str) -> str:
    """`sql` with each ABI literal of a decode call swapped for a short reference.

    Checks every such ABI before data flows (a bad one would otherwise fail the
    first batch that reaches the call) and keeps DataFusion from copying a long
    literal once per row (see `evm_decode.abi_reference`). Raises `ConfigError`
    naming `where` (the transform or source) and the JSON problem.
    """

    def reference(argument: LiteralArgument) -> str:
        try:
            return evm_decode.abi_reference(argument.value)
        except abi.AbiError as err:
            raise ConfigError(
                f"{where}: the ABI passed to {argument.function}() is unusable: "
                f"{err}; give the event's ABI JSON (a list of entries or one event "
                "object)"
            ) from err

    return replace_literal_arguments(sql, LOG_DECODE_NAMES, reference)
