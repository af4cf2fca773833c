"""The runner's config.toml: official keys and defaults, tomlkit round trips, XDG paths."""

from __future__ import annotations

import logging
import os
import stat
import threading
import tomllib
from pathlib import Path

import pytest

from offload.runner.config import RegisteredInstance, RunnerConfig, default_document, runner_paths

USER_FILE = """# runner on the basement box
registeredInstances = []

[jobs]
concurrency = 3 # the box has 8 cores
typeConcurrency = { "vod-hls-transcoding" = 1 }
someFutureKey = "kept"

[ffmpeg]
threads = 0
nice = 10
path = "/opt/ffmpeg/bin/ffmpeg"

[transcription]
engine = "openai-whisper"
model = "small"

[custom]
hello = "world"
"""


def _write(tmp_path: Path, text: str = USER_FILE) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


class TestDefaults:
    def test_fresh_document_has_the_official_keys(self) -> None:
        """registeredInstances, [jobs] concurrency 2, [ffmpeg] threads 2 nice 20, [transcription]."""
        expected = {
            "registeredInstances": [],
            "jobs": {"concurrency": 2},
            "ffmpeg": {"threads": 2, "nice": 20},
            "transcription": {"engine": "whisper-ctranslate2", "model": "small"},
        }

        assert expected == tomllib.loads(default_document().as_string())

    def test_missing_file_reads_as_defaults(self, tmp_path: Path) -> None:
        """No file: defaults, nothing written."""
        config = RunnerConfig.load(tmp_path / "config.toml")

        assert (2, 2, 20, None, [], False) == (
            config.concurrency,
            config.ffmpeg_threads,
            config.ffmpeg_nice,
            config.ffmpeg_path,
            config.registered_instances,
            (tmp_path / "config.toml").exists(),
        )


class TestReads:
    def test_max_resolution_is_off_unless_set(self, tmp_path: Path) -> None:
        assert None is RunnerConfig.load(tmp_path / "config.toml").max_resolution
        assert (
            720
            == RunnerConfig.load(_write(tmp_path, "[jobs]\nmaxResolution = 720\n")).max_resolution
        )

    def test_user_values_and_our_extensions(self, tmp_path: Path) -> None:
        """concurrency, threads, nice, [ffmpeg] path and per-type limits are read."""
        config = RunnerConfig.load(_write(tmp_path))

        assert (3, 0, 10, "/opt/ffmpeg/bin/ffmpeg", {"vod-hls-transcoding": 1}) == (
            config.concurrency,
            config.ffmpeg_threads,
            config.ffmpeg_nice,
            config.ffmpeg_path,
            config.type_concurrency,
        )

    def test_official_registration_tables(self, tmp_path: Path) -> None:
        """[[registeredInstances]] as the Node runner writes them, same URL twice allowed."""
        text = (
            '[[registeredInstances]]\nurl = "https://a.example"\nrunnerToken = "ptrt-1"\nrunnerName = "one"\n'
            '[[registeredInstances]]\nurl = "https://a.example"\nrunnerToken = "ptrt-2"\nrunnerName = "two"\nrunnerDescription = "gpu"\n'
        )

        config = RunnerConfig.load(_write(tmp_path, text))

        assert [
            RegisteredInstance("https://a.example", "ptrt-1", "one"),
            RegisteredInstance("https://a.example", "ptrt-2", "two", "gpu"),
        ] == config.registered_instances


