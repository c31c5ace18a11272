"""The `chaintap` command: exit codes, one-line errors, and what each verb prints."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from chaintap.cli.main import cli
from chaintap.state.locks import pipeline_lock

VALID = """\
name: logs-to-files
job: true
sources:
  logs:
    type: dataset
    dataset_name: ethereum.raw_logs
    version: 1.0.0
    start_block: 16899757
    end_block: 16899757
transforms:
  transfers:
    type: sql
    primary_key: id
    sql: SELECT id, `address`, `data` FROM logs WHERE topics LIKE '0xddf252ad%'
sinks:
  out:
    type: file
    from: transfers
    path: {out}
    format: jsonl
"""


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CHAINTAP_HOME", str(tmp_path / "home"))
    for name in ("CHAINTAP_RPC_ETHEREUM", "CHAINTAP_SECRET_DEMO"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def _file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "pipe.yaml"
    path.write_text(text.replace("{out}", str(tmp_path / "out")))
    return str(path)


def test_validate_accepts_a_valid_file(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["validate", _file(tmp_path, VALID)])
    assert result.exit_code == 0, result.output
    assert "valid job 'logs-to-files'" in result.output
    assert "1 source(s), 1 transform(s), 1 sink(s)" in result.output


def test_validate_reports_every_problem_and_exits_2(
    runner: CliRunner, tmp_path: Path
) -> None:
    broken = VALID.replace("raw_logs", "transactions").replace("end_block", "end_blok")
    result = runner.invoke(cli, ["validate", _file(tmp_path, broken)])
    assert result.exit_code == 2
    assert "did you mean ethereum.raw_transactions?" in result.output
    assert "did you mean end_block?" in result.output
    assert "2 problem(s); nothing was run" in result.output


def test_validate_plans_sql_against_the_dataset_schema(
    runner: CliRunner, tmp_path: Path
) -> None:
    unknown_column = VALID.replace("`data` FROM", "no_such_column FROM")
    result = runner.invoke(cli, ["validate", _file(tmp_path, unknown_column)])
    assert result.exit_code == 2
    assert "transforms.transfers" in result.output
    assert "no_such_column" in result.output


def test_run_of_an_invalid_file_runs_nothing(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["run", _file(tmp_path, "name: Bad Name\n")])
    assert result.exit_code == 2
    assert "nothing was run" in result.output
    assert not (tmp_path / "out").exists()


def test_run_without_an_endpoint_names_the_variable_to_set(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(cli, ["run", _file(tmp_path, VALID)])
    assert result.exit_code == 2, result.output  # configuration: not worth a retry
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert "pipeline 'logs-to-files'" in lines[0]
    assert "CHAINTAP_RPC_ETHEREUM" in lines[0]


def test_datasets_lists_the_catalog(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["datasets", "--columns"])
    assert result.exit_code == 0
    for name in ("raw_logs", "erc20_transfers", "raw_transactions", "blocks"):
        assert f"<evm chain>.{name}" in result.output
    assert "solana.token_transfers" in result.output
    assert "amount                       u256" in result.output


def test_secrets_are_owner_only_and_listed_without_values(
    runner: CliRunner, tmp_path: Path
) -> None:
    value = "postgresql://u:hunter2@127.0.0.1/db"
    created = runner.invoke(cli, ["secret", "create", "DEMO", "--value", value])
    assert created.exit_code == 0
    store = tmp_path / "home" / "secrets.json"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600

    listed = runner.invoke(cli, ["secret", "list"])
    assert listed.output.split() == ["DEMO"]
    assert "hunter2" not in listed.output
    assert runner.invoke(cli, ["secret", "reveal", "DEMO"]).output.strip() == value

    again = runner.invoke(cli, ["secret", "create", "DEMO", "--value", "x"])
    assert again.exit_code == 4
    assert runner.invoke(cli, ["secret", "delete", "DEMO"]).exit_code == 0
    assert runner.invoke(cli, ["secret", "reveal", "DEMO"]).exit_code == 3


def test_validate_checks_filters_sink_keys_and_secrets(
    runner: CliRunner, tmp_path: Path
) -> None:
    text = VALID.replace(
        "    end_block: 16899757\n",
        "    end_block: 16899757\n    filter: blok = 3\n",
    ) + (
        "  db:\n"
        "    type: postgres\n"
        "    from: transfers\n"
        "    table: t\n"
        "    primary_key: nope\n"
        "    secret_name: DEMO\n"
    )
    result = runner.invoke(cli, ["validate", _file(tmp_path, text)])

    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert any("sources.logs.filter:" in x and "blok" in x for x in lines)
    assert any("sinks.db.primary_key: nope is not a column" in x for x in lines)
    assert any(
        "sinks.db.secret_name:" in x and "CHAINTAP_SECRET_DEMO" in x for x in lines
    )
    assert "3 problem(s); nothing was run" in result.output


def test_secret_names_are_case_insensitive_and_values_not_empty(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        runner.invoke(cli, ["secret", "create", "my_db", "--value", "x"]).exit_code == 0
    )
    assert runner.invoke(cli, ["secret", "reveal", "MY_DB"]).output.strip() == "x"
    assert runner.invoke(cli, ["secret", "list"]).output.split() == ["MY_DB"]

    empty = runner.invoke(cli, ["secret", "create", "OTHER", "--value", " "])
    assert empty.exit_code == 2
    assert "would be empty" in empty.output
    hyphen = runner.invoke(cli, ["secret", "create", "my-db", "--value", "y"])
    assert hyphen.exit_code == 4  # the same secret as MY_DB
    spaced = runner.invoke(cli, ["secret", "create", "my db", "--value", "x"])
    assert spaced.exit_code == 2
    assert "CHAINTAP_SECRET_<NAME>" in spaced.output


@pytest.mark.parametrize("verb", ["validate", "run"])
def test_a_missing_file_is_not_found(
    runner: CliRunner, tmp_path: Path, verb: str
) -> None:
    result = runner.invoke(cli, [verb, str(tmp_path / "nope.yaml")])
    assert result.exit_code == 3
    assert "no such pipeline file" in result.output


def test_run_checks_secrets_before_connecting(
    runner: CliRunner, tmp_path: Path
) -> None:
    text = VALID + (
        "  db:\n    type: postgres\n    from: transfers\n    table: t\n"
        "    primary_key: id\n    secret_name: NOT_SET_ANYWHERE\n"
    )
    result = runner.invoke(cli, ["run", _file(tmp_path, text)])
    assert result.exit_code == 2
    assert "CHAINTAP_SECRET_NOT_SET_ANYWHERE" in result.output


DEPLOYMENT = """\
name: live-logs
sources:
  logs:
    type: dataset
    dataset_name: ethereum.raw_logs
    start_block: 17000000
