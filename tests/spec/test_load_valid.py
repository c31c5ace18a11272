"""A well-formed Turbo-style pipeline file loads into the right model."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaintap.errors import ConfigError
from chaintap.spec.loader import load_pipeline, load_pipeline_text
from chaintap.spec.model import BlockRange
from spec.helpers import line_of

TURBO_FILE = """\
name: usdc-transfers
resource_size: m
description: USDC transfers on Ethereum and a Solana window
job: true

sources:
  eth_transfers:
    type: dataset
    dataset_name: ethereum.erc20_transfers
    version: 1.2.0
    start_at: earliest
    filter: >-
      address = '0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48'
      AND block_number <= 17053184
  sol_transfers:
    type: dataset
    dataset_name: solana.token_transfers
    version: 1.0.0
    block_ranges: [[250000100, 250000200], [250000000, 250000002]]
  eth_logs:
    type: dataset
    dataset_name: ethereum.raw_logs
    start_block: 16899757
    end_block: 17053184
    rpc_url: http://127.0.0.1:8545
    confirmations: 12
    poll_interval: 500ms

transforms:
  big_transfers:
    type: sql
    primary_key: id
    sql: |
      SELECT id, sender, recipient, amount, block_number
      FROM `eth_transfers`
      WHERE amount > 1000000
  all_ids:
    type: sql
    primary_key: id
    sql: |
      WITH recent AS (SELECT id FROM big_transfers)
      SELECT id FROM recent
      UNION ALL SELECT id FROM sol_transfers

sinks:
  postgres_out:
    type: postgres
    from: all_ids
    table: transfer_ids
    secret_name: MY_POSTGRES
    primary_key: id
  files:
    type: file
    from: big_transfers
    path: out/big
  debug:
    type: print
    from: eth_logs
    limit: 5
  nothing:
    type: blackhole
    from: eth_logs
"""


def test_turbo_file_loads_into_the_model() -> None:
    spec = load_pipeline_text(TURBO_FILE, "usdc.yaml")

    assert (spec.name, spec.resource_size, spec.job) == ("usdc-transfers", "m", True)
    assert spec.description == "USDC transfers on Ethereum and a Solana window"
    assert spec.path == "usdc.yaml"
    assert spec.schedule is None
    assert spec.profile.size == "m"
    assert list(spec.sources) == ["eth_transfers", "sol_transfers", "eth_logs"]
    assert list(spec.transforms) == ["big_transfers", "all_ids"]
    assert list(spec.sinks) == ["postgres_out", "files", "debug", "nothing"]


def test_sources_keep_their_bounds_and_options() -> None:
    spec = load_pipeline_text(TURBO_FILE)
    eth = spec.sources["eth_transfers"]
    assert eth.dataset.qualified_name == "ethereum.erc20_transfers"
    assert eth.dataset.version == "1.2.0"
    assert eth.chain == "ethereum"
    assert eth.start_at == "earliest"
    # The filter's bound is not copied into end_block; sources analyse the filter.
    assert eth.end_block is None
    assert eth.filter is not None and "block_number <= 17053184" in eth.filter
    assert eth.line == line_of(TURBO_FILE, "eth_transfers:")

    sol = spec.sources["sol_transfers"]
    assert sol.dataset.dataset.family.value == "solana"
    # Windows come back sorted and inclusive.
    assert sol.block_ranges == (
        BlockRange(250000000, 250000002),
        BlockRange(250000100, 250000200),
    )

    logs = spec.sources["eth_logs"]
    assert (logs.start_block, logs.end_block) == (16899757, 17053184)
    assert logs.rpc_url == "http://127.0.0.1:8545"
    assert logs.dataset.version == "1.0.0"  # the default version
    assert logs.options == {"confirmations": 12, "poll_interval": 0.5}


def test_transform_inputs_are_tables_read_not_cte_names() -> None:
    spec = load_pipeline_text(TURBO_FILE)
    big = spec.transforms["big_transfers"]
    assert big.inputs == ("eth_transfers",)
    assert big.primary_key == "id"
    assert big.sql is not None and big.sql.startswith("SELECT id, sender")
    assert big.line == line_of(TURBO_FILE, "big_transfers:")
    assert spec.transforms["all_ids"].inputs == ("big_transfers", "sol_transfers")
    assert spec.transform_order == ("big_transfers", "all_ids")


def test_sinks_get_their_defaults() -> None:
    spec = load_pipeline_text(TURBO_FILE)
    pg = spec.sinks["postgres_out"]
    assert (pg.type, pg.from_, pg.primary_key) == ("postgres", "all_ids", "id")
    assert pg.options == {
        "schema": "public",
        "table": "transfer_ids",
        "secret_name": "MY_POSTGRES",
    }
    files = spec.sinks["files"]
    assert files.options == {"path": "out/big", "format": "parquet"}
    assert files.primary_key is None
    assert spec.sinks["debug"].options == {"limit": 5}
    assert spec.sinks["nothing"].options == {}
    assert spec.sinks["nothing"].line == line_of(TURBO_FILE, "nothing:")


def test_minimal_file_takes_the_defaults() -> None:
    spec = load_pipeline_text(
        "name: p\n"
        "sources:\n"
        "  logs: {type: dataset, dataset_name: base.raw_logs}\n"
        "sinks:\n"
        "  out: {type: blackhole, from: logs}\n"
    )
    assert (spec.resource_size, spec.job, spec.description) == ("s", False, None)
    assert spec.transforms == {}
    assert spec.transform_order == ()


def test_empty_transforms_section_is_allowed() -> None:
    spec = load_pipeline_text(
        "name: p\ntransforms: {}\n"
        "sources: {logs: {type: dataset, dataset_name: base.raw_logs}}\n"
        "sinks: {out: {type: print, from: logs}}\n"
    )
    assert spec.transforms == {}


def test_load_pipeline_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "usdc.yaml"
    path.write_text(TURBO_FILE, encoding="utf-8")
    spec = load_pipeline(path)
    assert spec.path == str(path)
    assert spec.name == "usdc-transfers"


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"cannot read pipeline file .*nope\.yaml"):
        load_pipeline(missing)


def test_unknown_chain_resolves_with_an_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = (
        "name: p\n"
        "sources:\n"
        "  logs: {type: dataset, dataset_name: mychain.raw_logs}\n"
        "sinks:\n"
        "  out: {type: blackhole, from: logs}\n"
    )
    monkeypatch.setenv("CHAINTAP_RPC_MYCHAIN", "http://127.0.0.1:8545")
    spec = load_pipeline_text(text)
    assert spec.sources["logs"].dataset.dataset.family.value == "evm"
    assert spec.sources["logs"].chain == "mychain"


def test_connector_options_pass_through_checked() -> None:
    text = (
        "name: p\n"
        "sources:\n"
        "  sol:\n"
        "    type: dataset\n"
        "    dataset_name: solana.blocks\n"
        "    start_block: 1\n"
        "    commitment: confirmed\n"
        "    encoding: jsonParsed\n"
        "    wait_for_head: true\n"
        "    head_poll_interval_s: 0.25\n"
        "    rpc_max_attempts: 2\n"
        "    in_order: false\n"
        "    archive: /data/archive\n"
        "sinks:\n"
        "  out: {type: blackhole, from: sol}\n"
    )
    assert load_pipeline_text(text).sources["sol"].options == {
        "commitment": "confirmed",
        "encoding": "jsonParsed",
        "wait_for_head": True,
        "head_poll_interval_s": 0.25,
        "rpc_max_attempts": 2,
        "in_order": False,
        "archive": "/data/archive",
    }
