"""A whole pipeline over an archive: filter pushdown, SQL decoding, a file sink."""

from __future__ import annotations

import json
from pathlib import Path

from archive_rows import (
    LOG_BLOCKS,
    TRANSFER,
    chaintap_name,
    log_rows,
    transfer_rows,
    write_logs,
)

from chaintap.runtime.runner import run_pipeline
from chaintap.spec.loader import load_pipeline_text

TRANSFER_ABI = json.dumps(
    [
        {
            "anonymous": False,
            "name": "Transfer",
            "type": "event",
            "inputs": [
                {"indexed": True, "name": "from", "type": "address"},
                {"indexed": True, "name": "to", "type": "address"},
                {"indexed": False, "name": "value", "type": "uint256"},
            ],
        }
    ],
    separators=(",", ":"),
)

PIPELINE = """
name: archive-decode
resource_size: xs
job: true
sources:
  logs:
    type: dataset
    dataset_name: ethereum.raw_logs
    archive: {archive}
    # The validator asks a job for a last block even when an archive ends it.
    end_block: {last}
    filter: topics LIKE '{topic}%'
transforms:
  decoded:
    type: sql
    primary_key: id
    sql: |
      SELECT id, block_number, address AS token,
             evm_log_decode('{abi}', topics, data) AS decoded
      FROM logs
  transfers:
    type: sql
    primary_key: id
    sql: |
      SELECT id, block_number, token,
             decoded.event_params[1] AS sender,
             decoded.event_params[2] AS recipient,
             decoded.event_params[3] AS amount
      FROM decoded WHERE decoded IS NOT NULL
sinks:
  out:
    type: file
    from: transfers
    path: {output}
    format: jsonl
"""


def test_archive_to_decoded_transfers(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    ends = [*(b - 1 for b in LOG_BLOCKS[1:]), LOG_BLOCKS[-1]]
    for first, last in zip(LOG_BLOCKS, ends, strict=True):
        write_logs(archive / chaintap_name(first, last), [log_rows(first)])
    output = tmp_path / "out"
    text = PIPELINE.format(
        archive=archive,
        last=LOG_BLOCKS[-1],
        topic=TRANSFER,
        abi=TRANSFER_ABI,
        output=output,
    )
    spec = load_pipeline_text(text)

    summary = run_pipeline(spec, home=tmp_path)

    written = [
        json.loads(line)
        for path in sorted(output.glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    golden = [r for b in LOG_BLOCKS for r in transfer_rows(b)]
    assert [
        (r["id"], r["token"], r["sender"], r["recipient"], r["amount"]) for r in written
    ] == [
        (g["id"], g["address"], g["sender"], g["recipient"], str(g["amount"]))
        for g in golden
    ]
    assert summary.outcome == "succeeded"
    # The source read only Transfer logs (the filter's topic0 went to the read).
    transfers_and_nfts = sum(
        1 for b in LOG_BLOCKS for r in log_rows(b) if r["topics"].startswith(TRANSFER)
    )
    assert summary.rows_by_node["logs"] == transfers_and_nfts
    assert len(golden) < transfers_and_nfts  # ERC-721 Transfers were decoded away
