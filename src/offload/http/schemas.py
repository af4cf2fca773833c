"""Request bodies of the JSON endpoints, with PeerTube's length rules."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    field_validator,
)

from offload.domain.runners import VERSION_RE

__all__ = [
    "AbortBody",
    "AcceptBody",
    "ClaimJobsBody",
    "ErrorBody",
    "JobFileBody",
    "NoNul",
    "RegisterBody",
    "RequestJobsBody",
    "UnregisterBody",
]


def _refuse_nul(value: str) -> str:
    # PostgreSQL text cannot hold U+0000: refuse it here (400), not in the store (500).
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


#: Add to any string field that reaches the database.
NoNul = AfterValidator(_refuse_nul)

Token = Annotated[StrictStr, Field(min_length=1, max_length=1000), NoNul]


class _Body(BaseModel):
    # Unknown members are ignored, as express-validator does.
    model_config = ConfigDict(extra="ignore")


def _check_version(value: str | None) -> str | None:
    if value is not None and not VERSION_RE.match(value):
        raise ValueError("version must look like X.Y.Z")
    return value


class RegisterBody(_Body):
    registrationToken: Token
    name: Annotated[StrictStr, Field(min_length=1, max_length=100), NoNul]
    # No `| None` in these types: absent means None, an explicit null is refused (400), as
    # express-validator's `optional()` validates null values.
    description: Annotated[StrictStr, Field(min_length=1, max_length=1000), NoNul] = None  # type: ignore[assignment]
    version: Annotated[StrictStr, Field(min_length=1, max_length=100), NoNul] = None  # type: ignore[assignment]

    _version = field_validator("version")(_check_version)


class UnregisterBody(_Body):
    runnerToken: Token


class RequestJobsBody(_Body):
    runnerToken: Token
    #: Values are not checked (PeerTube), only that it is an array.
    jobTypes: list[Any] = None  # type: ignore[assignment]
    version: Annotated[StrictStr, Field(min_length=1, max_length=100), NoNul] = None  # type: ignore[assignment]

    _version = field_validator("version")(_check_version)


class ClaimJobsBody(_Body):
    """Offload's `jobs/claim`: request + accept in one call."""

    runnerToken: Token
    #: Unlike `request`, checked: a claim for a type no runner can process is a mistake.
    jobTypes: list[StrictStr] = None  # type: ignore[assignment]
    maxJobs: Annotated[StrictInt, Field(ge=1, le=10)] = 1
    #: Only jobs producing at most this height (jobs without a picture always qualify).
    maxResolution: Annotated[StrictInt, Field(ge=0, le=10000)] = None  # type: ignore[assignment]
    version: Annotated[StrictStr, Field(min_length=1, max_length=100), NoNul] = None  # type: ignore[assignment]

    _version = field_validator("version")(_check_version)


class AcceptBody(_Body):
    runnerToken: Token


class JobFileBody(_Body):
    runnerToken: Token
    jobToken: Token


class AbortBody(JobFileBody):
    reason: Annotated[StrictStr, Field(min_length=1, max_length=5000), NoNul]


class ErrorBody(JobFileBody):
    message: Annotated[StrictStr, Field(min_length=1, max_length=5000), NoNul]
