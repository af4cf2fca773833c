"""Job states, terminal set and the failure decision of the domain core (protocol §4)."""

from __future__ import annotations

import pytest

from offload.domain.jobs import (
    ABORTABLE_TYPES,
    MAX_FAILURES,
    TERMINAL_STATES,
    JobState,
    JobType,
    RetryBackoff,
    decide_after_failure,
)

VOD_TYPES = [t for t in JobType if t is not JobType.LIVE_RTMP_HLS]


class TestJobState:
    @pytest.mark.parametrize(
        ("state", "expected_id", "expected_label"),
        [
            (JobState.PENDING, 1, "Pending"),
            (JobState.PROCESSING, 2, "Processing"),
            (JobState.COMPLETED, 3, "Completed"),
            (JobState.ERRORED, 4, "Errored"),
            (JobState.WAITING_FOR_PARENT_JOB, 5, "Waiting for parent job to finish"),
            (JobState.CANCELLED, 6, "Cancelled"),
            (JobState.PARENT_ERRORED, 7, "Parent job failed"),
            (JobState.PARENT_CANCELLED, 8, "Parent job cancelled"),
            (JobState.COMPLETING, 9, "Completing"),
        ],
    )
    def test_ids_and_labels_match_peertube(
        self, state: JobState, expected_id: int, expected_label: str
    ) -> None:
        """Each state carries PeerTube's numeric id and wire label."""
        assert expected_id == int(state)
        assert expected_label == state.label

    def test_there_are_nine_states(self) -> None:
        """The enum holds exactly the nine protocol states, ids 1..9."""
        assert list(range(1, 10)) == sorted(int(s) for s in JobState)

    def test_to_wire_is_id_and_label(self) -> None:
        """A state goes on the wire as `{id, label}`."""
        assert {
            "id": 5,
            "label": "Waiting for parent job to finish",
        } == JobState.WAITING_FOR_PARENT_JOB.to_wire()

    def test_terminal_states_are_3_4_6_7_8(self) -> None:
        """Terminal states are COMPLETED, ERRORED, CANCELLED, PARENT_ERRORED, PARENT_CANCELLED."""
        assert {3, 4, 6, 7, 8} == {int(s) for s in TERMINAL_STATES}


class TestJobType:
    def test_type_strings_match_the_protocol(self) -> None:
        """The seven type strings are exactly PeerTube's."""
        expected = {
            "vod-web-video-transcoding",
            "vod-hls-transcoding",
            "vod-audio-merge-transcoding",
            "live-rtmp-hls-transcoding",
            "video-studio-transcoding",
            "video-transcription",
            "generate-video-storyboard",
        }

        assert expected == {str(t) for t in JobType}

    def test_live_is_the_only_type_that_cannot_be_aborted(self) -> None:
        """Every type but live goes back to PENDING on abort."""
        assert set(JobType) - {JobType.LIVE_RTMP_HLS} == set(ABORTABLE_TYPES)


class TestDecideAfterFailure:
    def test_max_failures_is_five(self) -> None:
        """PeerTube errors a job for good at its fifth failure."""
        assert 5 == MAX_FAILURES

    @pytest.mark.parametrize("before", [0, 1, 2, 3])
    @pytest.mark.parametrize("job_type", VOD_TYPES)
    def test_errors_one_to_four_requeue(self, job_type: JobType, before: int) -> None:
        """Runner errors 1 to 4 send the job back to PENDING without storing the message."""
        decision = decide_after_failure(job_type, before, counts=True)

        assert JobState.PENDING == decision.next_state
        assert before + 1 == decision.failures
        assert decision.requeued
        assert not decision.store_error

    @pytest.mark.parametrize("job_type", VOD_TYPES)
    def test_fifth_error_errors_the_job(self, job_type: JobType) -> None:
        """The fifth runner error ends the job ERRORED with failures 5 and the message stored."""
        decision = decide_after_failure(job_type, 4, counts=True)

        assert JobState.ERRORED == decision.next_state
        assert 5 == decision.failures
        assert not decision.requeued
        assert decision.store_error

    def test_five_consecutive_errors_follow_the_observed_sequence(self) -> None:
        """Feeding each decision into the next gives PENDING x4, then ERRORED (items 64-65)."""
        failures, states = 0, []
        for _ in range(5):
            decision = decide_after_failure(JobType.VOD_WEB_VIDEO, failures, counts=True)
            failures = decision.failures
            states.append(decision.next_state)

        assert [JobState.PENDING] * 4 + [JobState.ERRORED] == states
        assert 5 == failures

    @pytest.mark.parametrize("before", [0, 3, 4])
    def test_abort_is_not_counted(self, before: int) -> None:
        """An abort (or stall) re-queues without raising `failures`, even at four failures."""
        decision = decide_after_failure(JobType.VOD_HLS, before, counts=False)

        assert JobState.PENDING == decision.next_state
        assert before == decision.failures

    @pytest.mark.parametrize("counts", [True, False])
    @pytest.mark.parametrize("before", [0, 2])
    def test_live_is_never_requeued(self, before: int, counts: bool) -> None:
        """A live job that fails or is aborted goes straight to ERRORED."""
        decision = decide_after_failure(JobType.LIVE_RTMP_HLS, before, counts=counts)

        assert JobState.ERRORED == decision.next_state
        assert (before + 1 if counts else before) == decision.failures
        assert decision.store_error


