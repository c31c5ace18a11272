"""The messages the README quotes, exactly as `chaintap validate` prints them.

If one of these changes on purpose, change the README in the same commit.
"""

from __future__ import annotations

import pytest

from chaintap.spec.loader import load_pipeline_text
from chaintap.spec.problems import PipelineInvalid

README_EXAMPLE = """\
name: usdc-backfill
job: true
sources:
  logs:
    type: dataset
    dataset_name: ethereum.transactions
    start_block: 17000000
    end_blok: 17000100
  sol:
    type: dataset
    dataset_name: solana.token_transfers
    start_at: latest
  transfers:
    type: dataset
    dataset_name: base.erc20_transfers
transforms:
  decoded:
    type: sql
    primary_key: id
    sql: SELECT * FROM transfer
  loop_a:
    type: sql
    primary_key: id
    sql: SELECT * FROM loop_b
  loop_b:
    type: sql
    primary_key: id
    sql: SELECT * FROM loop_a
sinks:
  warehouse:
    type: clickhouse
    from: decoded
  out:
    type: postgres
    from: decodd
    table: usdc
    secret_name: MY_PG
"""

EXPECTED = [
    "pipe.yaml:2: job: a job needs every source to end, but sol, transfers have no "
    "last block (hint: give each an end_block, block_ranges, or a filter bound: "
    "`block_slot <= N` for sol, `block_number <= N` for transfers)",
    "pipe.yaml:6: sources.logs.dataset_name: unknown dataset "
    "'ethereum.transactions' (hint: did you mean ethereum.raw_transactions?)",
    "pipe.yaml:8: sources.logs.end_blok: unknown key 'end_blok' "
    "(hint: did you mean end_block?)",
    "pipe.yaml:12: sources.sol.start_at: start_at is not supported on Solana "
    "sources (hint: use start_block (and end_block) to choose slots)",
    "pipe.yaml:20: transforms.decoded.sql: decoded reads 'transfer', which is no "
    "source or transform (hint: did you mean transfers?)",
    "pipe.yaml:21: transforms.loop_a: transforms read each other in a cycle: "
    "loop_a -> loop_b -> loop_a (hint: a transform may only read sources and "
    "transforms that do not read it)",
    "pipe.yaml:31: sinks.warehouse.type: sink type 'clickhouse' is not supported "
    "by chaintap yet (hint: supported sink types: postgres, file, print, blackhole)",
    "pipe.yaml:35: sinks.out.from: out reads 'decodd', which is no source or "
    "transform (hint: did you mean decoded?)",
]


def test_readme_example_prints_these_lines() -> None:
    with pytest.raises(PipelineInvalid) as caught:
        load_pipeline_text(README_EXAMPLE, "pipe.yaml")
    assert str(caught.value).splitlines() == EXPECTED


def test_readme_yaml_error_line() -> None:
    with pytest.raises(PipelineInvalid) as caught:
        load_pipeline_text("name: p\nsources:\n  logs: [\n", "pipe.yaml")
    (line,) = str(caught.value).splitlines()
    assert line.startswith("pipe.yaml:4: invalid YAML: ")


def test_readme_unsupported_transform_line() -> None:
    text = (
        "name: p\n"
        "sources: {logs: {type: dataset, dataset_name: base.raw_logs}}\n"
        "transforms: {decode: {type: script, language: typescript}}\n"
        "sinks: {out: {type: blackhole, from: decode}}\n"
    )
    with pytest.raises(PipelineInvalid) as caught:
        load_pipeline_text(text, "pipe.yaml")
    assert str(caught.value) == (
        "pipe.yaml:3: transforms.decode.type: transform type 'script' is not "
        "supported by chaintap yet (hint: supported transform types: sql)"
    )
