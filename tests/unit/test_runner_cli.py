"""The `offload runner` command line: official flags, global options before or after."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from offload.cli.runner import runner_app
from offload.runner.view import format_duration


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    return CliRunner()


def test_config_path_follows_the_id_before_or_after_the_command(
    cli: CliRunner, tmp_path: Path
) -> None:
    """`--id` works in either position, as with commander.js."""
    before = cli.invoke(runner_app, ["--id", "gpu", "get-config-file-path"])
    after = cli.invoke(runner_app, ["get-config-file-path", "--id", "gpu"])

    expected = f"{tmp_path / 'config' / 'offload-runner' / 'gpu' / 'config.toml'}\n"
    assert (expected, expected) == (before.stdout, after.stdout)


def test_config_dir_points_at_an_existing_folder(cli: CliRunner, tmp_path: Path) -> None:
    """`--config-dir` reuses e.g. a peertube-runner-nodejs/<id> folder as is."""
    result = cli.invoke(
        runner_app, ["--config-dir", str(tmp_path / "node"), "get-config-file-path"]
    )

    assert f"{tmp_path / 'node' / 'config.toml'}\n" == result.stdout


def test_unknown_job_type_is_refused(cli: CliRunner) -> None:
    """`server --enable-job nonsense` exits 1 naming the known types."""
    result = cli.invoke(runner_app, ["server", "--enable-job", "nonsense"])

    assert (1, True) == (result.exit_code, "unknown job type 'nonsense'" in result.output)


def test_known_but_unsupported_job_type_is_refused(cli: CliRunner) -> None:
    """Live transcoding is a PeerTube type this runner does not do yet: refused, not ignored."""
    result = cli.invoke(runner_app, ["server", "--enable-job", "live-rtmp-hls-transcoding"])

    assert (1, True) == (result.exit_code, "not supported by this runner" in result.output)


def test_list_jobs_without_a_daemon_says_to_start_one(cli: CliRunner) -> None:
    """Commands that need the daemon explain how to start it."""
    result = cli.invoke(runner_app, ["list-jobs"])

    assert (1, True) == (result.exit_code, "offload runner server" in result.output)


def test_list_registered_works_without_a_daemon(cli: CliRunner) -> None:
    """list-registered falls back to reading config.toml."""
    result = cli.invoke(runner_app, ["list-registered"])

    assert (0, True) == (result.exit_code, "Runner name" in result.output)


@pytest.mark.parametrize(
    ("seconds", "expected"), [(None, "–"), (0.4, "0:00"), (95, "1:35"), (3725, "1:02:05")]
)
def test_durations_in_the_live_table(seconds: float | None, expected: str) -> None:
    """ETA and elapsed read m:ss, or h:mm:ss past an hour."""
    assert expected == format_duration(seconds)
