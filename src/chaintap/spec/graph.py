"""The pipeline as a graph: who reads whom, cycles, and the order to run transforms.

Sources are roots, transforms read sources and other transforms (the tables their
SQL selects from), sinks read one source or transform each. Only transforms can
form cycles; a cycle has no order to run in and is reported as a problem.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from chaintap.spec.fields import Checker
from chaintap.spec.problems import PathParts, nearest


@dataclass(frozen=True)
class Reference:
    """`reader` names `target`; `path` is where the name is written in the file."""

    reader: str
    target: str
    path: PathParts


def check_references(
    check: Checker,
    references: Iterable[Reference],
    readable: Sequence[str],
    sinks: Iterable[str],
) -> None:
    """Record a problem for every reference to a name that is not readable.

    `readable` are the source and transform names, in file order; reading a sink
    gets its own message, anything else the nearest readable name as a hint.
    """
    # TODO: names match exactly, case included. An engine that folds unquoted
    # identifiers to lowercase would not find a node named `Logs` read as `FROM
    # Logs` even though this check passes; node names are best kept lowercase.
    sink_names = set(sinks)
    readable_set = set(readable)
    for ref in references:
        if ref.target in readable_set:
            continue
        if ref.target in sink_names:
            check.add(
                ref.path,
                f"{ref.reader} reads {ref.target!r}, which is a sink; sinks only write",
                "read the source or transform that sink reads instead",
            )
            continue
        close = nearest(ref.target, readable)
        if close is not None:
            hint = f"did you mean {close}?"
        else:
            hint = "sources and transforms: " + (", ".join(readable) or "none")
        check.add(
            ref.path,
            f"{ref.reader} reads {ref.target!r}, which is no source or transform",
            hint,
        )


def find_cycles(inputs: Mapping[str, Sequence[str]]) -> list[tuple[str, ...]]:
    """Every cycle among transforms, each as the names around it (first repeated).

    `inputs` maps each transform to what it reads; names that are not keys
    (sources, unknown names) are ignored. One cycle is reported per strongly
    connected group, so a knot of many loops yields one message, not dozens.
    """
    cycles = []
    for group in _strongly_connected(inputs):
        first = group[0]
        if len(group) == 1 and first not in inputs[first]:
            continue
        cycles.append(_cycle_through(first, set(group), inputs))
    return cycles


def transform_order(inputs: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """Transforms ordered so each comes after the transforms it reads.

    Ties keep file order (the order of `inputs`), so the result is stable from
    run to run. Transforms on a cycle are left out; callers report cycles first.
    """
    placed: list[str] = []
    done: set[str] = set()
    pending = list(inputs)
    progress = True
    while pending and progress:
        progress = False
        for name in list(pending):
            if all(dep in done or dep not in inputs for dep in inputs[name]):
                placed.append(name)
                done.add(name)
                pending.remove(name)
                progress = True
    return tuple(placed)


def _strongly_connected(inputs: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative so deep chains cannot hit the recursion limit."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    for root in inputs:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, edge = work.pop()
            if edge == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            deps = [d for d in inputs[node] if d in inputs]
            if edge < len(deps):
                work.append((node, edge + 1))
                dep = deps[edge]
                if dep not in index:
                    work.append((dep, 0))
                elif dep in on_stack:
                    low[node] = min(low[node], index[dep])
                continue

            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                groups.append(sorted(group, key=list(inputs).index))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return groups


def _cycle_through(
    start: str, group: set[str], inputs: Mapping[str, Sequence[str]]
) -> tuple[str, ...]:
    """A shortest path start → ... → start inside one strongly connected group."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for dep in inputs[node]:
                if dep == start:
                    path = [start, node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    # Built backwards (reader ← input); present it as data flows.
                    return tuple(path)
                if dep in group and dep not in came_from:
                    came_from[dep] = node
                    following.append(dep)
        frontier = following
    return (start, start)
