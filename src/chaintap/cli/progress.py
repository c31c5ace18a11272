"""Progress of a foreground run: a bar on a terminal, log lines otherwise."""

from __future__ import annotations

from types import TracebackType

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from chaintap.spec.model import BlockRange


class BarReporter:
    """A rich progress bar per source, in blocks; rows shown beside it."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("blocks  {task.fields[rows]:,} rows"),
            TimeElapsedColumn(),
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._rows: dict[str, int] = {}

    def __enter__(self) -> BarReporter:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def started(self, pipeline: str, targets: dict[str, BlockRange | None]) -> None:
        for name, target in targets.items():
            self._rows[name] = 0
            self._tasks[name] = self._progress.add_task(
                f"{pipeline}/{name}",
                total=None if target is None else len(target),
                rows=0,
            )

    def batch_done(self, source: str, blocks: BlockRange, rows: int) -> None:
        self._rows[source] += rows
        self._progress.update(
            self._tasks[source], advance=len(blocks), rows=self._rows[source]
        )
