"""Small helpers for the spec tests: where things are in a YAML text."""

from __future__ import annotations

import pytest

from chaintap.spec.loader import load_pipeline_text
from chaintap.spec.problems import PipelineInvalid, Problem


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the `nth` line of `text` containing `needle` (found by scan)."""
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == nth:
                return number
    raise AssertionError(f"{needle!r} not in the text {nth} time(s)")


def problems_of(text: str) -> list[Problem]:
    """The problems `load_pipeline_text` raises for `text` (it must raise)."""
    with pytest.raises(PipelineInvalid) as caught:
        load_pipeline_text(text, "pipe.yaml")
    return caught.value.problems


def by_path(problems: list[Problem]) -> dict[str, list[Problem]]:
    out: dict[str, list[Problem]] = {}
    for problem in problems:
        out.setdefault(problem.path, []).append(problem)
    return out
