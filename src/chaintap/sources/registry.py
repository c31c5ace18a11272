"""Pick the source implementation for a `sources:` entry."""

from __future__ import annotations

from chaintap.datasets.catalog import ChainFamily
from chaintap.errors import ConfigError
from chaintap.sources.base import Source
from chaintap.spec.model import SourceSpec
from chaintap.tuning import ResourceProfile


def build_source(spec: SourceSpec, profile: ResourceProfile) -> Source:
    """The source for `spec`.

    An archive source when the source has an `archive` option or
    `CHAINTAP_ARCHIVE_<CHAIN>` is set, else a JSON-RPC source of its chain family.
    """
    if spec.type != "dataset":
        raise ConfigError(f"source {spec.name!r}: unsupported type {spec.type!r}")

    # Imported here so a pipeline only loads the connectors it uses.
    from chaintap.sources.archive.source import ArchiveSource, archive_root

    root = archive_root(spec)
    if root is not None:
        return ArchiveSource(spec, profile, root)

    if spec.dataset.dataset.family is ChainFamily.SOLANA:
        from chaintap.sources.solana.source import SolanaRpcSource

        return SolanaRpcSource(spec, profile)

    from chaintap.sources.evm.source import EvmRpcSource

    return EvmRpcSource(spec, profile)
