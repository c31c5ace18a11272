"""Tests of chaintap.transforms: SQL transforms, source filters, on-chain functions."""
