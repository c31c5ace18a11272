"""analyze_filter: what a source filter implies, and never more than it implies."""

from __future__ import annotations

import pytest

from chaintap.datasets.catalog import resolve
from chaintap.spec.filters import Pushdown, analyze_filter, block_column
from chaintap.spec.sqlrefs import SqlSyntaxError

A = "0x" + "aa" * 20
B = "0x" + "bb" * 20
T0 = "0x" + "11" * 32
T1 = "0x" + "22" * 32
T2 = "0x" + "33" * 32
NONE4 = (None, None, None, None)


def _blocks(predicate: str) -> tuple[int | None, int | None]:
    pushdown = analyze_filter(predicate, "block_number")
    return pushdown.min_block, pushdown.max_block


@pytest.mark.parametrize(
    ("predicate", "bounds"),
    [
        ("block_number = 7", (7, 7)),
        ("block_number < 10", (None, 9)),
        ("block_number <= 10", (None, 10)),
        ("block_number > 10", (11, None)),
        ("block_number >= 10", (10, None)),
        ("10 <= block_number", (10, None)),
        ("10 > block_number", (None, 9)),
        ("block_number BETWEEN 3 AND 8", (3, 8)),
        ("block_number IN (9, 3, 5)", (3, 9)),
        ("block_number >= 5 AND block_number < 20 AND block_number <= 30", (5, 19)),
        ("(block_number >= 5) AND (block_number <= 6)", (5, 6)),
        ("BLOCK_NUMBER <= 4", (None, 4)),
        ("logs.block_number <= 4", (None, 4)),
        ("`block_number` <= 4", (None, 4)),
        ("block_number > -1", (0, None)),
        # OR of ranges on the same column: the hull covering both.
        ("block_number BETWEEN 1 AND 5 OR block_number BETWEEN 10 AND 20", (1, 20)),
        ("block_number = 1 OR block_number = 9", (1, 9)),
        ("block_number < 5 OR block_number > 100", (None, None)),
        ("block_number <= 5 OR block_number BETWEEN 7 AND 9", (None, 9)),
    ],
)
def test_block_bounds(predicate: str, bounds: tuple[int | None, int | None]) -> None:
    assert _blocks(predicate) == bounds


@pytest.mark.parametrize(
    "predicate",
    [
        "block_number != 5",
        "NOT block_number <= 5",
        "block_number NOT BETWEEN 1 AND 5",
        "block_number NOT IN (1, 2)",
        "block_number <= 5 OR address = '" + A + "'",  # OR across columns
        "block_number <= '5'",  # a string, not a number
        "block_number <= 5.5",
        "block_number <= other_column",
        "block_number + 1 <= 5",
        "block_number IN (SELECT 1)",
        "block_number <= 5 IS TRUE",
        "number <= 5",  # not this dataset's block column
        "coalesce(block_number, 0) <= 5",
    ],
)
def test_block_predicates_that_restrict_nothing(predicate: str) -> None:
    assert _blocks(predicate) == (None, None)


def test_block_column_is_the_one_given() -> None:
    assert analyze_filter("number <= 5", "number").max_block == 5
    assert analyze_filter("block_slot BETWEEN 1 AND 2", "block_slot").max_block == 2


def test_addresses() -> None:
    upper = A.upper().replace("0X", "0x")
    only_a, a_and_b = frozenset([A]), frozenset([A, B])
    assert analyze_filter(f"address = '{upper}'", "b").addresses == only_a
    assert analyze_filter(f"'{A}' = address", "b").addresses == only_a
    assert analyze_filter(f"lower(address) = '{A}'", "b").addresses == only_a
    assert analyze_filter(f"address IN ('{A}', '{B}')", "b").addresses == a_and_b
    either = f"address = '{A}' OR address = '{B}'"
    assert analyze_filter(either, "b").addresses == a_and_b
    both = f"address IN ('{A}', '{B}') AND address = '{B}'"
    assert analyze_filter(both, "b").addresses == frozenset([B])


@pytest.mark.parametrize(
    "predicate",
    [
        f"address != '{A}'",
        f"address = '{A}' OR topics LIKE '{T0}%'",
        f"address = '{A}' OR block_number = 5",
        f"address LIKE '{A}%'",
        "address = '0x1234'",  # not a 20-byte address: left to the full predicate
        f"address IN ('{A}', 'junk')",
        f"upper(address) = '{A}'",
        f"from_address = '{A}'",
        f"NOT (address = '{A}')",
    ],
)
def test_address_predicates_that_restrict_nothing(predicate: str) -> None:
    assert analyze_filter(predicate, "block_number").addresses is None


def test_contradiction_shows_as_matches_nothing() -> None:
    pushdown = analyze_filter(f"address = '{A}' AND address = '{B}'", "block_number")
    assert pushdown.addresses == frozenset()
    assert pushdown.matches_nothing
    assert analyze_filter("block_number > 9 AND block_number < 3", "block_number") == (
        Pushdown(min_block=10, max_block=2)
    )
    assert Pushdown(min_block=10, max_block=2).matches_nothing
    assert not Pushdown(min_block=2, max_block=2).matches_nothing


