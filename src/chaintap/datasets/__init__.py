"""The catalog of chain datasets: names, versions, Arrow schemas."""

from chaintap.datasets.catalog import (
    CATALOG,
    ChainFamily,
    Dataset,
    DatasetRef,
    resolve,
)

__all__ = ["CATALOG", "ChainFamily", "Dataset", "DatasetRef", "resolve"]
