"""The contract every transform implements.

Lifecycle: `open(input_schemas)` → `process(...)` per batch → `close()`.

A transform is stateless across batches: `process` sees the rows of one source batch
(inputs that produced nothing for it arrive as empty tables of their schema), so
filters, projections, decoding and UNION ALL are exact in streaming. Joins and
aggregations only see one batch at a time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import pyarrow as pa

from chaintap.spec.model import TransformSpec


class Transform(ABC):
    """One entry under `transforms:`."""

    def __init__(self, spec: TransformSpec) -> None:
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.spec.inputs

    @abstractmethod
    def open(self, input_schemas: dict[str, pa.Schema]) -> pa.Schema:
        """Prepare for the given input schemas and return the output schema.

        Raises `ConfigError` when the transform cannot run on these inputs (bad SQL,
        unknown column, missing primary key column), before any data flows.
        """

    @abstractmethod
    def process(self, inputs: dict[str, pa.Table]) -> pa.Table:
        """Transform one batch; the result has the schema `open` returned."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources. Safe to call twice."""