class TestRetryBackoff:
    BACKOFF = RetryBackoff(first_s=5.0, max_s=120.0, jitter=0.2)

    def test_the_wait_doubles_from_the_first_up_to_the_maximum(self) -> None:
        """Without jitter (draw 0) the waits after failures 1..7 are 5, 10, 20, 40, 80, 120, 120 s."""
        assert [5.0, 10.0, 20.0, 40.0, 80.0, 120.0, 120.0] == [
            self.BACKOFF.delay_s(n, 0.0) for n in range(1, 8)
        ]

    @pytest.mark.parametrize("failures", [1, 3, 9])
    def test_jitter_takes_off_at_most_its_fraction(self, failures: int) -> None:
        """A draw near 1 takes 20 % off; a mid draw half of that; the wait never exceeds the maximum."""
        full = self.BACKOFF.delay_s(failures, 0.0)

        assert full * 0.9 == pytest.approx(self.BACKOFF.delay_s(failures, 0.5))
        assert full * 0.8 == pytest.approx(self.BACKOFF.delay_s(failures, 1.0))
        assert self.BACKOFF.delay_s(failures, 0.999) <= 120.0

    def test_off_or_before_any_failure_there_is_no_wait(self) -> None:
        """A first wait of 0 turns the backoff off; no failure yet means no wait; a huge count does not overflow."""
        assert 0.0 == RetryBackoff().delay_s(3, 0.5)
        assert 0.0 == self.BACKOFF.delay_s(0, 0.5)
        assert 120.0 == self.BACKOFF.delay_s(10_000, 0.0)

    @pytest.mark.parametrize("before", [0, 1, 2, 3])
    def test_a_counted_failure_that_requeues_backs_off(self, before: int) -> None:
        """Errors 1 to 4 re-queue with the backoff of their failure count, drawn with the given number."""
        decision = decide_after_failure(
            JobType.VOD_HLS, before, counts=True, backoff=self.BACKOFF, draw=0.25
        )

        assert decision.requeued
        assert self.BACKOFF.delay_s(before + 1, 0.25) == decision.retry_after_s

    def test_aborts_stalls_and_final_errors_do_not_wait(self) -> None:
        """An uncounted failure re-queues at once; the fifth error and live jobs end with no wait to speak of."""
        aborted = decide_after_failure(
            JobType.VOD_HLS, 2, counts=False, backoff=self.BACKOFF, draw=0.0
        )
        fifth = decide_after_failure(
            JobType.VOD_HLS, 4, counts=True, backoff=self.BACKOFF, draw=0.0
        )
        live = decide_after_failure(
            JobType.LIVE_RTMP_HLS, 0, counts=True, backoff=self.BACKOFF, draw=0.0
        )

        assert (True, 0.0) == (aborted.requeued, aborted.retry_after_s)
        assert (False, 0.0) == (fifth.requeued, fifth.retry_after_s)
        assert (False, 0.0) == (live.requeued, live.retry_after_s)

    def test_without_a_backoff_errors_requeue_at_once(self) -> None:
        """PeerTube's behaviour, the default: a re-queued job is offered again at once."""
        assert 0.0 == decide_after_failure(JobType.VOD_WEB_VIDEO, 0, counts=True).retry_after_s
