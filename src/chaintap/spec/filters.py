"""What a source's `filter` predicate implies about which blocks and logs to read.

`analyze_filter` turns a SQL predicate into a `Pushdown`: block bounds, contract
addresses and topic values that every matching row must have. Sources use it to
ask the node for less (an `eth_getLogs` address/topic filter, a bounded block
range). The runtime still applies the full predicate to every row, so a pushdown
only ever narrows reads: when in doubt the analysis restricts nothing.

Soundness rule: a restriction is claimed only when every row the predicate accepts
satisfies it. `AND` intersects what both sides imply; `OR` keeps only what each
side restricts, widened to cover both (`a = 1 OR a = 2` → `a IN (1, 2)`, but
`a = 1 OR b = 2` restricts neither). Anything not understood restricts nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from chaintap.datasets.catalog import ChainFamily, DatasetRef
from chaintap.spec.sqlrefs import parse_predicate

TOPIC_SLOTS = 4
_ADDRESS = re.compile(r"^0x[0-9a-f]{40}$")
_TOPIC = re.compile(r"^0x[0-9a-f]{64}$")


@dataclass(frozen=True)
class Pushdown:
    """Restrictions every row accepted by a filter satisfies.

    `min_block` / `max_block` are inclusive bounds on the block column (None:
    open); `min_block` is never negative. `addresses` are the allowed values of
    the `address` column, lowercase (None: any). `topics[i]` are the allowed
    values of topic i (0..3), lowercase (None: any). A `max_block` below
    `min_block`, or an empty set, means the filter accepts no row at all.
    """

    min_block: int | None = None
    max_block: int | None = None
    addresses: frozenset[str] | None = None
    topics: tuple[frozenset[str] | None, ...] = (None,) * TOPIC_SLOTS

    @property
    def bounded(self) -> bool:
        """True when the filter implies a last block, so reading can end."""
        return self.max_block is not None

    @property
    def matches_nothing(self) -> bool:
        """True when the restrictions contradict each other (no row can match)."""
        if self.max_block is not None and self.max_block < (self.min_block or 0):
            return True
        sets = [self.addresses, *self.topics]
        return any(allowed is not None and not allowed for allowed in sets)


def block_column(dataset: DatasetRef) -> str:
    """The column holding a dataset's block (EVM) or slot (Solana) number."""
    solana = dataset.dataset.family is ChainFamily.SOLANA
    if dataset.dataset.name == "blocks":
        return "slot" if solana else "number"
    return "block_slot" if solana else "block_number"


def analyze_filter(predicate: str, block_column: str) -> Pushdown:
    """The `Pushdown` a SQL predicate implies; raises `SqlSyntaxError` if unparsable.

    Understood: `=`, `IN (...)`, `<`, `<=`, `>`, `>=` and `BETWEEN` with integer
    literals on `block_column`; `=` / `IN` on `address`, `lower(address)` and
    columns `topic0`..`topic3`; `topics LIKE '0x<topic0>%'`, `topics = '...'` and
    `split_part(topics, ',', n) = '0x...'` (topic n-1). Addresses must be 20-byte
    and topics 32-byte hex to be pushed down; anything else restricts nothing.
    A predicate with SQL comments (`--`, `/*`) restricts nothing either: the parser
    here and the engine that applies the filter could read them differently, and a
    pushdown narrower than the real filter would lose rows.
    """
    tree = parse_predicate(predicate)
    if "--" in predicate or "/*" in predicate:
        return Pushdown()
    facts = _implied(tree, block_column.lower())

    blocks = facts.get("blocks")
    low, high = blocks if isinstance(blocks, tuple) else (None, None)
    topics = tuple(_as_set(facts.get(f"topic{i}")) for i in range(TOPIC_SLOTS))
    return Pushdown(
        min_block=max(low, 0) if low is not None else None,
        max_block=high,
        addresses=_as_set(facts.get("address")),
        topics=topics,
    )


# What one sub-expression implies: "blocks" → (low, high) inclusive with None for
# open ends; "address" / "topic0".."topic3" → the allowed values. A key that is
# absent is unrestricted.
_Bounds = tuple[int | None, int | None]
_Fact = _Bounds | frozenset[str]
_Facts = dict[str, _Fact]


