"""Which `<chain>.<dataset>` names exist, which versions resolve, and their schemas.

Chains are named as Goldsky Turbo names them so existing pipeline files run
unchanged. Any EVM chain not listed here still works when the source has an
endpoint (`rpc_url` or `CHAINTAP_RPC_<CHAIN>`); it is then treated as EVM.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

import pyarrow as pa

from chaintap.datasets import evm, solana


class ChainFamily(enum.Enum):
    EVM = "evm"
    SOLANA = "solana"


# Chains Turbo names, by family. Any other name is accepted as EVM given an endpoint.
EVM_CHAINS: tuple[str, ...] = (
    "ethereum",
    "base",
    "matic",
    "arbitrum",
    "arbitrum_nova",
    "optimism",
    "bsc",
    "avalanche",
    "gnosis",
    "linea",
    "scroll",
    "blast",
    "zora",
    "zksync_era",
    "mantle",
    "celo",
    "fantom",
    "polygon_zkevm",
    "sepolia",
    "holesky",
    "base_sepolia",
)
SOLANA_CHAINS: tuple[str, ...] = ("solana",)

# The EIP-155 chain id of each named EVM chain: a node answering another id is the
# wrong node for the dataset, and reading it would write another chain's rows.
EVM_CHAIN_IDS: dict[str, int] = {
    "ethereum": 1,
    "base": 8453,
    "matic": 137,
    "arbitrum": 42161,
    "arbitrum_nova": 42170,
    "optimism": 10,
    "bsc": 56,
    "avalanche": 43114,
    "gnosis": 100,
    "linea": 59144,
    "scroll": 534352,
    "blast": 81457,
    "zora": 7777777,
    "zksync_era": 324,
    "mantle": 5000,
    "celo": 42220,
    "fantom": 250,
    "polygon_zkevm": 1101,
    "sepolia": 11155111,
    "holesky": 17000,
    "base_sepolia": 84532,
}

# Every dataset resolves 1.0.0; these are the other versions Turbo files name.
_EXTRA_VERSIONS: dict[str, tuple[str, ...]] = {
    "erc20_transfers": ("1.1.0", "1.2.0"),
    "raw_logs": ("1.1.0",),
    "raw_transactions": ("1.1.0",),
    "blocks": ("1.1.0",),
}

# Names people reach for that mean another dataset.
ALIASES: dict[str, str] = {
    "transactions": "raw_transactions",
    "logs": "raw_logs",
    "transfers": "erc20_transfers",
    "erc20": "erc20_transfers",
    "token_transfers": "erc20_transfers",
}

SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


@dataclass(frozen=True)
class Dataset:
    """One dataset of a chain family, with the versions that resolve to it."""

    family: ChainFamily
    name: str
    schema: pa.Schema
    versions: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class DatasetRef:
    """A resolved `dataset_name` + `version` of one source."""

    chain: str
    dataset: Dataset
    version: str

    @property
    def qualified_name(self) -> str:
        return f"{self.chain}.{self.dataset.name}"


def _build() -> dict[ChainFamily, dict[str, Dataset]]:
    descriptions = {
        "blocks": "one row per block header",
        "raw_transactions": "transactions joined with their receipts",
        "raw_logs": "every event log, topics comma-separated",
        "erc20_transfers": "standard ERC-20 Transfer events (3 topics, 32-byte data)",
    }
    evm_sets = {
        name: Dataset(
            ChainFamily.EVM,
            name,
            schema,
            ("1.0.0", *_EXTRA_VERSIONS.get(name, ())),
            descriptions[name],
        )
        for name, schema in evm.SCHEMAS.items()
    }
    sol_descriptions = {
        "blocks": "one row per slot, skipped slots included",
        "transactions": "transactions with status, fee, logs and balance changes",
        "instructions": "top-level and inner instructions",
        "token_transfers": "SPL Token / Token-2022 transfers, exact raw amounts",
    }
    sol_sets = {
        name: Dataset(
            ChainFamily.SOLANA, name, schema, ("1.0.0",), sol_descriptions[name]
        )
        for name, schema in solana.SCHEMAS.items()
    }
    return {ChainFamily.EVM: evm_sets, ChainFamily.SOLANA: sol_sets}


CATALOG: dict[ChainFamily, dict[str, Dataset]] = _build()


def family_of(chain: str) -> ChainFamily | None:
    """The family of a known chain name; None for a chain the catalog does not list."""
    if chain in SOLANA_CHAINS:
        return ChainFamily.SOLANA
    if chain in EVM_CHAINS:
        return ChainFamily.EVM
    return None


class DatasetLookupError(LookupError):
    """A dataset name or version that does not resolve; `hint` says what would."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def resolve(
    dataset_name: str, version: str | None, *, allow_unknown_chain: bool = False
) -> DatasetRef:
    """Resolve `<chain>.<dataset>` and a version, or raise `DatasetLookupError`.

    `allow_unknown_chain` treats an unlisted chain as EVM (the caller checked that an
    endpoint is configured for it).
    """
    chain, dot, name = dataset_name.partition(".")
    if not dot or not chain or not name:
        raise DatasetLookupError(
            f"dataset_name {dataset_name!r} is not of the form <chain>.<dataset>",
            "for example ethereum.raw_logs",
        )

    family = family_of(chain)
    if family is None:
        if not allow_unknown_chain:
            raise DatasetLookupError(
                f"unknown chain {chain!r}",
                "known chains: "
                + ", ".join(EVM_CHAINS + SOLANA_CHAINS)
                + f"; any other EVM chain works with rpc_url or "
                f"CHAINTAP_RPC_{chain.upper()}",
            )
        family = ChainFamily.EVM

    datasets = CATALOG[family]
    dataset = datasets.get(name)
    if dataset is None:
        alias = ALIASES.get(name)
        hint = (
            f"did you mean {chain}.{alias}?"
            if alias in datasets
            else f"available for {chain}: " + ", ".join(sorted(datasets))
        )
        raise DatasetLookupError(f"unknown dataset {dataset_name!r}", hint)

    resolved = version or "1.0.0"
    if not SEMVER.match(resolved):
        raise DatasetLookupError(
            f"version {resolved!r} of {dataset_name} is not semver (MAJOR.MINOR.PATCH)",
            "available: " + ", ".join(dataset.versions),
        )
    if resolved not in dataset.versions:
        raise DatasetLookupError(
            f"{dataset_name} has no version {resolved}",
            "available: " + ", ".join(dataset.versions),
        )
    return DatasetRef(chain, dataset, resolved)
