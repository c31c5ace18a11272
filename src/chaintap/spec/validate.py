"""Turn a parsed pipeline file into a `PipelineSpec`, or report every problem in it.

Steps, in one pass that never stops at the first mistake:
1. the top level: known keys, name, resource_size, job / schedule;
2. each node of sources, transforms and sinks: type, keys, values, names unique
   across the three sections; datasets resolved, SQL parsed;
3. the graph: every reference names a source or transform, no transform cycles;
4. a job's sources all have a last block.
Problems of a node that could not be read at all (a source whose dataset does not
resolve) do not cascade: its name still counts as defined for references.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from chaintap.datasets.archives import configured_archive
from chaintap.datasets.catalog import (
    ChainFamily,
    DatasetLookupError,
    DatasetRef,
    resolve,
)
from chaintap.spec import keys
from chaintap.spec.fields import Checker
from chaintap.spec.filters import analyze_filter, block_column
from chaintap.spec.graph import (
    Reference,
    check_references,
    find_cycles,
    transform_order,
)
from chaintap.spec.model import PipelineSpec, SinkSpec, SourceSpec, TransformSpec
from chaintap.spec.problems import PathParts, PipelineInvalid, nearest
from chaintap.spec.sqlrefs import SqlSyntaxError, parse_predicate, table_refs
from chaintap.spec.yamldoc import YamlDocument

_PIPELINE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_PIPELINE_NAME_MAX = 50
_NODE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,?#-]+$")
_CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@hourly")
_SECTIONS = ("sources", "transforms", "sinks")

# Keys with a field of their own in the model; the rest go to `options`.
_SOURCE_FIELDS = {"type", "dataset_name", "version", "start_block", "end_block"}
_SOURCE_FIELDS |= {"start_at", "block_ranges", "filter", "rpc_url"}
_SINK_FIELDS = {"type", "from", "primary_key"}


@dataclass
class _Graph:
    """What the node checks learned that the graph checks need."""

    readable: list[str] = field(default_factory=list)
    sink_names: list[str] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    transform_inputs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Sources whose filter did not parse: the job check cannot judge them.
    unreadable_filters: set[str] = field(default_factory=set)


def validate_document(doc: YamlDocument, file: str | None = None) -> PipelineSpec:
    """The `PipelineSpec` of a parsed file, or `PipelineInvalid` with every problem."""
    check = Checker(doc.lines)
    check.problems.extend(doc.problems)
    if doc.data is None and doc.problems:
        raise PipelineInvalid(check.problems, file)

    top = _top_level(check, doc.data)
    if top is None:
        raise PipelineInvalid(check.problems, file)

    graph = _Graph()
    sources = _sources(check, top.get("sources"), graph)
    transforms = _transforms(check, top.get("transforms"), graph)
    sinks = _sinks(check, top.get("sinks"), graph)
    _unique_names(check, top)

    check_references(check, graph.references, graph.readable, graph.sink_names)
    for cycle in find_cycles(graph.transform_inputs):
        check.add(
            ("transforms", cycle[0]),
            "transforms read each other in a cycle: " + " -> ".join(cycle),
            "a transform may only read sources and transforms that do not read it",
        )
    if top.get("job") is True:
        _check_job_bounded(check, sources, graph)

    if check.problems:
        raise PipelineInvalid(check.problems, file)
    return PipelineSpec(
        name=top["name"],
        resource_size=top["resource_size"],
        description=top.get("description"),
        job=top["job"],
        sources=sources,
        transforms=transforms,
        sinks=sinks,
        transform_order=transform_order(graph.transform_inputs),
        path=file,
        schedule=top.get("schedule"),
    )


def _top_level(check: Checker, data: Any) -> dict[str, Any] | None:
    if not isinstance(data, dict):
        shown = "an empty file" if data is None else f"a {type(data).__name__}"
        check.add(
            (),
            f"a pipeline file must be a mapping with name, sources and sinks, "
            f"not {shown}",
            "start from one of the files in examples/",
        )
        return None

    top = check.mapping(data, (), "the pipeline file") or {}
    values = check.fields(top, (), keys.TOP_LEVEL)
    name = values.get("name")
    if isinstance(name, str):
        _pipeline_name(check, name)

    schedule = values.get("schedule")
    if isinstance(schedule, str):
        if values.get("job") is not True:
            check.add(
                ("schedule",),
                "schedule only applies to jobs; a deployment runs continuously",
                "set job: true, or remove schedule",
            )
        if not _looks_like_cron(schedule):
            check.add(
                ("schedule",),
                f"schedule {schedule!r} is not a cron expression",
                "five fields: minute hour day-of-month month day-of-week, "
                "e.g. '0 * * * *', or @hourly / @daily",
            )
    # Structural problems (missing sections) are already recorded; carry on with
    # what exists so node problems are reported in the same pass.
    return values


def _pipeline_name(check: Checker, name: str) -> None:
    if _PIPELINE_NAME.match(name) and len(name) <= _PIPELINE_NAME_MAX:
        return
    fixed = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:_PIPELINE_NAME_MAX]
    hint = f"for example {fixed!r}" if fixed else None
    check.add(
        ("name",),
        f"pipeline name {name!r} must be lowercase letters, digits and hyphens, "
        f"start and end with a letter or digit, at most {_PIPELINE_NAME_MAX} "
        "characters",
        hint,
    )


def _looks_like_cron(text: str) -> bool:
    # Shape only; the scheduler parses the expression itself.
    # TODO: parse the fields (ranges, steps, names) so an impossible schedule such
    # as "61 * * * *" is caught here rather than when the scheduler starts.
    if text.strip() in _CRON_MACROS:
        return True
    parts = text.split()
    return len(parts) in (5, 6) and all(_CRON_FIELD.match(p) for p in parts)


def _nodes(
    check: Checker, section: str, value: object
) -> list[tuple[str, dict[str, Any]]]:
    """(name, mapping) of each well-formed node of a section, in file order."""
    if not isinstance(value, dict):
        return []  # missing or of the wrong shape: the top-level check reported it
    nodes = []
    for name, node in value.items():
        path: PathParts = (section, name)
        if not _NODE_NAME.match(name):
            check.add(
                path,
                f"node name {name!r} may only hold letters, digits, '_' and '-'",
                "SQL refers to nodes by name; keep names plain identifiers",
            )
        mapping = check.mapping(node, path, f"{section}.{name}")
        if mapping is not None:
            nodes.append((name, mapping))
    if not value and section != "transforms":
        check.add((section,), f"{section} is empty; a pipeline needs at least one")
    return nodes


def _node_type(
    check: Checker,
    node: dict[str, Any],
    path: PathParts,
    supported: tuple[str, ...],
    unsupported: tuple[str, ...],
    what: str,
) -> str | None:
    """The node's `type` when chaintap runs it; otherwise None after a problem."""
    kind = node.get("type")
    listed = ", ".join(supported)
    if kind is None:
        check.add(
            path, f"missing required key 'type' ({what} type)", f"one of {listed}"
        )
        return None
    if kind in supported:
        return str(kind)
    if kind in unsupported:
        check.add(
            (*path, "type"),
            f"{what} type {kind!r} is not supported by chaintap yet",
            f"supported {what} types: {listed}",
        )
        return None

    close = nearest(str(kind), supported)
    hint = f"did you mean {close}?" if close else f"supported {what} types: {listed}"
    check.add((*path, "type"), f"unknown {what} type {kind!r}", hint)
    return None


