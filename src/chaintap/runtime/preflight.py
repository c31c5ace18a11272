"""Checks that need the SQL engine but no data: plan every transform.

Used by `chaintap validate` so SQL that names an unknown column or function fails
before anything connects to a node or a database.
"""

from __future__ import annotations

import pyarrow as pa

from chaintap.errors import ConfigError
from chaintap.spec.model import PipelineSpec
from chaintap.transforms.registry import build_transform


def plan_schemas(spec: PipelineSpec) -> tuple[dict[str, pa.Schema], list[str]]:
    """Output schema of every node, and one message per transform that cannot plan."""
    schemas: dict[str, pa.Schema] = {
        name: source.dataset.dataset.schema for name, source in spec.sources.items()
    }
    problems: list[str] = []
    for name in spec.transform_order:
        transform_spec = spec.transforms[name]
        if any(i not in schemas for i in transform_spec.inputs):
            continue  # an input failed to plan; its own problem is reported
        transform = build_transform(transform_spec)
        try:
            schemas[name] = transform.open({i: schemas[i] for i in transform.inputs})
        except ConfigError as err:
            # The transform's message already names it and its line.
            problems.append(str(err))
        finally:
            transform.close()
    return schemas, problems
