"""Errors of the control plane, on the one tree of `chaintap.errors`.

The server maps each to an HTTP status and the client maps the status back, so the
CLI can exit with the documented code (3 not found, 4 conflict, 2 invalid).
"""

from __future__ import annotations

from chaintap.errors import ConfigError, TerminalError, TransientError


class PipelineNotFound(ConfigError):
    """No pipeline of that name is applied (HTTP 404)."""


class PipelineConflict(ConfigError):
    """The request conflicts with the pipeline as it is (HTTP 409)."""


class SpecRejected(ConfigError):
    """The pipeline file is invalid (HTTP 422); `problems` lists each one."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


class Unauthorized(ConfigError):
    """The server wants a token and got none or a wrong one (HTTP 401)."""


class ServerUnavailable(TransientError):
    """No control server answers, and none could be started."""


class ServerFailed(TerminalError):
    """The server answered with an internal error (HTTP 5xx)."""
