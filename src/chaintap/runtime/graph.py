"""The wired pipeline: built nodes and who reads from whom.

`PipelineGraph.build` turns a validated `PipelineSpec` into source, filter, transform
and sink objects; `open` opens them in dependency order (sources first, so every
transform and sink learns its input schema before any data flows), and
`process(source, table)` pushes one source batch through every node downstream of
that source, returning the table each node produced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from chaintap.errors import ChaintapError, ConfigError, NodeConfigError, NodeError
from chaintap.sinks.base import Sink
from chaintap.sinks.registry import build_sink
from chaintap.sources.base import Source
from chaintap.sources.registry import build_source
from chaintap.spec.model import BlockRange, PipelineSpec
from chaintap.transforms.base import Transform
from chaintap.transforms.filter import RowFilter
from chaintap.transforms.registry import build_transform


@dataclass
class PipelineGraph:
    """Every node of one pipeline, built but not yet opened."""

    spec: PipelineSpec
    sources: dict[str, Source]
    transforms: dict[str, Transform]
    sinks: dict[str, Sink]
    filters: dict[str, RowFilter] = field(default_factory=dict)
    schemas: dict[str, pa.Schema] = field(default_factory=dict)
    # For each source: the transforms downstream of it, in execution order.
    downstream: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, spec: PipelineSpec) -> PipelineGraph:
        """Build every node of `spec` with the connector registries."""
        profile = spec.profile
        sources: dict[str, Source] = {}
        transforms: dict[str, Transform] = {}
        sinks: dict[str, Sink] = {}
        for name, source_spec in spec.sources.items():
            with node_failure(spec.name, name):
                sources[name] = build_source(source_spec, profile)
        for name, transform_spec in spec.transforms.items():
            with node_failure(spec.name, name):
                transforms[name] = build_transform(transform_spec)
        for name, sink_spec in spec.sinks.items():
            with node_failure(spec.name, name):
                sinks[name] = build_sink(sink_spec, spec.name, profile)
        return cls.of(spec, sources, transforms, sinks)

    @classmethod
    def of(
        cls,
        spec: PipelineSpec,
        sources: dict[str, Source],
        transforms: dict[str, Transform],
        sinks: dict[str, Sink],
    ) -> PipelineGraph:
        """A graph of already-built nodes (the in-memory nodes of tests use this)."""
        graph = cls(spec=spec, sources=sources, transforms=transforms, sinks=sinks)
        graph.downstream = {name: graph._reachable(name) for name in spec.sources}
        return graph

    def _reachable(self, source: str) -> list[str]:
        """Transforms that read `source` directly or through other transforms."""
        reached = {source}
        for name in self.spec.transform_order:
            if any(i in reached for i in self.spec.transforms[name].inputs):
                reached.add(name)
        return [n for n in self.spec.transform_order if n in reached]

    def open(
        self, cursors: dict[str, int | None], state_root: Path | None = None
    ) -> None:
        """Open sources (at their cursors), then transforms in order, then sinks.

        Transforms and sinks learn their input schemas here; an incompatible sink
        table or a SQL error fails now, before any block is read. With a
        `state_root` (CHAINTAP_HOME), each source gets the directory
        `<state_root>/sources/<pipeline>/<source>` for state kept across restarts.
        """
        pipeline = self.spec.name
        for name, source in self.sources.items():
            predicate = self.spec.sources[name].filter
            if state_root is not None:
                source.state_dir = state_root / "sources" / pipeline / name
            with node_failure(pipeline, name):
                source.open(cursors.get(name))
                self.schemas[name] = source.schema
                if predicate:
                    self.filters[name] = RowFilter(predicate, source.schema, name)

        for name in self.spec.transform_order:
            transform = self.transforms[name]
            with node_failure(pipeline, name):
                self.schemas[name] = transform.open(
                    {i: self.schemas[i] for i in transform.inputs}
                )

        for name, sink in self.sinks.items():
            with node_failure(pipeline, name):
                sink.open(self.schemas[self.spec.sinks[name].from_])

    def process(
        self, source: str, table: pa.Table, blocks: BlockRange
    ) -> dict[str, pa.Table]:
        """The table every node downstream of `source` produced for this batch."""
        pipeline = self.spec.name
        row_filter = self.filters.get(source)
        if row_filter is not None:
            with node_failure(pipeline, source, blocks):
                table = row_filter.apply(table)
        outputs = {source: table}

        for name in self.downstream[source]:
            transform = self.transforms[name]
            inputs = {
                i: outputs[i] if i in outputs else self.schemas[i].empty_table()
                for i in transform.inputs
            }
            with node_failure(pipeline, name, blocks):
                outputs[name] = transform.process(inputs)
        return outputs

    def sources_feeding(self, sink: str) -> list[str]:
        """The sources whose batches reach `sink`."""
        node = self.spec.sinks[sink].from_
        return [s for s, reached in self.downstream.items() if node in (s, *reached)]

    def sinks_of(self, outputs: dict[str, pa.Table]) -> list[str]:
        """Sinks that read one of the nodes in `outputs`."""
        return [n for n, s in self.spec.sinks.items() if s.from_ in outputs]

    def close(self) -> list[str]:
        """Close every node; returns the problems met (closing never raises)."""
        problems: list[str] = []
        nodes: list[tuple[str, Callable[[], None]]] = [
            *((n, s.close) for n, s in self.sinks.items()),
            *((n, t.close) for n, t in self.transforms.items()),
            *((n, s.close) for n, s in self.sources.items()),
        ]
        for name, close in nodes:
            try:
                close()
            except Exception as err:  # report every node, keep closing
                problems.append(f"{name}: {err}")
        return problems


@contextmanager
def node_failure(
    pipeline: str, node: str, blocks: BlockRange | None = None
) -> Iterator[None]:
    """Wrap a failure inside the block once, naming pipeline, node and block range."""
    span = None if blocks is None else (blocks.start, blocks.end)
    try:
        yield
    except NodeError:
        raise
    except ConfigError as err:
        raise NodeConfigError(pipeline, node, str(err), span) from err
    except Exception as err:
        raise NodeError(pipeline, node, describe(err), span) from err


def describe(err: BaseException) -> str:
    """The message of a failure; one not of ours (likely a bug) says its type, and
    `--debug` shows its traceback through __cause__."""
    if isinstance(err, ChaintapError):
        return str(err)
    return f"unexpected {type(err).__name__}: {err}"
