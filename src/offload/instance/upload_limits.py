"""Each user's upload allowance (the size cap and their video quota), read before an upload's
bytes are, and read again with the user's row locked in the transaction that stores it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from offload.domain.uploads import UNLIMITED, UploadAllowance, UploadLimits, VideoQuota
from offload.store.accounts import AccountRepository
from offload.store.database import Database
from offload.store.videos import VideoRepository

__all__ = ["UploadLimiter"]

#: The window of PeerTube's `videoQuotaDaily`.
DAY = timedelta(hours=24)


class UploadLimiter:
    def __init__(self, db: Database, now: Callable[[], datetime], limits: UploadLimits) -> None:
        self.db = db
        self.now = now
        self.limits = limits
        self.accounts = AccountRepository()
        self.videos = VideoRepository()

    async def allowance(self, user_id: int) -> UploadAllowance:
        """What `user_id` may upload now (a first answer: `allowance_in` has the last word)."""
        async with self.db.read() as conn:
            return await self.allowance_in(conn, user_id)

    async def allowance_in(
        self, conn: AsyncConnection, user_id: int, *, lock: bool = False
    ) -> UploadAllowance:
        """The allowance seen by `conn`'s transaction; `lock` holds the user's row to its end,
        so two uploads of one user cannot both take the last room."""
        return UploadAllowance(
            self.limits.max_file_bytes, await self._quota(conn, user_id, lock=lock, measure=False)
        )

    async def quota_of(self, user_id: int) -> VideoQuota:
        """The user's quotas and their use (PeerTube's `videoQuotaUsed` / `videoQuotaUsedDaily`)."""
        async with self.db.read() as conn:
            return await self._quota(conn, user_id, lock=False, measure=True)

    async def _quota(
        self, conn: AsyncConnection, user_id: int, *, lock: bool, measure: bool
    ) -> VideoQuota:
        own = await self.accounts.video_quota(conn, user_id, lock=lock) or (None, None)
        quota = self.limits.default_video_quota if own[0] is None else own[0]
        daily = self.limits.default_video_quota_daily if own[1] is None else own[1]
        if not measure and quota == UNLIMITED and daily == UNLIMITED:
            return VideoQuota(quota, daily, used=0, used_daily=0)  # nothing to count against
        used = await self.videos.quota_used(conn, user_id)
        used_daily = await self.videos.quota_used(conn, user_id, since=self.now() - DAY)
        return VideoQuota(quota, daily, used=used, used_daily=used_daily)
