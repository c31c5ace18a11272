"""Checks that need the SQL engine but no data: plan every transform.

Used by `chaintap validate` so SQL that names an unknown column or function fails
before anything connects to a node or a database.
"""

from __future__ import annotations

import pyarrow as pa

from chaintap.errors import ConfigError
from chaintap.spec.model import PipelineSpec
from chaintap.spec.problems import Problem
from chaintap.transforms.registry import build_transform


def plan_schemas(spec: PipelineSpec) -> tuple[dict[str, pa.Schema], list[Problem]]:
    """Output schema of every node, and one problem per transform that cannot plan."""
    schemas: dict[str, pa.Schema] = {
        name: source.dataset.dataset.schema for name, source in spec.sources.items()
    }
    problems: list[Problem] = []
    for name in spec.transform_order:
        transform_spec = spec.transforms[name]
        if any(i not in schemas for i in transform_spec.inputs):
            continue  # an input failed to plan; its own problem is reported
        transform = build_transform(transform_spec)
        try:
            schemas[name] = transform.open({i: schemas[i] for i in transform.inputs})
        except ConfigError as err:
            # The problem's path and line say where; drop the same from the text.
            where = f"transform {name!r} (line {transform_spec.line}): "
            message = str(err).removeprefix(where)
            problems.append(
                Problem(f"transforms.{name}.sql", transform_spec.line, message, None)
            )
        finally:
            transform.close()
    return schemas, problems
