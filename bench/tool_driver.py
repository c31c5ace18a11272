"""Time one baseline extraction inside the baseline's own virtualenv.

    <venv>/bin/python bench/tool_driver.py TOOL DATASET URL FIRST LAST OUT

Runs with the tool's interpreter (not chaintap's), so it uses the standard
library only and Python 3.8 syntax. The tool is imported before the clock
starts: the figure is the extraction, not interpreter start and imports (the
chaintap side is timed the same way, in-process). Blocks FIRST..LAST are
inclusive. Output files go under OUT; the suite counts their rows.

Prints one JSON line: {"seconds": extraction, "prepare_seconds": untimed steps}.

- cryo: `cryo.freeze` of `blocks`, `logs` or `erc20_transfers` to Parquet, with
  cryo's defaults for concurrency and chunking.
- ethereum-etl: `export_blocks_and_transactions --blocks-output` (blocks),
  `export_token_transfers` (erc20_transfers, from eth_getLogs), and for raw_logs
  `export_receipts_and_logs`, which reads logs from one receipt per transaction:
  it needs the transaction hashes, exported first with
  `export_blocks_and_transactions` + `extract_csv_column`; that preparation is
  reported as prepare_seconds and not counted in the figure.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

CRYO_DATASETS = {
    "blocks": "blocks",
    "raw_logs": "logs",
    "erc20_transfers": "erc20_transfers",
}


def run_cryo(
    dataset: str, url: str, first: int, last: int, out: str
) -> tuple[float, float]:
    import cryo  # type: ignore[import-not-found]

    started = time.perf_counter()
    # cryo's block ranges end exclusive.
    cryo.freeze(
        CRYO_DATASETS[dataset],
        blocks=[f"{first}:{last + 1}"],
        rpc=url,
        output_dir=out,
        verbose=False,
    )
    return time.perf_counter() - started, 0.0


def run_ethereum_etl(
    dataset: str, url: str, first: int, last: int, out: str
) -> tuple[float, float]:
    from ethereumetl.cli import cli  # type: ignore[import-not-found]

    def etl(*args: Any) -> None:
        cli.main(args=list(args), standalone_mode=False)

    span = ["--start-block", str(first), "--end-block", str(last)]
    provider = ["--provider-uri", url]
    prepare = 0.0
    started = time.perf_counter()
    if dataset == "blocks":
        etl(
            "export_blocks_and_transactions",
            *span,
            *provider,
            "--blocks-output",
            out + "/blocks.csv",
        )
    elif dataset == "erc20_transfers":
        etl(
            "export_token_transfers",
            *span,
            *provider,
            "--output",
            out + "/token_transfers.csv",
        )
    else:
        etl(
            "export_blocks_and_transactions",
            *span,
            *provider,
            "--transactions-output",
            out + "/transactions.csv",
        )
        etl(
            "extract_csv_column",
            "--input",
            out + "/transactions.csv",
            "--column",
            "hash",
            "--output",
            out + "/hashes.txt",
        )
        prepare = time.perf_counter() - started
        started = time.perf_counter()
        etl(
            "export_receipts_and_logs",
            "--transaction-hashes",
            out + "/hashes.txt",
            *provider,
            "--logs-output",
            out + "/logs.csv",
        )
    return time.perf_counter() - started, prepare


def main() -> None:
    tool, dataset, url, first, last, out = sys.argv[1:7]
    runner = run_cryo if tool == "cryo" else run_ethereum_etl
    seconds, prepare = runner(dataset, url, int(first), int(last), out)
    print(json.dumps({"seconds": seconds, "prepare_seconds": prepare}))


if __name__ == "__main__":
    main()
