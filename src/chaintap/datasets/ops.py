"""The operation column of change streams, shared by sources and sinks.

A source that follows the chain head marks every row with `_gs_op` (Turbo's name):
`i` for a row of a block it read, `d` for a row of a block a reorg orphaned. Sinks
with a primary key apply `d` rows as deletes; file sinks keep the column as data.
"""

from __future__ import annotations

import pyarrow as pa

OP_COLUMN = "_gs_op"
INSERT_OP = "i"
DELETE_OP = "d"
OP_FIELD = pa.field(OP_COLUMN, pa.string())