def _as_set(fact: _Fact | None) -> frozenset[str] | None:
    return fact if isinstance(fact, frozenset) else None


# The arguments each understood node may carry. A node with any other argument
# set (`negate` of NOT LIKE, dialect flags of a newer sqlglot) means something we
# do not model, so it restricts nothing.
_KNOWN_ARGS: dict[type[exp.Expr], frozenset[str]] = {
    exp.In: frozenset({"this", "expressions"}),
    exp.Between: frozenset({"this", "low", "high", "symmetric"}),
    exp.SplitPart: frozenset({"this", "delimiter", "part_index"}),
    exp.Column: frozenset({"this", "table", "db", "catalog"}),
}
_BINARY_ARGS = frozenset({"this", "expression"})


def _plain(node: exp.Expr) -> bool:
    known = _KNOWN_ARGS.get(type(node), _BINARY_ARGS)
    return all(not value for key, value in node.args.items() if key not in known)


def _implied(node: exp.Expr, block_col: str) -> _Facts:
    if not _plain(node):
        return {}
    if isinstance(node, exp.Paren):
        return _implied(node.this, block_col)
    if isinstance(node, exp.And):
        left = _implied(node.this, block_col)
        return _both(left, _implied(node.expression, block_col))
    if isinstance(node, exp.Or):
        left = _implied(node.this, block_col)
        return _either(left, _implied(node.expression, block_col))

    if isinstance(node, (exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE)):
        return _comparison(node, block_col)
    if isinstance(node, exp.In):
        return _in_list(node, block_col)
    if isinstance(node, exp.Between):
        return _between(node, block_col)
    if isinstance(node, (exp.Like, exp.ILike)):
        return _like(node)
    return {}


def _both(left: _Facts, right: _Facts) -> _Facts:
    """Facts of `left AND right`: each side's restrictions, intersected."""
    out = dict(left)
    for key, fact in right.items():
        mine = out.get(key)
        if mine is None:
            out[key] = fact
        elif isinstance(mine, frozenset) and isinstance(fact, frozenset):
            out[key] = mine & fact
        elif isinstance(mine, tuple) and isinstance(fact, tuple):
            out[key] = (_pick(max, mine[0], fact[0]), _pick(min, mine[1], fact[1]))
    return out


def _either(left: _Facts, right: _Facts) -> _Facts:
    """Facts of `left OR right`: only keys both restrict, widened to cover both."""
    out: _Facts = {}
    for key in left.keys() & right.keys():
        mine, fact = left[key], right[key]
        if isinstance(mine, frozenset) and isinstance(fact, frozenset):
            out[key] = mine | fact
        elif isinstance(mine, tuple) and isinstance(fact, tuple):
            # An open end on either side leaves the union open on that end.
            low = None if None in (mine[0], fact[0]) else _pick(min, mine[0], fact[0])
            high = None if None in (mine[1], fact[1]) else _pick(max, mine[1], fact[1])
            if low is not None or high is not None:
                out[key] = (low, high)
    return out


def _pick(
    choose: Callable[[int, int], int], a: int | None, b: int | None
) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return choose(a, b)


def _comparison(node: exp.Binary, block_col: str) -> _Facts:
    left, right, op = node.this, node.expression, type(node)
    if _is_literal(left) and not _is_literal(right):
        left, right, op = right, left, _FLIPPED.get(op, op)

    key = _key_of(left, block_col)
    if key == "blocks":
        value = _int_literal(right)
        if value is None:
            return {}
        bounds = {
            exp.EQ: (value, value),
            exp.GT: (value + 1, None),
            exp.GTE: (value, None),
            exp.LT: (None, value - 1),
            exp.LTE: (None, value),
        }
        return {"blocks": bounds[op]}

    if op is not exp.EQ or key is None:
        return {}
    if key == "topics":
        text = _str_literal(right)
        return _topics_prefix(text, exact=True) if text is not None else {}
    return _values(key, [right])


_FLIPPED: dict[type[exp.Binary], type[exp.Binary]] = {
    exp.GT: exp.LT,
    exp.GTE: exp.LTE,
    exp.LT: exp.GT,
    exp.LTE: exp.GTE,
}


