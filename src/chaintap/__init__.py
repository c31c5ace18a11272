"""chaintap: self-hostable blockchain data pipelines.

A pipeline reads chain datasets from sources, reshapes them with streaming SQL
transforms and writes the result to sinks. Block ranges are inclusive everywhere.
"""

__version__ = "0.1.0"
