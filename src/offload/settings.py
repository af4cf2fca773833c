"""Instance settings: built once at start-up from a TOML file and `OFFLOAD_*` variables."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = ["InstanceSettings", "load_settings"]


class InstanceSettings(BaseSettings):
    """Everything an instance process needs to know, validated once.

    Sources, strongest first: keyword arguments (CLI flags, tests), `OFFLOAD_*` environment
    variables, the TOML file given with `--config`, the defaults below.
    """

    model_config = SettingsConfigDict(env_prefix="OFFLOAD_", extra="forbid")

    data_dir: Path = Path("./offload-data")
    #: SQLAlchemy URL; default: a SQLite file in the data dir. `postgresql+asyncpg://…` scales out.
    database_url: str | None = None
    #: `host:port` to listen on.
    listen: str = "127.0.0.1:9000"
    #: Base URL runners and browsers use to reach this instance; default: from `listen`.
    public_url: str | None = None
    #: Password of the `root` admin; generated and printed once at first start when unset.
    admin_password: SecretStr | None = None
    #: Bearer token Prometheus sends to scrape `/metrics`; without it only admins may read them.
    metrics_token: SecretStr | None = None

    #: Per-task remote-runner switches: initial values, editable later through the config API.
    remote_vod: bool = True
    remote_studio: bool = True
    remote_live: bool = True
    remote_transcription: bool = True
    remote_storyboard: bool = True

    #: VOD transcoding (PeerTube's `transcoding.*`): initial values, editable through the
    #: custom config API; changes apply to videos uploaded afterwards.
    transcoding_enabled: bool = True
    #: Enabled resolutions among 0 (audio only), 144, 240, 360, 480, 720, 1080, 1440, 2160.
    transcoding_resolutions: list[int] = Field(default_factory=lambda: [144, 240, 360, 480, 720, 1080, 1440, 2160])
    transcoding_web_videos: bool = True
    transcoding_hls: bool = True
    transcoding_split_audio: bool = False
    transcoding_fps_max: int = 60
    transcoding_always_transcode_original: bool = False
    #: VOD jobs the instance runs itself at once when remote VOD runners are off.
    local_transcoding_concurrency: int = 1
    #: ffmpeg for local processing; default: `FFMPEG_PATH`, then the imageio-ffmpeg build.
    ffmpeg_path: str | None = None

    #: A PROCESSING job not updated for this long goes back to PENDING (PeerTube defaults).
    stalled_vod_s: float = 120.0
    stalled_live_s: float = 30.0
    stalled_studio_s: float = 120.0
    stalled_transcription_s: float = 120.0
    stalled_storyboard_s: float = 120.0
    #: A COMPLETING job older than this lost its completion (instance crash) and is retried.
    stalled_completing_s: float = 6 * 3600.0
    #: How often the watchdog looks; default: the smallest threshold above, at most 30 s.
    watchdog_interval_s: float | None = None
    #: An instance process that has not sent a heartbeat (one per watchdog pass) for this long
    #: is presumed dead and its completions are redone; default: 3 passes, at least 90 s.
    process_timeout_s: float | None = None
    #: PostgreSQL: each process holds a session advisory lock on a connection of its own, which
    #: the server drops the moment the process dies; a free lock then proves it dead, and its
    #: completions are redone at once instead of after `process_timeout_s`. A process believes
    #: free locks only once its own lock connection has been up this long (seconds), the time
    #: the others need to take theirs again after a database restart.
    process_lock_grace_s: float = 10.0
    #: SQLite: how long a write waits for a lock another process holds (the admin CLI, a
    #: backup) before it fails with 503.
    sqlite_busy_timeout_s: float = 30.0

    #: Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or networks;
    #: "*" for any). As PeerTube's `trust_proxy: ['loopback']`: a reverse proxy on the same
    #: host passes the client's address, so runner IPs and the per-IP rate limit are right.
    #: OFFLOAD_TRUSTED_PROXIES is comma-separated; an empty value trusts no proxy.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["127.0.0.1", "::1"])

    #: Offload's `POST /api/v1/runners/jobs/claim` (atomic request + accept). Off, the runner
    #: API is exactly PeerTube's and runners fall back to request + accept.
    runner_claim_enabled: bool = True

    #: PeerTube's API rate limit per IP; registered runners and admins pass anyway.
    rate_limit_max: int = 50
    rate_limit_window_s: float = 10.0

    #: A runner's `lastContact`/`ip` are written at most this often.
    last_contact_interval_s: float = 30.0
    #: `success` answers after the completion or after this long, whichever is first.
    success_wait_s: float = 30.0
    #: `available-jobs` pings are trailing-debounced by this much.
    socket_debounce_s: float = 1.0
    #: OAuth access token lifetime (PeerTube: 1 day) and refresh token lifetime (2 weeks).
    access_token_ttl_s: float = 24 * 3600.0
    refresh_token_ttl_s: float = 14 * 24 * 3600.0
    log_level: str = "info"

    #: Not a setting users write: the TOML file this object was read from, if any.
    config_file: Path | None = Field(default=None, exclude=True)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        """Expand PeerTube's `loopback` and refuse what is not an address or network (uvicorn
        would silently treat a typo as a host name that never matches)."""
        proxies: list[str] = []
        for entry in value:
            if entry == "loopback":
                proxies += ["127.0.0.0/8", "::1"]
                continue
            if entry != "*":
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(f"trusted_proxies: {entry!r} is not an IP address, a network or *") from None
            proxies.append(entry)
        return proxies

    @model_validator(mode="after")
    def _fill_derived(self) -> InstanceSettings:
        host, _, port = self.listen.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"listen must be host:port, got {self.listen!r}")
        if self.database_url is None:
            self.database_url = f"sqlite+aiosqlite:///{(self.data_dir / 'offload.db').resolve()}"
        if self.public_url is None:
            shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
            self.public_url = f"http://{shown_host}:{port}"
        self.public_url = self.public_url.rstrip("/")
        return self

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0]

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def is_sqlite(self) -> bool:
        return str(self.database_url).startswith("sqlite")

    @property
    def stalled_thresholds_s(self) -> dict[str, float]:
        return {
            "vod": self.stalled_vod_s,
            "live": self.stalled_live_s,
            "studio": self.stalled_studio_s,
            "transcription": self.stalled_transcription_s,
            "storyboard": self.stalled_storyboard_s,
        }

    @property
    def effective_watchdog_interval_s(self) -> float:
        if self.watchdog_interval_s is not None:
            return self.watchdog_interval_s
        return min(30.0, *self.stalled_thresholds_s.values())

    @property
    def effective_process_timeout_s(self) -> float:
        if self.process_timeout_s is not None:
            return self.process_timeout_s
        return max(90.0, 3 * self.effective_watchdog_interval_s)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = _TOML_FILE.get("path")
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


# Passing the file path through a class attribute would be a global; this dict is written and
# cleared around one construction only, by `load_settings`.
_TOML_FILE: dict[str, Path] = {}


def load_settings(config_file: Path | None = None, **overrides: Any) -> InstanceSettings:
    """Build the settings from (optionally) a TOML file, the environment and overrides."""
    if config_file is not None:
        if not config_file.is_file():
            raise FileNotFoundError(f"config file not found: {config_file}")
        _TOML_FILE["path"] = config_file
    try:
        overrides = {k: v for k, v in overrides.items() if v is not None}
        settings = InstanceSettings(**overrides)
    finally:
        _TOML_FILE.clear()
    settings.config_file = config_file
    return settings