@pytest.mark.parametrize(
    ("predicate", "topics"),
    [
        (f"topics LIKE '{T0}%'", (T0, None, None, None)),
        (f"topics LIKE '{T0},%'", (T0, None, None, None)),
        (f"topics ILIKE '{T0.upper()}%'", (T0, None, None, None)),
        (f"topics LIKE '{T0},{T1}%'", (T0, T1, None, None)),
        (f"topics LIKE '{T0},{T1[:10]}%'", (T0, None, None, None)),
        (f"split_part(topics, ',', 1) = '{T0}'", (T0, None, None, None)),
        (f"split_part(topics, ',', 3) = '{T2}'", (None, None, T2, None)),
        (f"lower(split_part(topics, ',', 2)) = '{T1}'", (None, T1, None, None)),
        (f"topics = '{T0},{T1},{T2}'", (T0, T1, T2, None)),
        (f"topic0 = '{T0}' AND topic3 IN ('{T1}', '{T2}')", (T0, None, None, (T1, T2))),
        (
            f"split_part(topics, ',', 1) = '{T0}' OR topics LIKE '{T1}%'",
            ((T0, T1), None, None, None),
        ),
    ],
)
def test_topics(
    predicate: str, topics: tuple[str | tuple[str, ...] | None, ...]
) -> None:
    def as_set(value: str | tuple[str, ...] | None) -> frozenset[str] | None:
        if value is None:
            return None
        return frozenset(value) if isinstance(value, tuple) else frozenset([value])

    expected = tuple(as_set(v) for v in topics)
    assert analyze_filter(predicate, "block_number").topics == expected


@pytest.mark.parametrize(
    "predicate",
    [
        f"topics LIKE '%{T0}%'",
        f"topics LIKE '{T0[:20]}%'",  # a prefix of a hash pins nothing
        f"topics NOT LIKE '{T0}%'",
        f"topics LIKE '{T0}%' ESCAPE '!'",
        f"split_part(topics, ';', 1) = '{T0}'",
        f"split_part(topics, ',', 5) = '{T0}'",
        f"split_part(topics, ',', 0) = '{T0}'",
        f"split_part(data, ',', 1) = '{T0}'",
        "split_part(topics, ',', 2) = ''",
        f"topics LIKE '{T0}%' OR address = '{A}'",
        f"topic0 = '{T0}' OR topic1 = '{T1}'",
        f"topic0 > '{T0}'",
    ],
)
def test_topic_predicates_that_restrict_nothing(predicate: str) -> None:
    assert analyze_filter(predicate, "block_number").topics == NONE4


def test_everything_together() -> None:
    predicate = (
        f"address = '{A}' AND topics LIKE '{T0}%' "
        "AND block_number BETWEEN 100 AND 200 AND data <> '0x'"
    )
    assert analyze_filter(predicate, "block_number") == Pushdown(
        min_block=100,
        max_block=200,
        addresses=frozenset([A]),
        topics=(frozenset([T0]), None, None, None),
    )


def test_or_of_conjunctions_keeps_what_both_sides_share() -> None:
    predicate = (
        f"(address = '{A}' AND block_number <= 10) "
        f"OR (address = '{B}' AND block_number BETWEEN 20 AND 30 AND topic0 = '{T0}')"
    )
    pushdown = analyze_filter(predicate, "block_number")
    assert pushdown.addresses == frozenset([A, B])
    assert (pushdown.min_block, pushdown.max_block) == (None, 30)
    assert pushdown.topics == NONE4


def test_unrestricted_and_bounded() -> None:
    pushdown = analyze_filter("data <> '0x'", "block_number")
    assert pushdown == Pushdown()
    assert not pushdown.bounded
    assert analyze_filter("block_number <= 1", "block_number").bounded


def test_unparsable_filter_raises() -> None:
    with pytest.raises(SqlSyntaxError):
        analyze_filter("address = ", "block_number")


@pytest.mark.parametrize(
    ("dataset", "column"),
    [
        ("ethereum.raw_logs", "block_number"),
        ("ethereum.raw_transactions", "block_number"),
        ("ethereum.erc20_transfers", "block_number"),
        ("ethereum.blocks", "number"),
        ("solana.transactions", "block_slot"),
        ("solana.token_transfers", "block_slot"),
        ("solana.blocks", "slot"),
    ],
)
def test_block_column_names_a_real_column(dataset: str, column: str) -> None:
    ref = resolve(dataset, None)
    assert block_column(ref) == column
    assert column in ref.dataset.schema.names


def test_a_predicate_with_comments_pushes_nothing_down() -> None:
    # In MySQL `--1` is not a comment, in DataFusion it is: the pushdown must not
    # read `<= 30` as a bound the engine then ignores.
    pushdown = analyze_filter(
        "`block_number` >= 0 --1 = 1 AND `block_number` <= 30", "block_number"
    )
    assert pushdown == Pushdown()
    assert analyze_filter("block_number <= 30 /* x */", "block_number") == Pushdown()
