"""A source's `filter:` predicate applied to the rows it reads.

The predicate is SQL WHERE text over the source's columns (unqualified, or qualified
by the source name) with every chaintap function available. Rows where it is false
or NULL are dropped; the others keep their order and the source's exact schema.
Sources may also push parts of it down (block bounds to the node); applying it here
as well is always correct.
"""

from __future__ import annotations

import pyarrow as pa
from datafusion import DataFrame

from chaintap.errors import ConfigError, TerminalError
from chaintap.transforms import session


class RowFilter:
    """Keeps the rows of a table for which `predicate` is true.

    Raises `ConfigError` at construction when the predicate does not parse, names
    an unknown column or function, or is not boolean. `node` (the source name)
    appears in messages and can qualify columns in the predicate.
    """

    def __init__(self, predicate: str, schema: pa.Schema, node: str) -> None:
        self.predicate = predicate
        self.schema = schema
        self.node = node
        where = f"source {node!r} filter {session.excerpt(predicate)!r}"
        self._predicate = session.intern_abi_literals(predicate, where)

        # One partition: kept rows stay in their input order.
        self._ctx = session.new_session(partitions=1)
        session.put_table(self._ctx, node, schema.empty_table())
        try:
            self._frame().execution_plan()
        except Exception as err:  # DataFusion raises plain Exception
            raise ConfigError(
                f"{where}: cannot be used: {session.one_line(err)}; write a SQL "
                f"condition over the columns {', '.join(schema.names)}"
            ) from err

    def _frame(self) -> DataFrame:
        table = self._ctx.table(session.quoted(self.node))
        return table.filter(self._predicate)

    def apply(self, table: pa.Table) -> pa.Table:
        """The rows of `table` (which has `schema`) where the predicate holds."""
        if table.num_rows == 0:
            return session.conform(table, self.schema)
        session.put_table(self._ctx, self.node, table)
        try:
            result = self._frame().to_arrow_table()
        except Exception as err:  # DataFusion raises plain Exception
            raise TerminalError(
                f"source {self.node!r}: filter {session.excerpt(self.predicate)!r} "
                f"failed on a batch: {session.one_line(err)}"
            ) from err
        return session.conform(result, self.schema)
