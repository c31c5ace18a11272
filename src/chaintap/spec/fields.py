"""Check the keys of one mapping against a table from `chaintap.spec.keys`.

`Checker` collects problems (with the line of each path) instead of raising, so a
whole file is checked in one pass. `Checker.fields` returns only the values that
passed, converted (durations to seconds, block ranges to `BlockRange`), with the
documented defaults filled in for keys that were not given.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

from chaintap.spec.keys import Key, Kind
from chaintap.spec.model import BlockRange
from chaintap.spec.problems import PathParts, Problem, format_path, nearest
from chaintap.spec.yamldoc import LineMap

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class _Invalid:
    """Marks a value that failed its check (a problem was already recorded)."""


INVALID = _Invalid()


class Checker:
    """Collects `Problem`s for one file, looking up each path's line."""

    def __init__(self, lines: LineMap) -> None:
        self.lines = lines
        self.problems: list[Problem] = []

    def add(self, path: PathParts, message: str, hint: str | None = None) -> None:
        self.problems.append(
            Problem(format_path(path), self.lines.line(path), message, hint)
        )

    def line(self, path: PathParts) -> int:
        return self.lines.line(path) or 0

    def mapping(
        self, value: object, path: PathParts, what: str
    ) -> dict[str, Any] | None:
        """`value` as a mapping with string keys, or None after recording a problem."""
        if not isinstance(value, dict):
            shown = "nothing" if value is None else f"a {_type_name(value)}"
            self.add(path, f"{what} must be a mapping of keys to values, not {shown}")
            return None

        good: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, str):
                good[key] = item
            else:
                self.add((*path, str(key)), f"key {key!r} must be a string")
        return good

    def fields(
        self,
        node: Mapping[str, Any],
        path: PathParts,
        table: Mapping[str, Key],
        other_tables: Mapping[str, Mapping[str, Key]] | None = None,
    ) -> dict[str, Any]:
        """Check `node` against `table`; return valid values plus defaults.

        Unknown keys get the nearest valid key as a hint; `other_tables` (by type
        name) lets the hint say which other node type a key belongs to.
        """
        values: dict[str, Any] = {}
        for name, raw in node.items():
            key = table.get(name)
            if key is None:
                self._unknown(name, path, table, other_tables or {})
                continue
            value = self.value(key, raw, (*path, name))
            if value is not INVALID:
                values[name] = value

        for key in table.values():
            if key.name in node:
                continue
            if key.required:
                self.add(
                    path,
                    f"missing required key {key.name!r}",
                    f"add {key.name}: <{key.doc}>",
                )
            elif key.default is not None:
                values[key.name] = key.default
        return values

    def value(self, key: Key, raw: object, path: PathParts) -> Any:
        """`raw` checked and converted for `key`, or `INVALID` after a problem."""
        if raw is None and key.kind is not Kind.MAPPING:
            self.add(path, "has no value", f"expected {_expected(key)}")
            return INVALID
        check = _CHECKS[key.kind]
        return check(self, key, raw, path)

    def _unknown(
        self,
        name: str,
        path: PathParts,
        table: Mapping[str, Key],
        others: Mapping[str, Mapping[str, Key]],
    ) -> None:
        close = nearest(name, table)
        owners = [kind for kind, keys in others.items() if name in keys]
        if close is not None:
            hint = f"did you mean {close}?"
        elif owners:
            hint = f"{name} belongs to {' and '.join(owners)} nodes; valid here: " + (
                ", ".join(table)
            )
        else:
            hint = "valid keys: " + ", ".join(table)
        self.add((*path, name), f"unknown key {name!r}", hint)


def _expected(key: Key) -> str:
    if key.kind is Kind.CHOICE:
        return "one of " + ", ".join(key.choices)
    if key.kind is Kind.INTEGER and key.minimum is not None:
        return f"an integer >= {key.minimum}"
    return f"a {key.kind.value}"


def _type_name(value: object) -> str:
    names = {bool: "boolean", int: "number", float: "number", str: "string"}
    names.update({list: "list", dict: "mapping"})
    return names.get(type(value), type(value).__name__)


