"""Pick the transform implementation for a `transforms:` entry."""

from __future__ import annotations

from chaintap.errors import ConfigError
from chaintap.spec.model import TransformSpec
from chaintap.transforms.base import Transform


def build_transform(spec: TransformSpec) -> Transform:
    """The transform for `spec`; only `sql` exists today."""
    if spec.type != "sql":
        raise ConfigError(
            f"transform {spec.name!r}: type {spec.type!r} is not supported; use sql"
        )
    from chaintap.transforms.sql import SqlTransform

    return SqlTransform(spec)
