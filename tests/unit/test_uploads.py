"""Upload limits as pure decisions: PeerTube's quota arithmetic and the order of its checks."""

from __future__ import annotations

import pytest

from offload.domain.errors import FileTooLarge, QuotaReached, VideoTooLong
from offload.domain.uploads import UNLIMITED, UploadAllowance, UploadLimits, VideoQuota


class TestVideoQuota:
    def test_an_upload_that_reaches_the_quota_exactly_is_refused(self) -> None:
        """As PeerTube's `uploadedTotal >= videoQuota`: 600 used of 1000 leaves room for 399."""
        allowance = UploadAllowance(
            max_file_bytes=10_000, quota=VideoQuota(1000, UNLIMITED, used=600, used_daily=600)
        )

        allowance.check(399)
        with pytest.raises(QuotaReached):
            allowance.check(400)

    def test_the_tighter_of_total_and_daily_wins(self) -> None:
        """Room is the smaller of what the total and the daily quota leave."""
        assert 99 == VideoQuota(1000, 200, used=500, used_daily=100).room
        assert 499 == VideoQuota(1000, 2000, used=500, used_daily=100).room

    def test_unlimited_quotas_leave_only_the_size_cap(self) -> None:
        """With both quotas at -1 there is no room limit; the allowance is the cap."""
        allowance = UploadAllowance(
            max_file_bytes=5000,
            quota=VideoQuota(UNLIMITED, UNLIMITED, used=10**12, used_daily=10**12),
        )

        assert (None, 5000) == (allowance.quota.room, allowance.max_bytes)

    def test_a_used_up_quota_refuses_everything(self) -> None:
        """Past the quota the allowance is negative and one byte is too many."""
        allowance = UploadAllowance(
            max_file_bytes=5000, quota=VideoQuota(1000, UNLIMITED, used=1500, used_daily=0)
        )

        assert allowance.max_bytes < 0
        with pytest.raises(QuotaReached):
            allowance.check(1)


class TestCaps:
    def test_the_size_cap_is_checked_before_the_quota(self) -> None:
        """Over both, the answer is PeerTube's first check: the file size."""
        allowance = UploadAllowance(
            max_file_bytes=100, quota=VideoQuota(50, UNLIMITED, used=0, used_daily=0)
        )

        with pytest.raises(FileTooLarge):
            allowance.check(101)
        with pytest.raises(QuotaReached):
            allowance.check(60)

    def test_the_duration_cap(self) -> None:
        """No cap takes any duration; a cap refuses longer videos and says both durations."""
        UploadLimits().check_duration(10**6)
        UploadLimits(max_duration_s=60).check_duration(60)
        with pytest.raises(VideoTooLong, match="lasts 61 s, longer than the 60 s"):
            UploadLimits(max_duration_s=60).check_duration(61)
