"""Build the sink a `sinks:` entry asks for, by its `type`."""

from __future__ import annotations

from chaintap.errors import ConfigError
from chaintap.sinks.base import Sink
from chaintap.sinks.blackhole import BlackholeSink
from chaintap.sinks.file import FileSink
from chaintap.sinks.postgres import PostgresSink
from chaintap.sinks.stdout import PrintSink
from chaintap.spec.model import SinkSpec
from chaintap.tuning import ResourceProfile

SINK_CLASSES: dict[str, type[Sink]] = {
    "postgres": PostgresSink,
    "file": FileSink,
    "print": PrintSink,
    "blackhole": BlackholeSink,
}


def build_sink(spec: SinkSpec, pipeline: str, profile: ResourceProfile) -> Sink:
    """A new, unopened sink for `spec`; ConfigError for an unknown type or option."""
    sink_class = SINK_CLASSES.get(spec.type)
    if sink_class is None:
        line = f" (line {spec.line})" if spec.line else ""
        raise ConfigError(
            f"pipeline {pipeline!r}, sink {spec.name!r}{line}: sinks.{spec.name}.type "
            f"{spec.type!r} is not a sink type chaintap writes; use one of "
            f"{', '.join(SINK_CLASSES)}"
        )
    return sink_class(spec, pipeline, profile)
