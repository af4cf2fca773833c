"""`create_app(settings)`: the ASGI app of an instance. Everything stateful is built in the
lifespan, so importing this module has no side effects."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from fastapi import FastAPI

from offload import __version__
from offload.domain.jobs import JobType, RetryBackoff
from offload.http.access_log import AccessLog
from offload.http.body_limit import BodyLimit
from offload.http.errors import install_error_handlers
from offload.http.routes import (
    admin_api,
    channels_api,
    config_api,
    files_api,
    metrics_api,
    oauth_api,
    runner_api,
    static,
    studio_api,
    ui_admin,
    videos_api,
)
from offload.http.services import Services, utcnow
from offload.http.socket import RunnerSockets
from offload.instance.accounts import AccountService
from offload.instance.jobs import JobService
from offload.instance.login_limits import LoginLimiter
from offload.instance.media import MediaPipeline
from offload.instance.notifier import AvailableJobsNotifier
from offload.instance.ratelimit import RateLimiter
from offload.instance.results import JobHandler, KeepFilesHandler
from offload.instance.runners import RunnerService
from offload.settings import InstanceSettings
from offload.store.database import Database, DatabaseUnavailable
from offload.store.fanout import PgFanout, asyncpg_dsn

__all__ = ["create_app"]

log = logging.getLogger("offload.instance")

#: Lets later layers (media pipeline, live) plug handlers and routes in at start-up.
Plugin = Callable[[FastAPI, Services], Any]


#: Longer than any client's idle keep-alive (httpx: 5 s, browsers about 60 s), so an idle
#: connection is always closed by the client. The other way round (uvicorn's default is 5 s,
#: the same as httpx's), a request sent just as the server hangs up fails with a reset.
KEEP_ALIVE_S = 75


def server_options(settings: InstanceSettings) -> dict[str, Any]:
    """uvicorn's options for an instance, the same for `offload serve` and the tests."""
    return {
        "log_level": "warning",
        "lifespan": "on",
        "ws": "websockets-sansio",
        "proxy_headers": True,
        "forwarded_allow_ips": settings.trusted_proxies,
        "timeout_keep_alive": KEEP_ALIVE_S,
        # Ours (`AccessLog`) replaces uvicorn's: structured, redacted, handshakes only.
        "access_log": False,
    }


