"""The HTTP API itself: token, OpenAPI document, error shapes, refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chaintap.control.server import serve
from chaintap.control.supervisor import SupervisorSettings
from chaintap.errors import ConfigError
from control.helpers import ControlPlane

TOKEN = "test-token-7f3a9c"

# What the API offers, written out by hand from the task's list of operations.
EXPECTED_OPERATIONS = {
    ("get", "/healthz"),
    ("get", "/openapi.json"),
    ("get", "/v1/pipelines"),
    ("post", "/v1/pipelines"),
    ("get", "/v1/pipelines/{name}"),
    ("delete", "/v1/pipelines/{name}"),
    ("post", "/v1/pipelines/{name}/pause"),
    ("post", "/v1/pipelines/{name}/resume"),
    ("post", "/v1/pipelines/{name}/restart"),
    ("get", "/v1/pipelines/{name}/logs"),
    ("get", "/v1/pipelines/{name}/inspect"),
    ("get", "/metrics"),
}


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[ControlPlane]:
    """A server on 127.0.0.1 started with a token (no pipelines needed)."""
    home, workdir = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    workdir.mkdir()
    plane = ControlPlane(home, workdir, {})
    try:
        plane.start("--token", TOKEN)
        yield plane
    finally:
        plane.stop()


def test_token_openapi_and_error_shapes(guarded: ControlPlane) -> None:
    base = f"http://127.0.0.1:{guarded.port}"
    with httpx.Client(base_url=base, timeout=10) as anonymous:
        refused = anonymous.get("/v1/pipelines")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"

    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base, headers=auth, timeout=10) as client:
        document = client.get("/openapi.json").json()
        assert document["openapi"].startswith("3.")
        offered = {
            (method, path)
            for path, item in document["paths"].items()
            for method in item
        }
        assert offered == EXPECTED_OPERATIONS
        # Every documented path is routed: a missing pipeline is a 404 that names
        # the pipeline, not an unknown route.
        for method, path in EXPECTED_OPERATIONS:
            if "{name}" in path:
                answer = client.request(method, path.replace("{name}", "nope"))
                assert answer.status_code == 404, (method, path)
                assert "no pipeline named 'nope'" in answer.json()["error"]["message"]

        # A name no pipeline can have says so instead of "no route".
        odd = client.get("/v1/pipelines/DEP1")
        assert odd.status_code == 404
        assert "pipeline names are lowercase" in odd.json()["error"]["message"]

        invalid = client.post(
            "/v1/pipelines", json={"spec": "name: x\nsources: {}\n", "workdir": "/"}
        )
        assert invalid.status_code == 422
        error = invalid.json()["error"]
        assert error["code"] == "invalid" and error["problems"]

    without = guarded.cli("list")
    assert without.code == 2 and "needs a token" in without.stderr
    guarded.env["CHAINTAP_SERVER_TOKEN"] = TOKEN
    listed = guarded.cli("list", "-o", "json")
    assert listed.code == 0 and json.loads(listed.stdout) == []
    # The token is a secret: the server's own log never shows it.
    assert TOKEN not in guarded.server_log()


def test_non_loopback_address_needs_a_token(tmp_path: Path) -> None:
    """Refused before anything binds, so no traffic leaves the machine."""
    with pytest.raises(ConfigError, match="without a token"):
        serve(tmp_path, "0.0.0.0", 0, None, SupervisorSettings())
    assert not (tmp_path / "control.db").exists()


def test_apply_rejects_an_invalid_file_locally(tmp_path: Path) -> None:
    """Validation comes first: no server is contacted (none runs here)."""
    from click.testing import CliRunner

    from chaintap.cli.main import cli

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Bad_Name\nsources: {}\nsinks: {}\n")
    env = {"CHAINTAP_HOME": str(tmp_path / "home"), "CHAINTAP_SERVER_PORT": "1"}
    result = CliRunner().invoke(cli, ["apply", str(bad)], env=env)
    assert result.exit_code == 2
    assert "nothing was applied" in result.stderr
    assert not (tmp_path / "home" / "server.log").exists()
