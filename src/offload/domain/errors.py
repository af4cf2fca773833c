"""Errors of the domain core. The HTTP layer maps them to status codes in one place.

```
OffloadError
├── NotFound
│   ├── RegistrationTokenNotFound      registration token unknown (register, revoke)
│   ├── RunnerNotFound                 admin delete of an unknown runner
│   ├── UnknownRunnerToken             runner token unknown (machine code unknown_runner_token)
│   ├── JobNotFound                    no job with this uuid
│   ├── UnknownRunnerJob               uuid + job token + runner token do not match
│   └── VideoNotFound
├── Conflict
│   ├── JobNotPending                  accept of a job that is not PENDING
│   ├── JobNotPendingAnymore           accept race lost (409)
│   ├── JobNotProcessing               job-bound call on a job not in the allowed states
│   ├── JobNotProcessingAnymore        concurrent success lost (409)
│   ├── JobNotCancellable
│   ├── RunnerNameTaken
│   └── AlreadyTranscribing            a caption generation while one is pending
├── InvalidPayload                     success/update payload not valid for the job type
├── Forbidden
│   ├── VideoNotOfJob                  file route for another video than the job's
│   ├── TaskFileNotOfJob
│   └── VideoTooLong                   an upload past the duration cap (PeerTube's refused-upload 403)
├── PayloadTooLarge                    413
│   ├── FileTooLarge                   an upload past the size cap (machine code max_file_size_reached)
│   ├── QuotaReached                   an upload past the user's video quota (machine code quota_reached)
│   └── ChunkTooLarge                  a resumable chunk longer than its Content-Range
├── StorageFull                        the disk filled up while storing an upload (507)
├── InvalidInput                       a value the validators could not catch
└── OutputRefused                      a success whose files fail verification (counts as a failure)
```

Each class docstring is the default message (the `detail` seen by clients).
"""

from __future__ import annotations

__all__ = [
    "AlreadyTranscribing",
    "ChunkTooLarge",
    "Conflict",
    "FileTooLarge",
    "Forbidden",
    "InvalidInput",
    "InvalidPayload",
    "JobNotCancellable",
    "JobNotFound",
    "JobNotPending",
    "JobNotPendingAnymore",
    "JobNotProcessing",
    "JobNotProcessingAnymore",
    "NotFound",
    "OffloadError",
    "OutputRefused",
    "PayloadTooLarge",
    "QuotaReached",
    "RegistrationTokenNotFound",
    "RunnerNameTaken",
    "RunnerNotFound",
    "StorageFull",
    "TaskFileNotOfJob",
    "UnknownRunnerJob",
    "UnknownRunnerToken",
    "VideoNotFound",
    "VideoNotOfJob",
    "VideoTooLong",
]


class OffloadError(Exception):
    """Something went wrong in Offload."""

    #: PeerTube's machine code for this error, when it has one.
    code: str | None = None
    #: Whole seconds after which trying again may succeed (the answer's `Retry-After`).
    retry_after_s: int | None = None

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        super().__init__(self.message)


class NotFound(OffloadError):
    """Not found."""


class RegistrationTokenNotFound(NotFound):
    """Registration token not found"""


class RunnerNotFound(NotFound):
    """Runner not found"""


class UnknownRunnerToken(NotFound):
    """Unknown runner token"""

    code = "unknown_runner_token"


class JobNotFound(NotFound):
    """Unknown runner job"""


class UnknownRunnerJob(NotFound):
    """Unknown runner job"""


class VideoNotFound(NotFound):
    """Video not found"""


class Conflict(OffloadError):
    """The request conflicts with the current state."""


class JobNotPending(Conflict):
    """This runner job is not in pending state"""

    code = "runner_job_not_in_pending_state"


class JobNotPendingAnymore(Conflict):
    """This runner job is not in pending state anymore"""

    code = "runner_job_not_in_pending_state"


class JobNotProcessing(Conflict):
    """This runner job is not in processing state"""

    code = "runner_job_not_in_processing_state"


class JobNotProcessingAnymore(Conflict):
    """This job is not in processing state anymore"""

    code = "runner_job_not_in_processing_state"


class JobNotCancellable(Conflict):
    """Cannot cancel this job that is not in "pending", "processing" or "waiting for parent job" state"""


class RunnerNameTaken(Conflict):
    """This runner name already exists on this instance"""


class AlreadyTranscribing(Conflict):
    """This video is already being transcribed"""


class InvalidPayload(OffloadError):
    """Payload is invalid"""


class Forbidden(OffloadError):
    """Forbidden."""


class VideoNotOfJob(Forbidden):
    """Job is not associated to this video"""


class VideoTooLong(Forbidden):
    """This video is too long: it exceeds the maximum duration authorized"""


class PayloadTooLarge(OffloadError):
    """Payload too large"""


class FileTooLarge(PayloadTooLarge):
    """This file is too large. It exceeds the maximum file size authorized"""

    code = "max_file_size_reached"


class QuotaReached(PayloadTooLarge):
    """The user video quota is exceeded with this video"""

    code = "quota_reached"


class ChunkTooLarge(PayloadTooLarge):
    """The chunk is longer than its Content-Range: the upload is dropped"""


class StorageFull(OffloadError):
    """The instance is out of storage space; nothing was stored"""


class TaskFileNotOfJob(OffloadError):
    """File is not associated to this edition task"""


class InvalidInput(OffloadError):
    """Incorrect request parameters"""


class OutputRefused(OffloadError):
    """The runner's output does not match the job"""
