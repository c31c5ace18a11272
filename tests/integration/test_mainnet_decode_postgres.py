"""Real mainnet logs through `chaintap run`: raw_logs → evm_log_decode → Postgres.

The node is the loopback replay server over `shared/chaindata`; the expected rows
are computed in `support.evm_expected` straight from the recorded receipts.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from integration.conftest import Cli, query, write_pipeline
from support.evm_expected import expected_transfers
from support.evm_replay import EvmReplayServer, load_ethereum_blocks

ERC20_ABI = (
    '[{"anonymous":false,"inputs":['
    '{"indexed":true,"name":"from","type":"address"},'
    '{"indexed":true,"name":"to","type":"address"},'
    '{"indexed":false,"name":"value","type":"uint256"}],'
    '"name":"Transfer","type":"event"}]'
)

PIPELINE = """
name: mainnet-decoded
resource_size: s
job: true
sources:
  logs:
    type: dataset
    dataset_name: ethereum.raw_logs
    version: 1.0.0
    filter: block_number BETWEEN {block} AND {block}
transforms:
  decoded:
    type: sql
    primary_key: id
    sql: |
      SELECT id, block_number, log_index, address, transaction_hash,
             _gs_log_decode('{abi}', topics, `data`) AS `decoded`
      FROM logs
  transfers:
    type: sql
    primary_key: id
    sql: |
      SELECT id, block_number, log_index, address AS token,
             decoded.event_params[1] AS sender,
             decoded.event_params[2] AS recipient,
             to_u256(decoded.event_params[3]) AS amount
      FROM decoded
      WHERE decoded.event_signature = 'Transfer'
sinks:
  warehouse:
    type: postgres
    from: transfers
    table: transfers
    primary_key: id
    secret_name: TEST_PG
"""

BLOCK = 16899757


def test_decoded_transfers_equal_the_recorded_receipts(
    cli: Cli, pg_url: str, evm_replay: EvmReplayServer, tmp_path: Path
) -> None:
    cli.env["CHAINTAP_RPC_ETHEREUM"] = evm_replay.url
    cli.env["CHAINTAP_SECRET_TEST_PG"] = pg_url
    file = write_pipeline(tmp_path / "p.yaml", PIPELINE, block=BLOCK, abi=ERC20_ABI)

    result = cli.run("run", str(file))
    assert result.returncode == 0, result.stderr

    expected = [
        (
            t["id"],
            t["block_number"],
            t["log_index"],
            t["address"],
            t["sender"],
            t["recipient"],
            Decimal(t["amount"]),
        )
        for t in expected_transfers(load_ethereum_blocks()[BLOCK])
    ]
    rows = query(
        pg_url,
        "SELECT id, block_number, log_index, token, sender, recipient, amount "
        "FROM public.transfers ORDER BY log_index",
    )
    assert rows == sorted(expected, key=lambda r: int(str(r[2])))
    assert len(rows) > 50
    column_type = query(
        pg_url,
        "SELECT numeric_precision FROM information_schema.columns "
        "WHERE table_name = 'transfers' AND column_name = 'amount'",
    )
    assert column_type == [(78,)]
