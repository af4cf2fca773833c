"""Instance settings: built once at start-up from a TOML file and `OFFLOAD_*` variables."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal

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
    #: `available-jobs` pings go to as many runners as there are jobs on offer plus this many
    #: spares, then to the next runners every `wake_followup_s` while jobs stay on offer, until
    #: every connected runner has had one; `wake_all_runners` pings everyone at once (PeerTube).
    wake_spare_runners: int = Field(default=2, ge=0)
    wake_followup_s: float = Field(default=2.0, gt=0)
    wake_all_runners: bool = False
    #: Video studio (PeerTube's `video_studio.enabled`, off by default there): cut, intro,
    #: outro, watermark and segment removal through `POST /videos/{id}/studio/edit`; initial
    #: value, editable through the config API.
    studio_enabled: bool = True
    #: Storyboards (PeerTube's `storyboards.enabled`): a sprite sheet per published video;
    #: initial value, editable through the config API.
    storyboards_enabled: bool = True
    #: Automatic captions (PeerTube's `video_transcription.enabled`, off by default as there):
    #: a transcription job per uploaded video with audio; initial value, editable through the
    #: config API.
    transcription_enabled: bool = False

    #: VOD transcoding (PeerTube's `transcoding.*`): initial values, editable through the
    #: custom config API; changes apply to videos uploaded afterwards.
    transcoding_enabled: bool = True
    #: Enabled resolutions among 0 (audio only), 144, 240, 360, 480, 720, 1080, 1440, 2160.
    transcoding_resolutions: list[int] = Field(
        default_factory=lambda: [144, 240, 360, 480, 720, 1080, 1440, 2160]
    )
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
    #: The attempts of a finished job (their runner, outcome, message: the admin's history) are
    #: pruned by the watchdog once they ended this long ago (seconds).
    attempt_retention_s: float = Field(default=30 * 24 * 3600.0, gt=0)
    #: SQLite: how long a write waits for a lock another process holds (the admin CLI, a
    #: backup) before it fails with 503.
    sqlite_busy_timeout_s: float = 30.0

    #: Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or networks;
    #: "*" for any). As PeerTube's `trust_proxy: ['loopback']`: a reverse proxy on the same
    #: host passes the client's address, so runner IPs and the per-IP rate limit are right.
    #: OFFLOAD_TRUSTED_PROXIES is comma-separated; an empty value trusts no proxy.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"]
    )

    #: A job that failed on a runner (an error, a refused output) is offered again only after
    #: this long, so a failure that repeats does not burn the job's five tries at once; 0
    #: re-offers at once, as PeerTube does. Aborts and stalls are always re-offered at once:
    #: the runner went away, nothing says the job is at fault.
    retry_backoff_s: float = Field(default=5.0, ge=0)
    #: The backoff doubles at each further failure of the job, up to this.
    retry_backoff_max_s: float = Field(default=120.0, ge=0)
    #: Up to this fraction of each backoff (0..1) is taken off at random, so jobs that failed
    #: together come back spread out.
    retry_backoff_jitter: float = Field(default=0.2, ge=0, le=1)

    #: Offload's `POST /api/v1/runners/jobs/claim` (atomic request + accept). Off, the runner
    #: API is exactly PeerTube's and runners fall back to request + accept.
    runner_claim_enabled: bool = True

    #: Request body caps, past which the answer is 413 (code `PayloadTooLargeError`, as PeerTube's
    #: body parser). Any body but an upload, in bytes (PeerTube: 500 kB JSON behind nginx's 100 kB).
    request_body_max_bytes: int = Field(default=1024 * 1024, ge=1024)
    #: Largest file part of a runner's update/success, in bytes, by the job's kind; the whole
    #: body may add 8 MiB (text fields, playlists). Video outputs of VOD and studio jobs: PeerTube's
    #: nginx `client_max_body_size 12G` on these two routes.
    runner_video_upload_max_bytes: int = Field(default=12 * 1024**3, ge=1024)
    #: Live chunks, one HLS segment each (PeerTube has no limit): a 12 s 2160p segment at 150 Mbit/s.
    runner_live_chunk_max_bytes: int = Field(default=256 * 1024**2, ge=1024)
    #: Storyboard sprite images: PeerTube's image limit (`CONSTRAINTS_FIELDS` … `IMAGE.FILE_SIZE`, 8 MB).
    runner_image_upload_max_bytes: int = Field(default=8 * 1024**2, ge=1024)
    #: Transcription captions (VTT): PeerTube's caption file limit (`CAPTION_FILE.FILE_SIZE`, 20 MB).
    runner_caption_upload_max_bytes: int = Field(default=20 * 1024**2, ge=1024)

    #: PeerTube's API rate limit per IP; registered runners and admins pass anyway.
    rate_limit_max: int = 50
    rate_limit_window_s: float = 10.0
    #: Failed logins allowed per client IP, and apart per username, within the window
    #: (PeerTube's `rates_limit.login`: 15 per 5 minutes); then 429 with Retry-After.
    login_rate_limit_max: int = 15
    login_rate_limit_window_s: float = 300.0
    #: One `offload.access` record per HTTP request and per socket handshake (client, method,
    #: path, query with secrets redacted, status, duration, size), logged at INFO.
    access_log: bool = True
    #: `text` (one line, after the log's usual prefix) or `json` (one JSON object a line).
    access_log_format: Literal["text", "json"] = "text"

    #: Video uploads (PeerTube's upload validators). The largest video file accepted, in bytes:
    #: past it, 413 `max_file_size_reached` (1 TiB: past any real video; PeerTube has no cap).
    upload_max_bytes: int = Field(default=2**40, ge=1, le=2**62)
    #: The longest video accepted, in seconds: past it, 403 and nothing is stored. None: no
    #: limit, as in PeerTube (where only a plugin's accept hook can refuse a long video).
    upload_max_duration_s: float | None = Field(default=None, gt=0)
    #: Video quota of users created without one (PeerTube's `user.video_quota` and
    #: `user.video_quota_daily`), in bytes; -1 = unlimited. `root` is always unlimited.
    user_video_quota_bytes: int = Field(default=-1, ge=-1)
    user_video_quota_daily_bytes: int = Field(default=-1, ge=-1)
    #: A resumable upload untouched this long is dropped with its bytes, in seconds (PeerTube
    #: drops after about an hour idle; a day is kinder to slow, flaky links).
    resumable_upload_expiry_s: float = Field(default=24 * 3600.0, gt=0)

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
                    raise ValueError(
                        f"trusted_proxies: {entry!r} is not an IP address, a network or *"
                    ) from None
            proxies.append(entry)
        return proxies

    @model_validator(mode="after")
    def _fill_derived(self) -> InstanceSettings:
        host, _, port = self.listen.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(
                f"listen must be host:port with a port up to 65535, got {self.listen!r}"
            )
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
