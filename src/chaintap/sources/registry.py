"""Pick the source implementation for a `sources:` entry."""

from __future__ import annotations

import pyarrow as pa

from chaintap.datasets.archives import configured_archive
from chaintap.datasets.catalog import ChainFamily
from chaintap.datasets.ops import OP_FIELD
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


def planned_schema(spec: SourceSpec) -> pa.Schema:
    """The schema the source of `spec` will emit, known without opening it.

    A head-following EVM source adds the operation column `_gs_op`; archives and
    Solana sources emit the dataset's schema as it is.
    """
    schema = spec.dataset.dataset.schema
    if configured_archive(spec.chain, spec.options) is not None:
        return schema
    if spec.dataset.dataset.family is ChainFamily.SOLANA:
        return schema

    from chaintap.sources.evm.source import follows_head

    return schema.append(OP_FIELD) if follows_head(spec) else schema
