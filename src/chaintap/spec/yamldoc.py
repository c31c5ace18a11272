"""Parse YAML while remembering the line of every key and value.

PyYAML's constructed values forget where they came from, so the text is first
composed into nodes (which carry start marks), walked once to record lines and
catch duplicate keys, then constructed with the safe constructor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from chaintap.spec.problems import PathParts, Problem, format_path


@dataclass
class LineMap:
    """1-based lines of the keys and values of a document, by path."""

    keys: dict[PathParts, int] = field(default_factory=dict)
    values: dict[PathParts, int] = field(default_factory=dict)

    def line(self, path: PathParts) -> int | None:
        """Where `path` is written: its key, else its value, else its nearest parent.

        A key that is missing is reported on the mapping that should hold it, so
        the fallback to parents gives every problem a line.
        """
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefix in self.keys:
                return self.keys[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return None


@dataclass
class YamlDocument:
    """The constructed value of a file, its line map and problems found on the way."""

    data: Any
    lines: LineMap
    problems: list[Problem]


# Far beyond any real pipeline file, far below what hurts: a file over this size,
# or whose aliases expand to more nodes than this, is refused before it is walked
# (a 400-byte "billion laughs" file otherwise takes gigabytes).
MAX_YAML_BYTES = 4 * 1024 * 1024
MAX_YAML_NODES = 200_000


class _TooLarge(Exception):
    """The document expands past MAX_YAML_NODES."""


def parse_yaml(text: str) -> YamlDocument:
    """Parse one YAML document safely; invalid YAML becomes a single problem.

    Duplicate keys (which PyYAML would silently resolve to the last) are returned
    as problems alongside the data. No Python object tags are ever constructed.
    Oversized, alias-bombed or too deeply nested files are one problem each.
    """
    if len(text) > MAX_YAML_BYTES:
        return _refused(f"the file is over {MAX_YAML_BYTES // 2**20} MiB")
    loader = yaml.SafeLoader(text)
    lines = LineMap()
    problems: list[Problem] = []
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(None, lines, problems)
        _walk(node, (), lines, problems, set(), [MAX_YAML_NODES])
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        return YamlDocument(None, LineMap(), [_syntax_problem(err)])
    except _TooLarge:
        return _refused(f"its aliases expand to over {MAX_YAML_NODES:,} YAML nodes")
    except RecursionError:
        return _refused("it is nested too deeply")
    finally:
        loader.dispose()
    return YamlDocument(data, lines, problems)


def _refused(why: str) -> YamlDocument:
    problem = Problem(
        "(file)", 1, f"not a pipeline file chaintap will read: {why}", None
    )
    return YamlDocument(None, LineMap(), [problem])


def _walk(
    node: yaml.Node,
    path: PathParts,
    lines: LineMap,
    out: list[Problem],
    enclosing: set[int],
    budget: list[int],
) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge
    lines.values[path] = node.start_mark.line + 1
    if id(node) in enclosing:
        return  # an alias of one of its own parents: already walked above
    if isinstance(node, yaml.SequenceNode):
        enclosing.add(id(node))
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, out, enclosing, budget)
        enclosing.discard(id(node))
        return
    if not isinstance(node, yaml.MappingNode):
        return

    enclosing.add(id(node))
    first_seen: dict[str, int] = {}
    for key_node, value_node in node.value:
        # Merge keys (`<<: *base`) are resolved by the constructor; their keys
        # keep no line of their own and are reported on the enclosing mapping.
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
            continue
        key = key_node.value
        key_line = key_node.start_mark.line + 1
        if key in first_seen:
            out.append(_duplicate(path, key, key_line, first_seen[key]))
            continue
        first_seen[key] = key_line
        lines.keys[(*path, key)] = key_line
        _walk(value_node, (*path, key), lines, out, enclosing, budget)
    enclosing.discard(id(node))


def _duplicate(path: PathParts, key: str, line: int, first: int) -> Problem:
    return Problem(
        format_path((*path, key)),
        line,
        f"duplicate key {key!r} (first on line {first}); only the last one would "
        "take effect",
        "remove or rename one of them",
    )


def _syntax_problem(err: yaml.MarkedYAMLError) -> Problem:
    mark = err.problem_mark or err.context_mark
    line = mark.line + 1 if mark is not None else None
    what = err.problem or "not valid YAML"
    if err.context:
        what = f"{err.context}, {what}"
    return Problem("", line, f"invalid YAML: {what}", _syntax_hint(what))


def _syntax_hint(what: str) -> str | None:
    if "tab" in what or "'\\t'" in what:
        return "indent with spaces; YAML does not allow tabs for indentation"
    if "expected a single document" in what:
        return "a pipeline file holds one document; remove the extra '---'"
    return None
