"""The database schema, as SQLAlchemy Core tables (one metadata for Alembic)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = [
    "UTCDateTime",
    "instance_config",
    "instance_processes",
    "job_attempts",
    "media_garbage",
    "metadata",
    "oauth_tokens",
    "registration_tokens",
    "runner_jobs",
    "runners",
    "users",
    "video_captions",
    "video_files",
    "video_jobs",
    "video_storyboards",
    "video_uploads",
    "videos",
]

# Stable constraint names so Alembic diffs and SQLite batch migrations stay predictable.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite hands back naive values)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
        # SQLite compares datetimes as text: store them naive, in UTC, in one format.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


def _json() -> sa.types.TypeEngine[Any]:
    # Plain JSON, not JSONB: PostgreSQL keeps the text as written, so a payload reads back
    # with its keys in the order the instance built it, the same in `request` and `accept`.
    return sa.JSON()


registration_tokens = sa.Table(
    "registration_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # Listable by admins, as in PeerTube: kept in clear, used only to register.
    sa.Column("token", sa.String(100), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

runners = sa.Table(
    "runners",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("token_digest", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("description", sa.String(1000), nullable=True),
    sa.Column("version", sa.String(100), nullable=True),
    sa.Column("ip", sa.String(64), nullable=True),
    sa.Column("last_contact", UTCDateTime, nullable=False),
    sa.Column(
        "registration_token_id",
        sa.Integer,
        sa.ForeignKey("registration_tokens.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    #: Job types the runner said it handles (capability-aware scheduling), NULL = not said.
    sa.Column("capabilities", _json(), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

runner_jobs = sa.Table(
    "runner_jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    sa.Column("type", sa.String(50), nullable=False),
    sa.Column("state", sa.SmallInteger, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("progress", sa.SmallInteger, nullable=True),
    sa.Column("error", sa.String(5000), nullable=True),
    sa.Column("payload", _json(), nullable=False),
    sa.Column("private_payload", _json(), nullable=False),
    sa.Column(
        "runner_id",
        sa.Integer,
        sa.ForeignKey("runners.id", ondelete="SET NULL"),
        nullable=True,
        index=True,
    ),
    sa.Column(
        "parent_id",
        sa.Integer,
        sa.ForeignKey("runner_jobs.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    #: SHA-256 of the current attempt's job token; the token itself is never stored.
    sa.Column("job_token_digest", sa.String(64), nullable=True, unique=True),
    #: Bumped at each accept: the fencing number of the current lease.
    sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
    sa.Column("started_at", UTCDateTime, nullable=True),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    #: The instance process running this job's completion (COMPLETING only): when that process
    #: is gone, the completion is redone; while it lives, nobody else touches it.
    sa.Column("completing_by", sa.String(32), nullable=True),
    #: `payload.output.resolution`, kept as a column so claims can filter on a runner's maximum.
    sa.Column("resolution", sa.Integer, nullable=True),
    #: A PENDING job backing off after a failure is not offered before this (NULL: offered now).
    sa.Column("not_before", UTCDateTime, nullable=True),
    # request: PENDING jobs by priority then id, without scanning finished history.
    sa.Index("ix_runner_jobs_state_priority_id", "state", "priority", "id"),
    # watchdog: PROCESSING/COMPLETING jobs by last update.
    sa.Index("ix_runner_jobs_state_updated_at", "state", "updated_at"),
    sa.Index("ix_runner_jobs_created_at", "created_at"),
)

#: Instance processes sharing the database, each with its last heartbeat.
instance_processes = sa.Table(
    "instance_processes",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("seen_at", UTCDateTime, nullable=False),
)

job_attempts = sa.Table(
    "job_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "job_id",
        sa.Integer,
        sa.ForeignKey("runner_jobs.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column(
        "runner_id", sa.Integer, sa.ForeignKey("runners.id", ondelete="SET NULL"), nullable=True
    ),
    # Kept even after the runner is deleted, so history stays readable.
    sa.Column("runner_name", sa.String(100), nullable=True),
    sa.Column("started_at", UTCDateTime, nullable=False),
    # Indexed: the dashboard counts the last hour's failures, the watchdog prunes old ones.
    sa.Column("ended_at", UTCDateTime, nullable=True, index=True),
    #: completed, errored, aborted, stalled, cancelled, refused, lost (NULL while running)
    sa.Column("outcome", sa.String(20), nullable=True),
    sa.Column("message", sa.String(5000), nullable=True),
    sa.UniqueConstraint("job_id", "attempt"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(50), nullable=False, unique=True),
    sa.Column("email", sa.String(400), nullable=True),
    sa.Column("password_hash", sa.String(300), nullable=False),
    #: PeerTube's roles: 0 administrator, 1 moderator, 2 user.
    sa.Column("role", sa.SmallInteger, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    #: PeerTube's `videoQuota` / `videoQuotaDaily` in bytes, -1 = unlimited; NULL = the
    #: instance's default for users (`user_video_quota_bytes`), read at each upload.
    sa.Column("video_quota", sa.BigInteger, nullable=True),
    sa.Column("video_quota_daily", sa.BigInteger, nullable=True),
)

oauth_tokens = sa.Table(
    "oauth_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("access_digest", sa.String(64), nullable=False, unique=True),
    sa.Column("refresh_digest", sa.String(64), nullable=False, unique=True),
    sa.Column(
        "user_id",
        sa.Integer,
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("access_expires_at", UTCDateTime, nullable=False),
    sa.Column("refresh_expires_at", UTCDateTime, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

#: Small key/value store: OAuth client, runtime-editable configuration.
instance_config = sa.Table(
    "instance_config",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", _json(), nullable=False),
)

# ---- media pipeline (issue 4) ------------------------------------------------------------

#: Videos (PeerTube's `video`, reduced to what transcoding and serving need).
videos = sa.Table(
    "videos",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    sa.Column("name", sa.String(120), nullable=False),
    #: PeerTube's video state ids: 1 published, 2 to transcode, 7 transcoding failed, 9 to edit.
    sa.Column("state", sa.SmallInteger, nullable=False),
    #: The generation of files players get; a studio edit builds the next one beside it and
    #: switches over once its required renditions are in (see domain/videos.py).
    sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
    sa.Column("duration_s", sa.Float, nullable=True),
    sa.Column("has_video", sa.Boolean, nullable=False),
    sa.Column("has_audio", sa.Boolean, nullable=False),
    sa.Column("input_resolution", sa.Integer, nullable=False),
    sa.Column("input_fps", sa.Float, nullable=False),
    sa.Column("preview_filename", sa.String(200), nullable=True),
    #: Why transcoding failed, for the video page (the job keeps its own error too).
    sa.Column("error", sa.String(5000), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("published_at", UTCDateTime, nullable=True),
    #: The uploader: their uploads of the past week push their new jobs back (PeerTube's +N).
    sa.Column(
        "owner_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Index("ix_videos_created_at", "created_at"),
    sa.Index("ix_videos_owner_created_at", "owner_id", "created_at"),
)

#: Playable files: web videos (plain MP4 or the upload itself) and HLS renditions.
video_files = sa.Table(
    "video_files",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "video_id",
        sa.Integer,
        sa.ForeignKey("videos.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    #: "web" (under web-videos/) or "hls" (under streaming-playlists/hls/<video uuid>/).
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("filename", sa.String(200), nullable=False, unique=True),
    #: HLS only: the resolution playlist next to the fragmented MP4.
    sa.Column("playlist_filename", sa.String(200), nullable=True),
    sa.Column("resolution", sa.Integer, nullable=False),
    sa.Column("fps", sa.Integer, nullable=False),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("duration_s", sa.Float, nullable=True),
    #: Bits per second and RFC 6381 codecs, measured once for the HLS master playlist.
    sa.Column("bandwidth", sa.BigInteger, nullable=False),
    sa.Column("codecs", sa.String(200), nullable=False),
    sa.Column("has_video", sa.Boolean, nullable=False),
    sa.Column("has_audio", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    #: The video generation this file belongs to (0: the upload's; +1 per studio edit).
    sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
)

#: A video's storyboard (at most one): the sprite sheet under <data>/storyboards/ and its
#: geometry as PeerTube serves it.
video_storyboards = sa.Table(
    "video_storyboards",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "video_id",
        sa.Integer,
        sa.ForeignKey("videos.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    sa.Column("filename", sa.String(200), nullable=False, unique=True),
    sa.Column("total_width", sa.Integer, nullable=False),
    sa.Column("total_height", sa.Integer, nullable=False),
    sa.Column("sprite_width", sa.Integer, nullable=False),
    sa.Column("sprite_height", sa.Integer, nullable=False),
    #: Seconds of video per sprite.
    sa.Column("sprite_duration_s", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

#: A video's captions, one per language: the WebVTT file under <data>/captions/ (PeerTube's
#: `VideoCaptionModel`; `automatically_generated` for a transcription's).
video_captions = sa.Table(
    "video_captions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "video_id", sa.Integer, sa.ForeignKey("videos.id", ondelete="CASCADE"), nullable=False
    ),
    #: PeerTube's language code (`en`, `ar` …).
    sa.Column("language", sa.String(20), nullable=False),
    sa.Column("filename", sa.String(200), nullable=False, unique=True),
    sa.Column("automatically_generated", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("video_id", "language"),
)

#: Which runner jobs transcode which video; `required` jobs gate publication.
video_jobs = sa.Table(
    "video_jobs",
    metadata,
    sa.Column(
        "job_id", sa.Integer, sa.ForeignKey("runner_jobs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "video_id",
        sa.Integer,
        sa.ForeignKey("videos.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("required", sa.Boolean, nullable=False),
    #: Created while remote VOD runners were off: the instance's own workers run it.
    sa.Column("local", sa.Boolean, nullable=False),
    #: The video generation the job works for: only those jobs decide that generation's state.
    sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
)

#: PeerTube's resumable uploads in progress; the bytes live in <data>/tmp/resumable/<id>.
video_uploads = sa.Table(
    "video_uploads",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column(
        "user_id",
        sa.Integer,
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("filename", sa.String(300), nullable=False),
    sa.Column("metadata", _json(), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

#: Files to remove once no row refers to them (paths relative to the data dir). Written in the
#: same transaction that stops referencing a file, so a crash never leaves a row without its file.
media_garbage = sa.Table(
    "media_garbage",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("path", sa.String(1000), nullable=False),
    sa.Column("not_before", UTCDateTime, nullable=False, index=True),
)