def _string(check: Checker, key: Key, raw: object, path: PathParts) -> Any:
    if not isinstance(raw, str):
        hint = f'quote it: "{raw}"' if isinstance(raw, int | float) else None
        check.add(path, f"must be a string, not a {_type_name(raw)}", hint)
        return INVALID
    if key.required and not raw.strip():
        check.add(path, "must not be empty", key.doc)
        return INVALID
    return raw


def _integer(check: Checker, key: Key, raw: object, path: PathParts) -> Any:
    if isinstance(raw, bool) or not isinstance(raw, int):
        hint = None
        if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
            hint = f"remove the quotes: {raw.strip()}"
        check.add(path, f"must be an integer, not a {_type_name(raw)}", hint)
        return INVALID
    if key.minimum is not None and raw < key.minimum:
        check.add(path, f"must be >= {key.minimum}, got {raw}")
        return INVALID
    return raw


def _boolean(check: Checker, key: Key, raw: object, path: PathParts) -> Any:
    if isinstance(raw, bool):
        return raw
    hint = None
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        hint = f"remove the quotes: {raw.strip().lower()}"
    check.add(path, f"must be true or false, not {raw!r}", hint)
    return INVALID


def _choice(check: Checker, key: Key, raw: object, path: PathParts) -> Any:
    if isinstance(raw, str) and raw in key.choices:
        return raw
    close = nearest(str(raw), key.choices)
    hint = f"did you mean {close}?" if close else None
    check.add(path, f"must be one of {', '.join(key.choices)}, not {raw!r}", hint)
    return INVALID


def _duration(check: Checker, key: Key, raw: object, path: PathParts) -> Any:
    seconds: float | None = None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        seconds = float(raw)
    elif isinstance(raw, str) and (match := _DURATION.match(raw)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]

    if seconds is None or seconds <= 0:
        check.add(
            path,
            f"must be a positive duration, not {raw!r}",
            "seconds as a number, or a string such as 500ms, 2s, 1m",
        )
        return INVALID
    return seconds


def _block_ranges(check: Checker, key: Key, raw: object, path: PathParts) -> Any:
    if not isinstance(raw, list) or not raw:
        check.add(
            path,
            "must be a non-empty list of [start, end] pairs",
            "for example [[250000000, 250000100], [251000000, 251000010]]",
        )
        return INVALID

    ranges: list[BlockRange] = []
    for index, item in enumerate(raw):
        window = _window(check, item, (*path, index))
        if window is None:
            return INVALID
        ranges.append(window)
    ranges.sort(key=lambda r: r.start)

    for before, after in itertools.pairwise(ranges):
        if after.start <= before.end:
            check.add(
                path,
                f"block ranges {before} and {after} overlap; blocks in both would be "
                "read twice",
                "merge them into one range",
            )
            return INVALID
    return tuple(ranges)


def _window(check: Checker, item: object, path: PathParts) -> BlockRange | None:
    bounds = item if isinstance(item, list) and len(item) == 2 else []
    start, end = [*bounds, None, None][:2]
    if not (_block_number(start) and _block_number(end)):
        check.add(
            path,
            f"a block range must be [start, end] with integers >= 0, not {item!r}",
        )
        return None

    assert isinstance(start, int) and isinstance(end, int)  # checked just above
    if start > end:
        check.add(path, f"block range [{start}, {end}] ends before it starts")
        return None
    return BlockRange(start, end)


def _block_number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _mapping(check: Checker, key: Key, raw: object, path: PathParts) -> Any:
    # Sections are checked node by node by the validator; here only the shape.
    if raw is None:
        return {}
    mapping = check.mapping(raw, path, key.name)
    return INVALID if mapping is None else mapping


_CHECKS = {
    Kind.STRING: _string,
    Kind.INTEGER: _integer,
    Kind.BOOLEAN: _boolean,
    Kind.CHOICE: _choice,
    Kind.DURATION: _duration,
    Kind.BLOCK_RANGES: _block_ranges,
    Kind.MAPPING: _mapping,
}
