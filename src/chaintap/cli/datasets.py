"""`chaintap datasets`: the dataset catalog."""

from __future__ import annotations

import click

from chaintap.cli import output
from chaintap.datasets.catalog import CATALOG, EVM_CHAINS, SOLANA_CHAINS, ChainFamily


@click.command()
@click.option("--columns", is_flag=True, help="Also list every column and its type.")
def datasets(columns: bool) -> None:
    """List the datasets a source can name, with their versions."""
    rows = []
    for family, sets in CATALOG.items():
        chain = "<evm chain>" if family is ChainFamily.EVM else "solana"
        for name, dataset in sorted(sets.items()):
            rows.append(
                [f"{chain}.{name}", ", ".join(dataset.versions), dataset.description]
            )
    output.out(output.table(rows, ["dataset", "versions", "description"]))
    output.out("")
    output.out("EVM chains: " + ", ".join(EVM_CHAINS) + " (any other with an endpoint)")
    output.out("Solana chains: " + ", ".join(SOLANA_CHAINS))
    if not columns:
        return
    for family, sets in CATALOG.items():
        for name, dataset in sorted(sets.items()):
            output.out(f"\n{family.value}.{name}:")
            for field in dataset.schema:
                type_name = "u256" if str(field.type) == "fixed_size_binary[32]" else ""
                output.out(f"  {field.name:<28} {type_name or field.type}")