def create_app(
    settings: InstanceSettings,
    *,
    now: Callable[[], datetime] = utcnow,
    plugins: list[Plugin] | None = None,
    on_ready: Callable[[Services, str | None], Any] | None = None,
) -> Any:
    """Build the instance: FastAPI for HTTP, python-socketio for `/runners`, one lifespan.

    Args:
        settings: validated instance settings.
        now: the clock every service uses (tests inject their own).
        plugins: callables run after services exist, to register handlers or routes.
        on_ready: called once started with the services and the generated admin password
            (None when it was configured or already existed).
    """
    sockets = RunnerSockets(
        spare=settings.wake_spare_runners,
        followup_s=settings.wake_followup_s,
        wake_all=settings.wake_all_runners,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(
            str(settings.database_url), sqlite_busy_timeout_s=settings.sqlite_busy_timeout_s
        )
        await db.upgrade()
        # On PostgreSQL several instance processes may share the database: pings travel
        # between them by LISTEN/NOTIFY. A SQLite file has one process, which pings alone.
        fanout = (
            None
            if db.is_sqlite
            else PgFanout(asyncpg_dsn(db.url), sockets.broadcast_available_jobs, sockets.revoke_job)
        )
        if fanout is not None:
            await fanout.start()
        notifier = AvailableJobsNotifier(
            fanout.broadcast if fanout is not None else sockets.broadcast_available_jobs,
            settings.socket_debounce_s,
        )
        runners = RunnerService(db, now, last_contact_interval_s=settings.last_contact_interval_s)
        default_handler = KeepFilesHandler(settings.data_dir)
        handlers: dict[JobType, JobHandler] = {t: default_handler for t in JobType}
        media = MediaPipeline(db, now, settings)
        handlers.update(media.handlers())
        jobs = JobService(
            db,
            now,
            notifier,
            handlers,
            stalled_thresholds_s=settings.stalled_thresholds_s,
            stalled_completing_s=settings.stalled_completing_s,
            attempt_retention_s=settings.attempt_retention_s,
            process_timeout_s=settings.effective_process_timeout_s,
            process_lock_grace_s=settings.process_lock_grace_s,
            success_wait_s=settings.success_wait_s,
            staging_dir=settings.data_dir / "tmp" / "completions",
            retry_backoff=RetryBackoff(
                settings.retry_backoff_s,
                settings.retry_backoff_max_s,
                settings.retry_backoff_jitter,
            ),
        )
        jobs.on_revoked = fanout.revoke if fanout is not None else sockets.revoke_job
        sockets.offered = jobs.offered_count
        media.attach(jobs)
        accounts = AccountService(
            db,
            now,
            access_ttl_s=settings.access_token_ttl_s,
            refresh_ttl_s=settings.refresh_token_ttl_s,
            login_limiter=LoginLimiter(
                settings.login_rate_limit_max, settings.login_rate_limit_window_s
            ),
        )
        services = Services(
            settings=settings,
            db=db,
            runners=runners,
            jobs=jobs,
            accounts=accounts,
            notifier=notifier,
            rate_limiter=RateLimiter(settings.rate_limit_max, settings.rate_limit_window_s),
            extras={"sockets": sockets, "media": media, "fanout": fanout},
        )
        sockets.runners = runners
        app.state.services = services
        await runners.ensure_registration_token()
        generated = await accounts.ensure_root(
            settings.admin_password.get_secret_value() if settings.admin_password else None
        )
        await accounts.oauth_client()
        await jobs.register_process()
        recovered = await jobs.recover_orphaned_completions()
        if recovered:
            log.warning("re-queued %d job(s) whose completion was interrupted", recovered)
        await media.start()
        for plugin in plugins or []:
            result = plugin(app, services)
            if asyncio.iscoroutine(result):
                await result
        watchdog = asyncio.create_task(_watchdog(jobs, settings.effective_watchdog_interval_s))
        if on_ready is not None:
            result = on_ready(services, generated)
            if asyncio.iscoroutine(result):
                await result
        try:
            yield
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            await media.stop()
            await jobs.drain()
            with contextlib.suppress(Exception):  # the database may be what is going away
                await jobs.unregister_process()
            await notifier.close()
            await sockets.close()
            if fanout is not None:
                await fanout.close()
            await db.dispose()

    app = FastAPI(
        title="Offload instance",
        version=__version__,
        description="PeerTube-compatible remote runner API",
        lifespan=lifespan,
        # Never redirect: a runner's POST turned into a GET loses its JSON body.
        redirect_slashes=False,
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.request_body_max_bytes)
    app.include_router(runner_api.router)
    app.include_router(admin_api.router)
    app.include_router(oauth_api.router)
    app.include_router(studio_api.router)
    app.include_router(videos_api.router)
    app.include_router(files_api.router)
    app.include_router(config_api.router)
    app.include_router(channels_api.router)
    app.include_router(metrics_api.router)
    app.include_router(static.router)
    app.include_router(ui_admin.router)

    @app.get("/api/v1/ping", tags=["ops"])
    async def ping() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    asgi = sockets.asgi_app(app)
    return (
        AccessLog(asgi, json_lines=settings.access_log_format == "json")
        if settings.access_log
        else asgi
    )


async def _watchdog(jobs: JobService, interval_s: float) -> None:
    """Re-queue stalled jobs every `interval_s`; one bad pass must not stop the next."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            moved = await jobs.reap()
            if moved:
                log.info("watchdog moved %d stalled job(s)", moved)
        except DatabaseUnavailable as exc:  # an outage, not a bug: one line per pass
            log.warning("watchdog pass skipped: %s (%s)", exc, exc.__cause__)
        except Exception:
            log.exception("watchdog pass failed")
