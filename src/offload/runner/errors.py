"""Errors of the runner.

```
OffloadError
└── RunnerError
    ├── InstanceError            the instance answered with an error (status, code, detail)
    │   ├── UnknownRunnerTokenError    code unknown_runner_token: registration refused
    │   ├── JobNotPendingError         accept lost a race (409 / runner_job_not_in_pending_state)
    │   └── JobGoneError               404 or not-processing on a job-bound call: cancelled,
    │                                  re-queued by the watchdog or given to another runner
    ├── InstanceUnreachable      connection errors, timeouts or 5xx after every retry
    ├── TransferError            a transfer failed: a download ended short or with a bad
    │   │                        length, a custom upload was refused
    │   └── RedirectError        a download's redirects were refused: too many, no
    │                            Location, or a scheme other than http(s); not retried
    ├── DaemonAlreadyRunning     a daemon already holds this --id
    ├── DaemonNotRunning         no daemon answers on this --id's socket
    └── ConfigError              config.toml cannot be read
```
"""

from __future__ import annotations

from offload.domain.errors import OffloadError

__all__ = [
    "ConfigError",
    "DaemonAlreadyRunning",
    "DaemonNotRunning",
    "InstanceError",
    "InstanceUnreachable",
    "JobGoneError",
    "JobNotPendingError",
    "RedirectError",
    "RunnerError",
    "TransferError",
    "UnknownRunnerTokenError",
]


class RunnerError(OffloadError):
    """The runner failed."""


class InstanceError(RunnerError):
    """The instance refused the request."""

    def __init__(self, status: int, detail: str | None = None, code: str | None = None) -> None:
        self.status = status
        self.code = code
        self.detail = detail or ""
        text = f"HTTP {status}" + (f" {code}" if code else "") + (f": {detail}" if detail else "")
        super().__init__(text)


class UnknownRunnerTokenError(InstanceError):
    """The instance does not know this runner token."""


class JobNotPendingError(InstanceError):
    """Another runner took the job first."""


class JobGoneError(InstanceError):
    """The job is no longer ours (cancelled, re-queued or deleted)."""


class InstanceUnreachable(RunnerError):
    """The instance could not be reached."""


class TransferError(RunnerError):
    """A file transfer failed."""


class RedirectError(TransferError):
    """A download was redirected somewhere the runner does not follow."""


class DaemonAlreadyRunning(RunnerError):
    """A runner daemon is already running with this id."""


class DaemonNotRunning(RunnerError):
    """No runner daemon is running with this id (start it with `offload runner server`)."""


class ConfigError(RunnerError):
    """The runner configuration is invalid."""
