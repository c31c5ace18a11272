"""Problems found in a pipeline file, and the error that carries all of them.

Validation never stops at the first mistake: it collects a `Problem` for each one,
with its path into the YAML (`sources.logs.dataset_name`), its 1-based line and,
where we can guess the fix, a hint. `PipelineInvalid` raises them together.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chaintap.errors import ConfigError

# A path into the YAML as the validator walks it: mapping keys and list indexes.
PathParts = tuple[str | int, ...]


def format_path(parts: PathParts) -> str:
    """`("sources", "logs", "block_ranges", 1)` → `sources.logs.block_ranges[1]`."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def nearest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to `word` (typo distance), None when none is close."""
    pool = list(candidates)
    matches = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if matches:
        return matches[0]
    # Case slips ("Sources", "SQL") are not close by ratio but are obvious.
    lowered = {candidate.lower(): candidate for candidate in pool}
    return lowered.get(word.lower())


@dataclass(frozen=True)
class Problem:
    """One mistake in a pipeline file.

    `path` is dotted (`sinks.out.from`, list items as `[i]`); it is empty for
    problems of the whole file (invalid YAML). `line` is 1-based, None when the
    place is not known (a key that is missing entirely is reported on its parent).
    """

    path: str
    line: int | None
    message: str
    hint: str | None = None

    def format(self, file: str | None = None) -> str:
        """One line: `pipe.yaml:12: sources.logs.dataset_name: message (hint: ...)`."""
        if file is not None and self.line is not None:
            where = f"{file}:{self.line}: "
        elif file is not None:
            where = f"{file}: "
        elif self.line is not None:
            where = f"line {self.line}: "
        else:
            where = ""

        text = (
            f"{where}{self.path}: {self.message}" if self.path else where + self.message
        )
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class PipelineInvalid(ConfigError):
    """A pipeline file with one or more problems; nothing was run.

    `problems` holds every problem found, ordered by line; `str()` gives them one
    per line, each prefixed with `file` when it is known.
    """

    def __init__(self, problems: Sequence[Problem], file: str | None = None) -> None:
        self.problems = sorted(problems, key=_line_order)
        self.file = file
        super().__init__("\n".join(p.format(file) for p in self.problems))


def _line_order(problem: Problem) -> tuple[int, int]:
    # Problems without a line (rare) go last; sorted() keeps discovery order on ties.
    return (0, problem.line) if problem.line is not None else (1, 0)
