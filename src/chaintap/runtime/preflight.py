"""Checks that need the SQL engine or the environment but no data.

`chaintap validate` runs these after the file itself is valid, so a filter or SQL
that names an unknown column, a sink key the rows do not carry, or a secret that
is not set fails before anything connects to a node or a database.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from chaintap.datasets.ops import OP_COLUMN
from chaintap.errors import ConfigError
from chaintap.sources.registry import planned_schema
from chaintap.spec.model import PipelineSpec, SinkSpec
from chaintap.spec.problems import Problem
from chaintap.state.secrets import SECRET_NAME, resolve_secret
from chaintap.transforms.filter import RowFilter
from chaintap.transforms.registry import build_transform


def preflight(spec: PipelineSpec) -> list[Problem]:
    """Every problem found by planning filters and SQL and checking the sinks."""
    schemas, problems = plan_schemas(spec)
    return problems + check_sinks(spec, schemas)


def plan_schemas(spec: PipelineSpec) -> tuple[dict[str, pa.Schema], list[Problem]]:
    """Output schema of every node, and a problem per filter or SQL that cannot plan."""
    schemas: dict[str, pa.Schema] = {}
    problems: list[Problem] = []
    for name, source in spec.sources.items():
        schemas[name] = planned_schema(source)
        if source.filter:
            try:
                RowFilter(source.filter, schemas[name], name)
            except ConfigError as err:
                problems.append(
                    Problem(f"sources.{name}.filter", source.line, str(err), None)
                )

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


def check_sinks(spec: PipelineSpec, schemas: dict[str, pa.Schema]) -> list[Problem]:
    """Primary key columns the rows lack, secrets that are not set, and file sinks
    that would write into the same directory."""
    problems: list[Problem] = []
    directories: dict[Path, str] = {}
    for name, sink in spec.sinks.items():
        path = sink.options.get("path")
        if sink.type == "file" and isinstance(path, str) and path:
            directory = Path(path).expanduser().resolve()
            if directory in directories:
                problems.append(
                    Problem(
                        f"sinks.{name}.path",
                        sink.line,
                        f"sink {directories[directory]!r} writes to the same "
                        f"directory, and their files would replace each other",
                        "give each file sink a directory of its own",
                    )
                )
            directories.setdefault(directory, name)
        schema = schemas.get(sink.from_)
        missing = [c for c in _key_columns(sink) if schema and c not in schema.names]
        if schema is not None and missing:
            problems.append(
                Problem(
                    f"sinks.{name}.primary_key",
                    sink.line,
                    f"{', '.join(missing)} is not a column of the rows of "
                    f"{sink.from_!r}",
                    "columns: " + ", ".join(schema.names),
                )
            )
        if (
            schema is not None
            and OP_COLUMN in schema.names
            and sink.type == "postgres"
            and not _key_columns(sink)
        ):
            problems.append(
                Problem(
                    f"sinks.{name}",
                    sink.line,
                    f"the rows of {sink.from_!r} carry {OP_COLUMN} (this source "
                    f"follows the chain head and retracts reorged rows), and a "
                    f"retraction deletes by primary key",
                    "set primary_key (usually id)",
                )
            )
        secret = sink.options.get("secret_name")
        if isinstance(secret, str) and secret and not SECRET_NAME.match(secret):
            # Never echo it: a pasted connection URL carries a password.
            problems.append(
                Problem(
                    f"sinks.{name}.secret_name",
                    sink.line,
                    "is not a secret name (letters, digits, _ and -); it looks "
                    "like the value itself, which must not be in a pipeline file",
                    f"store it with `chaintap secret create NAME` and set "
                    f"sinks.{name}.secret_name: NAME",
                )
            )
        elif isinstance(secret, str) and secret:
            try:
                resolve_secret(secret)
            except ConfigError as err:
                problems.append(
                    Problem(f"sinks.{name}.secret_name", sink.line, str(err), None)
                )
    return problems


def _key_columns(sink: SinkSpec) -> list[str]:
    key = sink.primary_key or sink.options.get("primary_key")
    if isinstance(key, list | tuple):
        return [str(k).strip() for k in key]
    if isinstance(key, str):
        return [k.strip() for k in key.split(",") if k.strip()]
    return []
