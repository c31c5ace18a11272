"""A small SQL tokenizer: enough to find and swap string literals given to functions.

It knows comments (`--`, `/* */`), string literals (`'...'` with `''` escapes) and
quoted identifiers (`"..."`, `` `...` ``), so a function name inside any of them is
not mistaken for a call. It is not a parser: DataFusion checks the SQL itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<string>'(?:[^']|'')*(?:'|\Z))
    | (?P<quoted>"(?:[^"]|"")*(?:"|\Z)|`(?:[^`]|``)*(?:`|\Z))
    | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class LiteralArgument:
    """A string literal that is the first argument of a call to `function`."""

    function: str
    value: str
    start: int
    end: int


def tokens(sql: str) -> Iterator[Token]:
    """The tokens of `sql`, without whitespace and comments."""
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup
        if kind is not None and kind not in ("space", "comment"):
            yield Token(kind, match.group(), match.start(), match.end())


def literal_arguments(sql: str, functions: Sequence[str]) -> list[LiteralArgument]:
    """Every call of `functions` (any case) whose first argument is a string
    literal, with the literal's unescaped value and its span in `sql`."""
    wanted = {f.lower() for f in functions}
    found: list[LiteralArgument] = []
    window: list[Token] = []
    for token in tokens(sql):
        window = [*window[-2:], token]
        if len(window) < 3:
            continue
        name, paren, literal = window
        is_call = name.kind == "word" and name.text.lower() in wanted
        closed = literal.kind == "string" and len(literal.text) >= 2
        if is_call and paren.text == "(" and closed and literal.text.endswith("'"):
            value = literal.text[1:-1].replace("''", "'")
            found.append(LiteralArgument(name.text, value, literal.start, literal.end))
    return found


def replace_literal_arguments(
    sql: str, functions: Sequence[str], replace: Callable[[LiteralArgument], str]
) -> str:
    """`sql` with each such literal replaced by the literal `replace` gives for it."""
    pieces: list[str] = []
    position = 0
    for argument in literal_arguments(sql, functions):
        new_value = replace(argument).replace("'", "''")
        pieces += [sql[position : argument.start], f"'{new_value}'"]
        position = argument.end
    pieces.append(sql[position:])
    return "".join(pieces)
