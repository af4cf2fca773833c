"""Instance settings: defaults, `OFFLOAD_*` variables, a TOML file, and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from offload.settings import InstanceSettings, load_settings


class TestDefaults:
    def test_protocol_defaults(self) -> None:
        """Defaults follow PeerTube: stale 2 min / 30 s, 50 requests per 10 s, 30 s contact."""
        s = InstanceSettings()

        assert (120.0, 30.0) == (s.stalled_vod_s, s.stalled_live_s)
        assert (50, 10.0) == (s.rate_limit_max, s.rate_limit_window_s)
        assert 30.0 == s.last_contact_interval_s
        assert 30.0 == s.success_wait_s
        assert 1.0 == s.socket_debounce_s
        assert 6 * 3600.0 == s.stalled_completing_s

    def test_listen_and_public_url(self) -> None:
        """The default listen address is 127.0.0.1:9000 and the public URL is derived from it."""
        s = InstanceSettings()

        assert "127.0.0.1:9000" == s.listen
        assert ("127.0.0.1", 9000) == (s.host, s.port)
        assert "http://127.0.0.1:9000" == s.public_url

    def test_wildcard_host_is_shown_as_loopback(self) -> None:
        """Listening on 0.0.0.0 publishes 127.0.0.1 unless a public URL is given."""
        assert "http://127.0.0.1:8080" == InstanceSettings(listen="0.0.0.0:8080").public_url

    def test_public_url_loses_trailing_slash(self) -> None:
        """A configured public URL is kept without its trailing slash."""
        assert (
            "https://videos.example"
            == InstanceSettings(public_url="https://videos.example/").public_url
        )

    def test_database_defaults_to_sqlite_in_data_dir(self, tmp_path: Path) -> None:
        """Without a database URL the instance uses `offload.db` inside its data dir."""
        s = InstanceSettings(data_dir=tmp_path)

        assert f"sqlite+aiosqlite:///{(tmp_path / 'offload.db').resolve()}" == s.database_url
        assert s.is_sqlite

    def test_watchdog_interval_is_smallest_threshold_capped_at_30(self) -> None:
        """The watchdog runs every min(30 s, thresholds) unless set."""
        assert 30.0 == InstanceSettings().effective_watchdog_interval_s
        assert 5.0 == InstanceSettings(stalled_vod_s=5.0).effective_watchdog_interval_s
        assert 7.0 == InstanceSettings(watchdog_interval_s=7.0).effective_watchdog_interval_s

    def test_admin_password_is_secret(self) -> None:
        """The admin password never shows in the settings' repr."""
        s = InstanceSettings(admin_password="hunter2-hunter2")

        assert "hunter2-hunter2" not in repr(s)
        assert s.admin_password is not None
        assert "hunter2-hunter2" == s.admin_password.get_secret_value()


