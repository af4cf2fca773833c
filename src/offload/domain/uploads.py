"""What an upload may weigh and last: the instance's caps and a user's video quota, as values
with pure decisions (PeerTube's `commonVideoFileChecks` and `isUserQuotaValid`)."""

from __future__ import annotations

from dataclasses import dataclass

from offload.domain.errors import FileTooLarge, QuotaReached, VideoTooLong

__all__ = ["UNLIMITED", "UploadAllowance", "UploadLimits", "VideoQuota"]

#: PeerTube's "no quota" value of `videoQuota` / `videoQuotaDaily`.
UNLIMITED = -1


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """The instance's upload settings."""

    max_file_bytes: int = 2**40
    #: None: any duration.
    max_duration_s: float | None = None
    #: The quotas of users whose own are not set; bytes, UNLIMITED for none.
    default_video_quota: int = UNLIMITED
    default_video_quota_daily: int = UNLIMITED
    #: Resumable uploads untouched this long are dropped.
    resumable_expiry_s: float = 24 * 3600.0

    def check_duration(self, duration_s: float) -> None:
        """Raises VideoTooLong past the cap."""
        if self.max_duration_s is not None and duration_s > self.max_duration_s:
            raise VideoTooLong(
                f"This video is too long: it lasts {duration_s:g} s, longer than the {self.max_duration_s:g} s authorized"
            )


@dataclass(frozen=True, slots=True)
class VideoQuota:
    """A user's quotas and what their videos use of them, in bytes (quotas may be UNLIMITED)."""

    quota: int
    quota_daily: int
    used: int
    used_daily: int

    @property
    def room(self) -> int | None:
        """The largest upload the quotas still take; None: no limit.

        PeerTube refuses an upload once the used bytes plus the upload *reach* a quota, so the
        room is one byte less than what is left.
        """
        left = [
            q - used - 1
            for q, used in ((self.quota, self.used), (self.quota_daily, self.used_daily))
            if q != UNLIMITED
        ]
        return min(left) if left else None


@dataclass(frozen=True, slots=True)
class UploadAllowance:
    """What one user may upload now: the size cap and their quota together."""

    max_file_bytes: int
    quota: VideoQuota

    @property
    def max_bytes(self) -> int:
        """The largest file accepted (negative once the quota is used up)."""
        room = self.quota.room
        return self.max_file_bytes if room is None else min(self.max_file_bytes, room)

    def check(self, size: int) -> None:
        """Raises FileTooLarge past the cap, else QuotaReached past the quota (PeerTube's order)."""
        if size > self.max_file_bytes:
            raise FileTooLarge()
        if size > self.max_bytes:
            raise QuotaReached()
