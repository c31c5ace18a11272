"""The one error tree of chaintap, grouped by what the caller does about a failure.

- `ConfigError`: the user's pipeline file, options or environment are wrong. Report it
  with its path into the YAML; retrying cannot help.
- `TransientError`: a dependency misbehaved in a way that may pass (timeouts, 429s,
  5xx, a dropped connection). Retry with backoff, then give up as terminal.
- `TerminalError`: the run cannot continue (bad data from a node, an incompatible
  table, retries exhausted). Fail now with a clear message.

Driver errors (psycopg, HTTP, JSON) are mapped to these at the edge with
`raise ... from err`, so everything above the connectors sees only this tree.
"""

from __future__ import annotations


class ChaintapError(Exception):
    """Base of every error chaintap raises on purpose."""


class ConfigError(ChaintapError):
    """The pipeline file, an option or the environment is wrong; fix it and rerun."""


class TransientError(ChaintapError):
    """A failure that may pass; callers retry with backoff before giving up."""


class TerminalError(ChaintapError):
    """A failure that retrying cannot fix; the run stops with this message."""


class ConflictError(ChaintapError):
    """The request conflicts with existing state (a run already going, a name)."""


class NodeError(TerminalError):
    """A pipeline node failed; the message names pipeline, node and block range."""

    def __init__(
        self,
        pipeline: str,
        node: str,
        message: str,
        block_range: tuple[int, int] | None = None,
    ) -> None:
        where = f"pipeline {pipeline!r}, node {node!r}"
        if block_range is not None:
            where += f", blocks {block_range[0]}..{block_range[1]}"
        super().__init__(f"{where}: {_without_location(message, pipeline, node)}")
        self.pipeline = pipeline
        self.node = node
        self.message = message
        self.block_range = block_range

    def __reduce__(self) -> tuple[type[NodeError], tuple[object, ...]]:
        # Rebuilt from its parts when it crosses a process boundary (workers).
        return (
            type(self),
            (self.pipeline, self.node, self.message, self.block_range),
        )


class NodeConfigError(NodeError, ConfigError):
    """A node failed because of its configuration (wrong chain, bad option): the
    same run would fail again, so supervisors do not retry it (exit code 2)."""


def _without_location(message: str, pipeline: str, node: str) -> str:
    """`message` without the pipeline and node names a connector already put first."""
    message = message.removeprefix(f"pipeline {pipeline!r}, ")
    for kind in ("source", "transform", "sink"):
        message = message.removeprefix(f"{kind} {node!r}: ")
    return message
