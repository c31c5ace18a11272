"""The control plane's small parts, without processes: logs, masking, durations."""

from __future__ import annotations

import calendar
import time
from pathlib import Path

import click
import pytest

from chaintap.cli.pipeline_logs import parse_duration
from chaintap.control import logfile
from chaintap.control.logfile import LogFollower, LogWriter, read_entries
from chaintap.control.redact import MASK, Redactor
from chaintap.control.worker import next_run
from chaintap.state.secrets import SecretStore


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("90s", 90),
        ("5m", 300),
        ("1h30m", 5400),
        ("2d", 172800),
        ("500ms", 0.5),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "m5", "1h 30m", "-5m"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(click.BadParameter, match="not a duration"):
        parse_duration(text)


def test_log_tail_since_and_torn_lines(tmp_path: Path) -> None:
    # Entries written by hand with known times, plus a torn last line.
    lines = [
        "2024-05-01T10:00:00.000Z out first",
        "2024-05-01T10:00:30.250Z err second",
        "2024-05-01T10:01:00.000Z ctl third one",
    ]
    (tmp_path / "pipeline.log").write_text("\n".join(lines) + "\n2024-05-01T10:0")
    at_30 = calendar.timegm((2024, 5, 1, 10, 0, 30, 0, 0, 0))

    everything, _, offset = read_entries(tmp_path)
    assert [e.text for e in everything] == ["first", "second", "third one"]
    assert offset == (tmp_path / "pipeline.log").stat().st_size
    assert [e.text for e in read_entries(tmp_path, tail=2)[0]] == [
        "second",
        "third one",
    ]
    since = read_entries(tmp_path, since=at_30)[0]
    assert [(e.stream, e.text) for e in since] == [
        ("err", "second"),
        ("ctl", "third one"),
    ]
    assert since[0].at == at_30 + 0.25


def test_follower_sees_every_line_across_a_rotation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logfile, "CONTROL_LOG_ROTATE_BYTES", 400)
    writer = LogWriter(tmp_path)
    writer.write("out", "before")
    _, inode, offset = read_entries(tmp_path)
    follower = LogFollower(tmp_path, inode, offset)

    written = [f"line {i:02d} " + "x" * 40 for i in range(12)]
    seen: list[str] = []
    for i, text in enumerate(written):
        writer.write("out", text)
        if i % 5 == 4:
            seen += [e.text for e in follower.poll()]
    seen += [e.text for e in follower.poll()]
    writer.close()

    assert (tmp_path / logfile.ROTATED_NAME).exists()  # it did rotate
    assert seen == written


def test_redactor_masks_stored_and_environment_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    SecretStore(tmp_path).put("DB", "postgresql://u:hunter22@db/x")
    monkeypatch.setenv("CHAINTAP_SECRET_KEY", "hunter22")
    monkeypatch.setenv("CHAINTAP_SECRET_TINY", "ab")
    redactor = Redactor.load(tmp_path)

    text = "connect postgresql://u:hunter22@db/x failed; key hunter22; ab ok"
    assert redactor.scrub(text) == f"connect {MASK} failed; key {MASK}; ab ok"


def test_schedules_use_cron_fields_with_optional_seconds() -> None:
    now = time.time()
    every_five_minutes = next_run("*/5 * * * *", now)
    assert 0 < every_five_minutes - now <= 300
    assert round(every_five_minutes) % 300 == 0
    every_two_seconds = next_run("* * * * * */2", now)
    assert 0 < every_two_seconds - now <= 2 and round(every_two_seconds) % 2 == 0
