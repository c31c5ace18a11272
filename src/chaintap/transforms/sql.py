"""`type: sql` transforms: DataFusion SQL over each batch of the input tables.

The SQL sees each name in `inputs` as a table holding the rows of the current batch
(an input that produced nothing for the batch is an empty table of its schema).
Projections, filters, decoding and UNION ALL are therefore exact in streaming;
joins and aggregations see one batch at a time (see `transforms.base`).

Every chaintap function is available (`evm_log_decode`, `_gs_keccak256`, `to_u256`,
`u256_*`; see `transforms.functions`), and identifiers may be quoted with backticks
as in Turbo files. Only queries run: DDL, DML and SET statements are refused.
"""

from __future__ import annotations

import logging
import re
import time

import pyarrow as pa
from datafusion import SessionContext

from chaintap.errors import ConfigError, TerminalError
from chaintap.spec.model import TransformSpec
from chaintap.transforms import session
from chaintap.transforms.base import Transform

logger = logging.getLogger(__name__)


class SqlTransform(Transform):
    """One `type: sql` entry; `open` plans it, `process` runs it per batch.

    The session (functions, settings) is built once in `open`; each batch swaps
    the input tables and plans the SQL again, which costs about a millisecond.
    The result always has the schema `open` returned, with plain (non-view)
    string, binary and list layouts.
    """

    def __init__(self, spec: TransformSpec) -> None:
        super().__init__(spec)
        self._ctx: SessionContext | None = None
        self._inputs: dict[str, pa.Schema] = {}
        self._output: pa.Schema | None = None
        self._query = ""

    @property
    def _where(self) -> str:
        line = f" (line {self.spec.line})" if self.spec.line else ""
        return f"transform {self.name!r}{line}"

    def open(self, input_schemas: dict[str, pa.Schema]) -> pa.Schema:
        """Plan the SQL against empty tables of `input_schemas`; no data is read.

        Raises `ConfigError` for a missing `sql`, an input without a schema, SQL
        DataFusion cannot plan (syntax, unknown table, column or function, type
        mismatch), an unusable literal ABI, or a `primary_key` column the SQL does
        not produce. The message quotes DataFusion's reason on one line.
        """
        sql = self._sql()
        missing = [name for name in self.inputs if name not in input_schemas]
        if missing:
            raise ConfigError(
                f"{self._where}: no schema for input(s) {', '.join(missing)}; "
                "each input must name a source or an earlier transform"
            )

        ctx = session.new_session()
        self._inputs = {name: input_schemas[name] for name in self.inputs}
        for name, schema in self._inputs.items():
            session.put_table(ctx, name, schema.empty_table())
        sql = session.intern_abi_literals(sql, self._where)
        _check_u256_literals(sql, self._where)
        planned = self._plan(ctx, sql)

        output = session.plain_schema(planned)
        self._check_primary_key(output)
        self._ctx, self._output, self._query = ctx, output, sql
        return output

    def _sql(self) -> str:
        sql = (self.spec.sql or "").strip().rstrip(";").strip()
        if not sql:
            raise ConfigError(f"{self._where}: `sql` is empty; give a SELECT query")
        return sql

    def _plan(self, ctx: SessionContext, sql: str) -> pa.Schema:
        """The output schema of `sql`, logically and physically planned."""
        try:
            frame = ctx.sql_with_options(sql, session.QUERY_ONLY)
            frame.execution_plan()
            schema: pa.Schema = frame.schema()
        except Exception as err:  # DataFusion raises plain Exception
            raise ConfigError(
                f"{self._where}: the SQL cannot be planned: {session.one_line(err)}; "
                "fix the query under `sql`" + _hint(err)
            ) from err
        return schema

    def _check_primary_key(self, output: pa.Schema) -> None:
        keys = [k.strip() for k in (self.spec.primary_key or "").split(",")]
        absent = [k for k in keys if k and k not in output.names]
        if absent:
            raise ConfigError(
                f"{self._where}: primary_key column(s) {', '.join(absent)} not in "
                f"the SQL output (columns: {', '.join(output.names)}); select them "
                "or change primary_key"
            )

    def process(self, inputs: dict[str, pa.Table]) -> pa.Table:
        """Run the SQL on one batch; the result has the schema `open` returned.

        Raises `TerminalError` when the SQL fails on this batch's data (a cast
        that does not hold for some row, an ABI column that does not parse).
        """
        if self._ctx is None or self._output is None:
            raise TerminalError(f"{self._where}: process() called before open()")
        started = time.perf_counter()
        rows_in = 0
        for name, schema in self._inputs.items():
            table = inputs.get(name)
            table = schema.empty_table() if table is None else table
            rows_in += table.num_rows
            session.put_table(self._ctx, name, table)

        try:
            frame = self._ctx.sql_with_options(self._query, session.QUERY_ONLY)
            result = frame.to_arrow_table()
        except Exception as err:  # DataFusion raises plain Exception
            raise TerminalError(
                f"{self._where}: the SQL failed on this batch: {session.one_line(err)}"
            ) from err
        logger.debug(
            "transform %s: %d rows in, %d rows out, %.1f ms",
            self.name,
            rows_in,
            result.num_rows,
            (time.perf_counter() - started) * 1000,
            extra={"node": self.name},
        )
        return session.conform(result, self._output)

    def close(self) -> None:
        """Drop the session and the last batch it holds. Safe to call twice."""
        self._ctx = None


# to_u256 of a bare number: DataFusion types a literal over 2^63 as a float, whose
# text ("1e20") is no uint256, so the call would quietly give NULL.
_NUMBER_ARGUMENT = re.compile(
    r"\bto_u256\s*\(\s*(?P<number>[0-9][0-9_]*(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)\s*\)",
    re.IGNORECASE,
)


def _check_u256_literals(sql: str, where: str) -> None:
    """ConfigError for `to_u256(<number>)` that cannot be exact; text is exact."""
    for match in _NUMBER_ARGUMENT.finditer(sql):
        number = match["number"]
        if len(number) > 18 or not number.isdigit():
            raise ConfigError(
                f"{where}: to_u256({number}) would read the number as a float and "
                f"lose it; write it as text: to_u256('{number}')"
            )


def _hint(err: BaseException) -> str:
    """A remedy for errors whose DataFusion wording does not suggest one."""
    if "FixedSizeBinary(32) to Utf8" in str(err):
        return (
            " (a u256 value was given where text is expected: a u256 needs no "
            "to_u256(); for text use u256_to_string())"
        )
    return ""