def _sources(check: Checker, section: object, graph: _Graph) -> dict[str, SourceSpec]:
    specs = {}
    for name, node in _nodes(check, "sources", section):
        graph.readable.append(name)
        path: PathParts = ("sources", name)
        # A missing type is reported by the key check below (dataset is the only
        # type, so the rest of the node can still be checked as one).
        supported, unsupported = keys.SOURCE_TYPES, keys.UNSUPPORTED_SOURCE_TYPES
        if "type" in node and not _node_type(
            check, node, path, supported, unsupported, "source"
        ):
            continue
        spec = _source(check, name, node, path, graph)
        if spec is not None:
            specs[name] = spec
    return specs


def _source(
    check: Checker, name: str, node: dict[str, Any], path: PathParts, graph: _Graph
) -> SourceSpec | None:
    values = check.fields(node, path, keys.SOURCE)
    dataset = _dataset(check, values, path)

    start, end = values.get("start_block"), values.get("end_block")
    if start is not None and end is not None and start > end:
        check.add(
            (*path, "end_block"), f"end_block {end} is before start_block {start}"
        )
    solana = dataset is not None and dataset.dataset.family is ChainFamily.SOLANA
    if solana and "start_at" in node:
        check.add(
            (*path, "start_at"),
            "start_at is not supported on Solana sources",
            "use start_block (and end_block) to choose slots",
        )
    elif "start_at" in values and "start_block" in node:
        check.add(
            (*path, "start_at"),
            "start_at and start_block both choose where to start",
            "keep one of them",
        )
    if "block_ranges" in node and any(k in node for k in ("start_block", "end_block")):
        check.add(
            (*path, "block_ranges"),
            "block_ranges and start_block/end_block both choose which blocks to read",
            "keep block_ranges, or start_block and end_block",
        )

    predicate = values.get("filter")
    if isinstance(predicate, str):
        try:
            parse_predicate(predicate)
        except SqlSyntaxError as err:
            check.add((*path, "filter"), f"filter is not a valid SQL predicate: {err}")
            graph.unreadable_filters.add(name)

    rpc_url = values.get("rpc_url")
    if isinstance(rpc_url, str) and not re.match(r"^(https?|wss?)://", rpc_url):
        check.add(
            (*path, "rpc_url"),
            f"rpc_url {rpc_url!r} is not an http(s) or ws(s) URL",
            "for example http://127.0.0.1:8545",
        )

    if dataset is None:
        return None
    return SourceSpec(
        name=name,
        type="dataset",
        dataset=dataset,
        start_block=start,
        end_block=end,
        start_at=values.get("start_at"),
        block_ranges=values.get("block_ranges", ()),
        filter=predicate,
        rpc_url=rpc_url,
        options={k: v for k, v in values.items() if k not in _SOURCE_FIELDS},
        line=check.line(path),
    )