class TestRoundTrip:
    def test_adding_a_registration_keeps_comments_and_unknown_keys(self, tmp_path: Path) -> None:
        """Everything the user wrote is still there, byte for byte, after a rewrite."""
        path = _write(tmp_path)
        config = RunnerConfig.load(path)

        config.add_instance(
            RegisteredInstance("https://v.example", "ptrt-9", "basement", "8 cores")
        )
        config.save()

        text = path.read_text()
        for line in USER_FILE.splitlines():
            if line and not line.startswith("registeredInstances"):
                assert line in text
        assert [
            RegisteredInstance("https://v.example", "ptrt-9", "basement", "8 cores")
        ] == RunnerConfig.load(path).registered_instances

    def test_removing_one_registration_keeps_the_other(self, tmp_path: Path) -> None:
        """Unregistering drops exactly the (url, name) entry."""
        path = _write(tmp_path)
        config = RunnerConfig.load(path)
        config.add_instance(RegisteredInstance("https://v.example", "ptrt-1", "one"))
        config.add_instance(RegisteredInstance("https://v.example", "ptrt-2", "two"))
        config.save()

        config = RunnerConfig.load(path)
        removed = config.remove_instance("https://v.example/", "one")
        config.save()

        assert (True, ["two"]) == (
            removed,
            [r.runner_name for r in RunnerConfig.load(path).registered_instances],
        )
        assert "# the box has 8 cores" in path.read_text()

    def test_removing_the_last_registration_leaves_an_empty_array(self, tmp_path: Path) -> None:
        """The file stays loadable by the Node runner: `registeredInstances = []`."""
        path = _write(tmp_path)
        config = RunnerConfig.load(path)
        config.add_instance(RegisteredInstance("https://v.example", "ptrt-1", "one"))
        config.save()

        config = RunnerConfig.load(path)
        config.remove_instance("https://v.example", "one")
        config.save()

        assert [] == tomllib.loads(path.read_text())["registeredInstances"]

    def test_fresh_file_round_trips(self, tmp_path: Path) -> None:
        """Saving defaults then a registration gives valid TOML with both."""
        path = tmp_path / "sub" / "config.toml"
        config = RunnerConfig.load(path)
        config.add_instance(RegisteredInstance("http://127.0.0.1:9000", "ptrt-1", "r"))
        config.save()

        parsed = tomllib.loads(path.read_text())
        assert (
            2,
            [{"url": "http://127.0.0.1:9000", "runnerToken": "ptrt-1", "runnerName": "r"}],
        ) == (parsed["jobs"]["concurrency"], parsed["registeredInstances"])


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class TestFileModes:
    """config.toml holds runner tokens: only its owner may read it."""

    def test_a_saved_file_and_its_new_directory_are_owner_only(self, tmp_path: Path) -> None:
        """A first save makes the directory 0700 and the file 0600, whatever the umask allows."""
        path = tmp_path / "offload-runner" / "default" / "config.toml"
        config = RunnerConfig.load(path)
        config.add_instance(RegisteredInstance("http://127.0.0.1:9000", "ptrt-1", "r"))

        config.save()

        assert (0o700, 0o600) == (_mode(path.parent), _mode(path))
        assert ["config.toml"] == os.listdir(path.parent)

    def test_saving_over_a_readable_file_makes_it_owner_only(self, tmp_path: Path) -> None:
        """An existing 0644 config is 0600 after the next save, with its content kept."""
        path = _write(tmp_path)
        path.chmod(0o644)
        config = RunnerConfig.load(path)
        config.add_instance(RegisteredInstance("https://v.example", "ptrt-9", "basement"))

        config.save()

        assert 0o600 == _mode(path)
        assert "# the box has 8 cores" in path.read_text()

    def test_no_readable_copy_appears_while_saving(self, tmp_path: Path) -> None:
        """While saves run, no file in the directory is ever readable by group or others."""
        path = tmp_path / "runner" / "config.toml"
        config = RunnerConfig.load(path)
        config.add_instance(RegisteredInstance("https://v.example", "ptrt-secret", "r"))
        config.save()
        done = threading.Event()

        def save_many() -> None:
            try:
                for _ in range(300):
                    config.save()
            finally:
                done.set()

        saver = threading.Thread(target=save_many)
        saver.start()
        seen: set[int] = set()
        while not done.is_set():
            for entry in os.scandir(path.parent):
                try:
                    seen.add(stat.S_IMODE(entry.stat(follow_symlinks=False).st_mode))
                except FileNotFoundError:
                    continue  # a temp file renamed between listing and stat
        saver.join()

        assert {0o600} == seen

    def test_loading_a_readable_file_warns(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A config readable by others is still read, with a warning saying how to fix it."""
        path = _write(tmp_path)
        path.chmod(0o644)

        with caplog.at_level(logging.WARNING, logger="offload.runner.config"):
            config = RunnerConfig.load(path)

        assert 3 == config.concurrency
        warnings = [r.getMessage() for r in caplog.records if r.name == "offload.runner.config"]
        assert 1 == len(warnings)
        assert str(path) in warnings[0] and "chmod 600" in warnings[0]

    def test_loading_an_owner_only_file_is_quiet(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A 0600 config loads without a word."""
        path = _write(tmp_path)
        path.chmod(0o600)

        with caplog.at_level(logging.WARNING, logger="offload.runner.config"):
            RunnerConfig.load(path)

        assert [] == [r for r in caplog.records if r.name == "offload.runner.config"]


class TestPaths:
    def test_xdg_locations_per_id(self) -> None:
        """config, state (socket, lock) and cache live under XDG dirs, one folder per id."""
        env = {"HOME": "/home/u", "XDG_CONFIG_HOME": "/cfg", "XDG_CACHE_HOME": "/cache"}

        paths = runner_paths("gpu", environ=env)

        assert (
            Path("/cfg/offload-runner/gpu/config.toml"),
            Path("/home/u/.local/share/offload-runner/gpu"),
            Path("/cache/offload-runner/gpu"),
        ) == (
            paths.config_file,
            paths.state_dir,
            paths.cache_dir,
        )

    def test_config_dir_reuses_an_existing_node_runner_folder(self) -> None:
        """--config-dir points at the folder holding config.toml."""
        paths = runner_paths(
            "default",
            Path("/home/u/.config/peertube-runner-nodejs/default"),
            environ={"HOME": "/home/u"},
        )

        assert (
            Path("/home/u/.config/peertube-runner-nodejs/default/config.toml") == paths.config_file
        )

    def test_overlong_socket_paths_get_a_short_stable_alias(self) -> None:
        """sun_path is ~108 bytes: deep state dirs use a hashed name in the temp dir."""
        deep = runner_paths("default", environ={"HOME": "/h", "XDG_DATA_HOME": "/" + "d" * 120})

        assert (deep.socket, True) == (
            runner_paths(
                "default", environ={"HOME": "/h", "XDG_DATA_HOME": "/" + "d" * 120}
            ).socket,
            len(str(deep.socket)) < 100,
        )


def test_transcription_keys_are_read_as_peertube_writes_them(tmp_path: Path) -> None:
    """`[transcription] engine`, `enginePath`, `model`, `modelPath` (a `~` is expanded); absent
    paths are None and the model is PeerTube's default, "small"."""
    path = _write(
        tmp_path,
        '[transcription]\nengine = "whisper-ctranslate2"\nenginePath = "/usr/bin/wc2"\n'
        'model = "tiny.en"\nmodelPath = "~/models/tiny"\n',
    )
    config = RunnerConfig.load(path)
    defaults = RunnerConfig.load(tmp_path / "missing.toml")

    assert (
        "whisper-ctranslate2",
        "/usr/bin/wc2",
        "tiny.en",
        Path("~/models/tiny").expanduser(),
    ) == (
        config.transcription_engine,
        config.transcription_engine_path,
        config.transcription_model,
        config.transcription_model_path,
    )
    assert ("whisper-ctranslate2", None, "small", None) == (
        defaults.transcription_engine,
        defaults.transcription_engine_path,
        defaults.transcription_model,
        defaults.transcription_model_path,
    )
