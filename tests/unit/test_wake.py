"""The wake policy: how many runners an `available-jobs` ping goes to, and which."""

from __future__ import annotations

from offload.domain.wake import wake_wave


def test_wake_waves_are_sized_by_the_offer_and_go_to_the_longest_unpinged_first() -> None:
    last: dict[int, float] = {1: 5.0, 2: 1.0, 3: 9.0}
    assert [] == wake_wave([1, 2, 3, 4], 0, spare=2)
    assert [4, 2] == wake_wave([1, 2, 3, 4], 1, spare=1, last_woken=last)
    assert [2, 1] == wake_wave([1, 2, 3, 4], 1, spare=1, already={4}, last_woken=last)
    assert [1, 2, 3] == wake_wave([3, 2, 1, 1], 10, spare=2)
