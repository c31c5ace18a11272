"""How a job's range is cut into partitions."""

from __future__ import annotations

import itertools

import pytest

from chaintap.runtime.partitions import plan_partitions
from chaintap.spec.model import BlockRange


@pytest.mark.parametrize(
    ("target", "workers", "per_batch"),
    [
        (BlockRange(0, 32), 2, 10),
        (BlockRange(17_000_000, 17_099_999), 4, 100),
        (BlockRange(5, 5), 8, 50),
        (BlockRange(100, 1_000), 3, 7),
    ],
)
def test_partitions_cover_the_range_once_on_batch_boundaries(
    target: BlockRange, workers: int, per_batch: int
) -> None:
    partitions = plan_partitions(target, workers, per_batch)

    assert partitions[0].start == target.start
    assert partitions[-1].end == target.end
    for before, after in itertools.pairwise(partitions):
        assert after.start == before.end + 1
    # Every partition starts where a sequential run would start a batch.
    assert all((p.start - target.start) % per_batch == 0 for p in partitions)
    assert len(partitions) <= workers * 4


def test_small_ranges_get_one_partition_per_batch() -> None:
    assert plan_partitions(BlockRange(0, 32), 2, 10) == [
        BlockRange(0, 9),
        BlockRange(10, 19),
        BlockRange(20, 29),
        BlockRange(30, 32),
    ]


def test_large_ranges_get_workers_times_four_partitions() -> None:
    partitions = plan_partitions(BlockRange(0, 99_999), 2, 100)
    assert len(partitions) == 8
    assert {len(p) for p in partitions} == {12_500}