class TestEnvironment:
    def test_env_variable_overrides_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """`OFFLOAD_<FIELD>` sets a field."""
        monkeypatch.setenv("OFFLOAD_RATE_LIMIT_MAX", "7")
        monkeypatch.setenv("OFFLOAD_LISTEN", "127.0.0.1:9123")

        s = InstanceSettings()

        assert 7 == s.rate_limit_max
        assert 9123 == s.port

    def test_keyword_beats_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Keyword arguments (CLI flags) win over the environment."""
        monkeypatch.setenv("OFFLOAD_RATE_LIMIT_MAX", "7")

        assert 9 == load_settings(rate_limit_max=9).rate_limit_max

    def test_none_overrides_are_ignored(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An unset CLI flag (None) does not hide the environment value."""
        monkeypatch.setenv("OFFLOAD_RATE_LIMIT_MAX", "7")

        assert 7 == load_settings(rate_limit_max=None).rate_limit_max

    def test_bad_env_value_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A value that does not parse is refused at start."""
        monkeypatch.setenv("OFFLOAD_RATE_LIMIT_MAX", "many")

        with pytest.raises(ValidationError):
            InstanceSettings()


class TestTomlFile:
    def test_values_are_read_from_the_file(self, tmp_path: Path) -> None:
        """`load_settings(path)` reads fields from a TOML file and remembers the path."""
        config = tmp_path / "offload.toml"
        config.write_text('listen = "127.0.0.1:9200"\nstalled_vod_s = 12.5\nremote_live = false\n')

        s = load_settings(config)

        assert (9200, 12.5, False) == (s.port, s.stalled_vod_s, s.remote_live)
        assert config == s.config_file

    def test_env_beats_file(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Environment variables win over the TOML file."""
        config = tmp_path / "offload.toml"
        config.write_text("rate_limit_max = 3\n")
        monkeypatch.setenv("OFFLOAD_RATE_LIMIT_MAX", "4")

        assert 4 == load_settings(config).rate_limit_max

    def test_override_beats_file(self, tmp_path: Path) -> None:
        """Keyword overrides win over the TOML file."""
        config = tmp_path / "offload.toml"
        config.write_text("rate_limit_max = 3\n")

        assert 5 == load_settings(config, rate_limit_max=5).rate_limit_max

    def test_file_is_not_sticky(self, tmp_path: Path) -> None:
        """A later construction without a file does not see the previous file's values."""
        config = tmp_path / "offload.toml"
        config.write_text("rate_limit_max = 3\n")
        load_settings(config)

        assert 50 == load_settings().rate_limit_max

    def test_missing_file_is_refused(self, tmp_path: Path) -> None:
        """A config path that does not exist is an error, not silently ignored."""
        with pytest.raises(FileNotFoundError):
            load_settings(tmp_path / "nope.toml")

    def test_unknown_key_is_refused(self, tmp_path: Path) -> None:
        """A misspelt key in the file is refused rather than ignored."""
        config = tmp_path / "offload.toml"
        config.write_text("rate_limt_max = 3\n")

        with pytest.raises(ValidationError):
            load_settings(config)


class TestListen:
    @pytest.mark.parametrize(
        "listen",
        [
            "9000",
            "localhost",
            ":9000",
            "127.0.0.1:",
            "127.0.0.1:http",
            "127.0.0.1:-1",
            "127.0.0.1:65536",
            "127.0.0.1:99999999",
        ],
    )
    def test_bad_listen_is_refused(self, listen: str) -> None:
        """`listen` must be host:port with a numeric port a socket can have."""
        with pytest.raises(ValidationError):
            InstanceSettings(listen=listen)

    def test_bad_listen_from_env_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A malformed `OFFLOAD_LISTEN` is refused too."""
        monkeypatch.setenv("OFFLOAD_LISTEN", "nowhere")

        with pytest.raises(ValidationError):
            InstanceSettings()

    def test_ipv6_listen_is_accepted(self) -> None:
        """The port is taken after the last colon, so an IPv6 host works."""
        assert ("::1", 9000) == (
            InstanceSettings(listen="::1:9000").host,
            InstanceSettings(listen="::1:9000").port,
        )


def test_trusted_proxies_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Comma-separated, PeerTube's `loopback` expanded, empty for none."""
    monkeypatch.setenv("OFFLOAD_TRUSTED_PROXIES", "loopback, 10.0.0.0/8,192.0.2.1")
    assert ["127.0.0.0/8", "::1", "10.0.0.0/8", "192.0.2.1"] == InstanceSettings().trusted_proxies
    monkeypatch.setenv("OFFLOAD_TRUSTED_PROXIES", "")
    assert [] == InstanceSettings().trusted_proxies


def test_a_trusted_proxy_that_is_no_address_is_refused() -> None:
    with pytest.raises(ValueError, match="'nginx' is not an IP address"):
        InstanceSettings(trusted_proxies=["nginx"])


def test_process_timeout_outlasts_three_watchdog_passes() -> None:
    """A process is presumed dead after 3 missed heartbeats, never sooner than 90 s."""
    assert 90.0 == InstanceSettings().effective_process_timeout_s
    assert 180.0 == InstanceSettings(watchdog_interval_s=60.0).effective_process_timeout_s
    assert 5.0 == InstanceSettings(process_timeout_s=5.0).effective_process_timeout_s
