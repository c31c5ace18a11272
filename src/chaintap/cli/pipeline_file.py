"""Loading the pipeline file a command names, with every problem reported at once."""

from __future__ import annotations

import sys
from pathlib import Path

from chaintap.cli import output
from chaintap.runtime.preflight import preflight
from chaintap.spec.loader import PipelineInvalid, load_pipeline
from chaintap.spec.model import PipelineSpec
from chaintap.spec.problems import Problem


def load_or_exit(file: str, *, nothing_done: str) -> PipelineSpec:
    """The checked pipeline in `file`, or exit: 3 when it is missing, else 2.

    Checks the file, then plans its filters and SQL and checks its sinks
    (`runtime.preflight`), printing every problem as `file:line: path: message`.
    `nothing_done` ends the summary line ("nothing was run").
    """
    if not Path(file).is_file():
        output.err(f"error: {file}: no such pipeline file")
        sys.exit(output.EXIT_NOT_FOUND)

    problems: list[Problem]
    try:
        spec = load_pipeline(file)
    except PipelineInvalid as invalid:
        problems = invalid.problems
    else:
        problems = preflight(spec)
    if not problems:
        return spec

    for problem in problems:
        output.err(problem.format(file))
    output.err(f"{file}: {len(problems)} problem(s); {nothing_done}")
    sys.exit(output.EXIT_INVALID)
