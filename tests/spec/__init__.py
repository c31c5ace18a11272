"""Tests of chaintap.spec: pipeline files, validation, references, filter analysis."""
