"""Transforms: streaming SQL over Arrow batches, with on-chain functions."""
