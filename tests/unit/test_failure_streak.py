"""The runner's pause after its own streak of failed jobs (a pure decision)."""

from __future__ import annotations

from offload.runner.streak import FailureStreak


def test_the_third_failure_in_a_row_pauses_and_the_pause_doubles_up_to_a_minute() -> None:
    """Failures 1-2 go on; 3, 4, 5 … pause 5, 10, 20, 40, then 60 s at most."""
    streak = FailureStreak(first_pause_s=5.0)

    assert [0, 0, 5, 10, 20, 40, 60, 60] == [streak.failed() for _ in range(8)]


def test_a_success_ends_the_streak() -> None:
    """After a success, two more failures do not pause; the third pauses from the first step again."""
    streak = FailureStreak(first_pause_s=5.0)
    for _ in range(4):
        streak.failed()

    streak.succeeded()

    assert [0, 0, 5] == [streak.failed() for _ in range(3)]


def test_a_pause_of_zero_never_pauses() -> None:
    """`failurePauseSeconds = 0` turns the pause off, however long the streak."""
    streak = FailureStreak(first_pause_s=0.0)

    assert {0.0} == {streak.failed() for _ in range(10)}