transforms:
  kept:
    type: sql
    primary_key: id
    sql: SELECT id, `address`, _gs_op FROM logs
sinks:
  db:
    type: postgres
    from: kept
    table: t
    secret_name: DEMO
"""


def test_validate_knows_deployments_carry_the_operation_column(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAINTAP_SECRET_DEMO", "postgresql://u:p@127.0.0.1/db")
    result = runner.invoke(cli, ["validate", _file(tmp_path, DEPLOYMENT)])
    assert result.exit_code == 2
    (problem,) = [x for x in result.output.splitlines() if "sinks.db:" in x]
    assert "retraction deletes by primary key" in problem

    keyed = DEPLOYMENT.replace("    table: t\n", "    table: t\n    primary_key: id\n")
    result = runner.invoke(cli, ["validate", _file(tmp_path, keyed)])
    assert result.exit_code == 0, result.output


def test_a_second_run_of_a_running_pipeline_is_a_conflict(
    runner: CliRunner, tmp_path: Path
) -> None:
    with pipeline_lock("logs-to-files", tmp_path / "home"):
        result = runner.invoke(cli, ["run", _file(tmp_path, VALID)])
    assert result.exit_code == 4
    assert "'logs-to-files' is already running" in result.output
    assert not (tmp_path / "out").exists()


def test_a_broken_state_directory_is_one_clear_line(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "state.db").write_bytes(b"this is not a database" * 100)
    result = runner.invoke(cli, ["run", _file(tmp_path, VALID)])
    assert result.exit_code == 2
    assert "checkpoint database" in result.output and "move it away" in result.output
    assert "Traceback" not in result.output

    monkeypatch.setenv("CHAINTAP_HOME", str(tmp_path / "pipe.yaml"))
    result = runner.invoke(cli, ["run", _file(tmp_path, VALID)])
    assert result.exit_code == 2
    assert "point CHAINTAP_HOME at a directory" in result.output


def test_two_file_sinks_into_one_directory_are_a_problem(
    runner: CliRunner, tmp_path: Path
) -> None:
    text = VALID + ("  again:\n    type: file\n    from: transfers\n    path: {out}/\n")
    result = runner.invoke(cli, ["validate", _file(tmp_path, text)])
    assert result.exit_code == 2
    assert "sinks.again.path: sink 'out' writes to the same directory" in result.output


def test_a_connection_url_as_secret_name_is_refused_without_echoing_it(
    runner: CliRunner, tmp_path: Path
) -> None:
    url = "postgresql://app:hunter2@127.0.0.1:5432/db"
    text = VALID + (
        "  db:\n    type: postgres\n    from: transfers\n    table: t\n"
        f"    primary_key: id\n    secret_name: {url}\n"
    )
    result = runner.invoke(cli, ["validate", _file(tmp_path, text)])
    assert result.exit_code == 2
    assert "sinks.db.secret_name: is not a secret name" in result.output
    assert "hunter2" not in result.output
