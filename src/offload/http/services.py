"""The services one instance process runs, built by the app's lifespan from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from offload.instance.accounts import AccountService
from offload.instance.jobs import JobService
from offload.instance.notifier import AvailableJobsNotifier
from offload.instance.ratelimit import RateLimiter
from offload.instance.runners import RunnerService
from offload.settings import InstanceSettings
from offload.store.database import Database

__all__ = ["Services", "get_services", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    settings: InstanceSettings
    db: Database
    runners: RunnerService
    jobs: JobService
    accounts: AccountService
    notifier: AvailableJobsNotifier
    rate_limiter: RateLimiter
    #: Extra adapters later issues plug in (media store, live ingest …).
    extras: dict[str, Any]


def get_services(request: Request) -> Services:
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None:
        raise RuntimeError("the app's lifespan has not started")
    return services
