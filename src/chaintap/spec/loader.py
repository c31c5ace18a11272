"""Load a pipeline file: read, parse with line numbers, validate, return the model.

    spec = load_pipeline("pipeline.yaml")

raises `PipelineInvalid` (a `ConfigError`) listing every problem of the file, each
with its YAML path, line and a hint where one helps. The resulting `PipelineSpec`
is all later stages need; they never look at the YAML again.

What the model holds beyond its typed fields: each node's `options` carries the
keys that have no field of their own, with documented defaults filled in
(postgres `schema`, file `format`) and `poll_interval` converted to seconds.
`SourceSpec.end_block` is kept as written; a bound implied by `filter` is found
with `chaintap.spec.filters.analyze_filter`.
"""

from __future__ import annotations

from pathlib import Path

from chaintap.errors import ConfigError
from chaintap.spec.model import PipelineSpec
from chaintap.spec.problems import PipelineInvalid, Problem
from chaintap.spec.validate import validate_document
from chaintap.spec.yamldoc import parse_yaml

__all__ = ["PipelineInvalid", "Problem", "load_pipeline", "load_pipeline_text"]


def load_pipeline(path: str | Path) -> PipelineSpec:
    """Load and validate the pipeline file at `path`.

    Raises `ConfigError` when the file cannot be read, `PipelineInvalid` when it
    has problems. `PipelineSpec.path` is the path as given.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else err
        raise ConfigError(
            f"cannot read pipeline file {str(path)!r}: {reason}; check the path "
            "and that the file is UTF-8 text"
        ) from err
    return load_pipeline_text(text, str(path))


def load_pipeline_text(text: str, path: str | None = None) -> PipelineSpec:
    """Validate pipeline YAML given as text; `path` labels problems and the spec."""
    return validate_document(parse_yaml(text), path)