def _in_list(node: exp.In, block_col: str) -> _Facts:
    items = node.expressions
    if not items or node.args.get("query") or node.args.get("unnest"):
        return {}

    key = _key_of(node.this, block_col)
    if key == "blocks":
        numbers = [_int_literal(item) for item in items]
        if any(n is None for n in numbers):
            return {}
        known = [n for n in numbers if n is not None]
        return {"blocks": (min(known), max(known))}
    if key == "topics":
        texts = [_str_literal(item) for item in items]
        if any(t is None for t in texts):
            return {}
        facts = [_topics_prefix(t, exact=True) for t in texts if t is not None]
        result = facts[0]
        for more in facts[1:]:
            result = _either(result, more)
        return result
    return _values(key, items) if key is not None else {}


def _between(node: exp.Between, block_col: str) -> _Facts:
    if _key_of(node.this, block_col) != "blocks":
        return {}
    low, high = _int_literal(node.args.get("low")), _int_literal(node.args.get("high"))
    if low is None or high is None:
        return {}
    if node.args.get("symmetric"):
        low, high = min(low, high), max(low, high)
    return {"blocks": (low, high)}


def _like(node: exp.Like | exp.ILike) -> _Facts:
    # `topics LIKE '0x<64 hex>%'`: topics are comma-separated 66-character hashes,
    # so a full hash before the first wildcard pins that topic exactly.
    if _column_name(node.this) != "topics":
        return {}
    pattern = _str_literal(node.expression)
    if pattern is None:
        return {}
    return _topics_prefix(pattern, exact=False)


def _topics_prefix(pattern: str, *, exact: bool) -> _Facts:
    """Topics pinned by the fixed start of a `topics` value or LIKE pattern.

    With `exact` the text is the whole value (no wildcards). Each leading
    comma-separated piece that is a full 32-byte hash pins its topic position;
    the first piece that is not (partial, wildcard) ends what is known.
    """
    fixed = pattern if exact else re.split(r"[%_]", pattern, maxsplit=1)[0]
    facts: _Facts = {}
    for index, piece in enumerate(fixed.lower().split(",")[:TOPIC_SLOTS]):
        if not _TOPIC.match(piece):
            break
        facts[f"topic{index}"] = frozenset([piece])
    return facts


def _values(key: str, items: list[exp.Expr]) -> _Facts:
    """`key IN items` (or `=` one item) as a set, when every item is well-formed."""
    shape = _ADDRESS if key == "address" else _TOPIC
    values: set[str] = set()
    for item in items:
        text = _str_literal(item)
        if text is None or not shape.match(text.lower()):
            return {}
        values.add(text.lower())
    return {key: frozenset(values)}


def _key_of(node: exp.Expr, block_col: str) -> str | None:
    """Which restriction an expression's value decides, if any."""
    if not _plain(node):
        return None
    if isinstance(node, exp.Lower):
        inner = _key_of(node.this, block_col)
        # Hex values are lowercase in the data, so lower() changes nothing there.
        return inner if inner not in (None, "blocks") else None
    if isinstance(node, exp.SplitPart):
        return _split_part_topic(node)

    name = _column_name(node)
    if name is None:
        return None
    if name == block_col:
        return "blocks"
    if name in ("address", "topics") or re.fullmatch(r"topic[0-3]", name):
        return name
    return None


def _split_part_topic(node: exp.SplitPart) -> str | None:
    if _column_name(node.this) != "topics":
        return None
    if _str_literal(node.args.get("delimiter")) != ",":
        return None
    part = _int_literal(node.args.get("part_index"))
    if part is None or not 1 <= part <= TOPIC_SLOTS:
        return None
    return f"topic{part - 1}"


def _column_name(node: exp.Expr | None) -> str | None:
    if isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier):
        return node.name.lower()
    return None


def _is_literal(node: exp.Expr | None) -> bool:
    return isinstance(node, exp.Literal) or (
        isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal)
    )


def _int_literal(node: exp.Expr | None) -> int | None:
    if isinstance(node, exp.Neg):
        inner = _int_literal(node.this)
        return -inner if inner is not None else None
    if isinstance(node, exp.Literal) and not node.is_string:
        text = node.this
        if isinstance(text, str) and re.fullmatch(r"\d+", text):
            return int(text)
    return None


def _str_literal(node: exp.Expr | None) -> str | None:
    if isinstance(node, exp.Literal) and node.is_string and isinstance(node.this, str):
        return node.this
    return None