def _dataset(
    check: Checker, values: dict[str, Any], path: PathParts
) -> DatasetRef | None:
    """Resolve dataset_name, then version; each problem goes on its own key."""
    dataset_name = values.get("dataset_name")
    if not isinstance(dataset_name, str):
        return None

    chain = dataset_name.partition(".")[0]
    has_endpoint = "rpc_url" in values or bool(
        os.environ.get(f"CHAINTAP_RPC_{chain.upper()}")
    )
    try:
        resolve(dataset_name, None, allow_unknown_chain=has_endpoint)
    except DatasetLookupError as err:
        check.add((*path, "dataset_name"), str(err), err.hint)
        return None

    try:
        return resolve(
            dataset_name, values.get("version"), allow_unknown_chain=has_endpoint
        )
    except DatasetLookupError as err:
        check.add((*path, "version"), str(err), err.hint)
        return None


def _transforms(
    check: Checker, section: object, graph: _Graph
) -> dict[str, TransformSpec]:
    specs = {}
    supported = tuple(keys.TRANSFORM_TYPES)
    for name, node in _nodes(check, "transforms", section):
        graph.readable.append(name)
        path: PathParts = ("transforms", name)
        kind = _node_type(
            check, node, path, supported, keys.UNSUPPORTED_TRANSFORM_TYPES, "transform"
        )
        if kind is None:
            continue
        values = check.fields(node, path, keys.TRANSFORM_TYPES[kind])

        sql = values.get("sql")
        inputs: tuple[str, ...] = ()
        if isinstance(sql, str):
            try:
                inputs = table_refs(sql)
            except SqlSyntaxError as err:
                check.add((*path, "sql"), f"SQL does not parse: {err}")
                continue
            if not inputs:
                check.add(
                    (*path, "sql"),
                    "the query reads no source or transform",
                    "select FROM a source or transform name",
                )
        graph.references += [Reference(name, t, (*path, "sql")) for t in inputs]
        graph.transform_inputs[name] = inputs

        if "sql" in values and "primary_key" in values:
            specs[name] = TransformSpec(
                name=name,
                type=kind,
                primary_key=values["primary_key"],
                sql=sql,
                inputs=inputs,
                options={},
                line=check.line(path),
            )
    return specs


def _sinks(check: Checker, section: object, graph: _Graph) -> dict[str, SinkSpec]:
    specs = {}
    supported = tuple(keys.SINK_TYPES)
    for name, node in _nodes(check, "sinks", section):
        graph.sink_names.append(name)
        path: PathParts = ("sinks", name)
        kind = _node_type(
            check, node, path, supported, keys.UNSUPPORTED_SINK_TYPES, "sink"
        )
        if kind is None:
            continue

        values = check.fields(node, path, keys.SINK_TYPES[kind], keys.SINK_TYPES)
        source = values.get("from")
        if not isinstance(source, str):
            continue
        graph.references.append(Reference(name, source, (*path, "from")))
        specs[name] = SinkSpec(
            name=name,
            type=kind,
            from_=source,
            primary_key=values.get("primary_key"),
            options={k: v for k, v in values.items() if k not in _SINK_FIELDS},
            line=check.line(path),
        )
    return specs


def _unique_names(check: Checker, top: dict[str, Any]) -> None:
    first_section: dict[str, str] = {}
    for section in _SECTIONS:
        nodes = top.get(section)
        if not isinstance(nodes, dict):
            continue
        for name in nodes:
            earlier = first_section.setdefault(name, section)
            if earlier == section:
                continue
            line = check.lines.line((earlier, name))
            check.add(
                (section, name),
                f"name {name!r} is already used in {earlier} (line {line}); "
                "node names must be unique across sources, transforms and sinks",
                "rename one of them",
            )


def _check_job_bounded(
    check: Checker, sources: dict[str, SourceSpec], graph: _Graph
) -> None:
    unbounded: list[SourceSpec] = []
    for spec in sources.values():
        if spec.end_block is not None or spec.block_ranges:
            continue
        if configured_archive(spec.chain, spec.options) is not None:
            continue  # an archive holds a fixed range of blocks
        if spec.name in graph.unreadable_filters:
            continue  # its filter problem is reported; boundedness is unknowable
        column = block_column(spec.dataset)
        if spec.filter and analyze_filter(spec.filter, column).bounded:
            continue
        unbounded.append(spec)
    if not unbounded:
        return

    names = ", ".join(spec.name for spec in unbounded)
    verb = "has" if len(unbounded) == 1 else "have"
    bounds = ", ".join(
        f"`{block_column(spec.dataset)} <= N` for {spec.name}" for spec in unbounded
    )
    check.add(
        ("job",),
        f"a job needs every source to end, but {names} {verb} no last block",
        f"give each an end_block, block_ranges, or a filter bound: {bounds}",
    )
