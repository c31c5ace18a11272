"""The typed form of a pipeline file, produced by `chaintap.spec.load`.

The shape follows Goldsky Turbo's pipeline files so they run unchanged. Every node
keeps the options it was given (`options`) and the line it starts on (`line`), so
later stages can report problems with a path into the YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chaintap.datasets.catalog import DatasetRef
from chaintap.tuning import ResourceProfile, profile_for


@dataclass(frozen=True)
class BlockRange:
    """An inclusive range of blocks (or slots): `start` and `end` both belong to it."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"empty block range {self.start}..{self.end}")

    def __len__(self) -> int:
        return self.end - self.start + 1

    def __str__(self) -> str:
        return f"{self.start}..{self.end}"


@dataclass(frozen=True)
class SourceSpec:
    """One entry under `sources:` (type `dataset`).

    Bounds: `start_block`/`end_block` are inclusive; `start_at` is `earliest` or
    `latest` when no `start_block` is given; `block_ranges` lists several inclusive
    windows (Solana); `filter` is a SQL predicate pushed down where possible. A
    source is bounded when it has an end: `end_block`, `block_ranges`, or a
    `block_number <= N` / `block_slot <= N` bound in `filter`.
    """

    name: str
    type: str
    dataset: DatasetRef
    start_block: int | None = None
    end_block: int | None = None
    start_at: str | None = None
    block_ranges: tuple[BlockRange, ...] = ()
    filter: str | None = None
    rpc_url: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    line: int = 0

    @property
    def chain(self) -> str:
        return self.dataset.chain


@dataclass(frozen=True)
class TransformSpec:
    """One entry under `transforms:`. For `sql`, `inputs` are the tables in FROM."""

    name: str
    type: str
    primary_key: str | None
    sql: str | None
    inputs: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)
    line: int = 0


@dataclass(frozen=True)
class SinkSpec:
    """One entry under `sinks:`; `from_` names the source or transform it reads."""

    name: str
    type: str
    from_: str
    primary_key: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    line: int = 0


@dataclass(frozen=True)
class PipelineSpec:
    """A validated pipeline file. Node names are unique across all three sections."""

    name: str
    resource_size: str
    description: str | None
    job: bool
    sources: dict[str, SourceSpec]
    transforms: dict[str, TransformSpec]
    sinks: dict[str, SinkSpec]
    # Transforms in an order where every input comes before its readers.
    transform_order: tuple[str, ...] = ()
    path: str | None = None
    schedule: str | None = None

    @property
    def profile(self) -> ResourceProfile:
        return profile_for(self.resource_size)
