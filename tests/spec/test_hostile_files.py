"""Files built to hurt the loader are refused quickly with one clear problem."""

from __future__ import annotations

import time

import pytest

from chaintap.spec.loader import load_pipeline_text
from chaintap.spec.problems import PipelineInvalid

LAUGHS = "\n".join(
    ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    + ["name: *a8"]
)


def _only_problem(text: str) -> str:
    with pytest.raises(PipelineInvalid) as caught:
        load_pipeline_text(text, "pipe.yaml")
    (problem,) = caught.value.problems
    return problem.message


def test_an_alias_bomb_is_refused_quickly() -> None:
    started = time.monotonic()
    message = _only_problem(LAUGHS)
    assert "aliases expand to over" in message
    assert time.monotonic() - started < 5


def test_deep_nesting_is_a_problem_not_a_traceback() -> None:
    deep = "name: " + "[" * 3000 + "]" * 3000
    assert "nested too deeply" in _only_problem(deep)


def test_a_huge_file_is_refused_before_parsing() -> None:
    assert "over 4 MiB" in _only_problem("#" * (5 * 1024 * 1024))
