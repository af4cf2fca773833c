"""What the operator sees: a live rich table on a terminal, log lines otherwise (text or JSON)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.logging import RichHandler
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from offload.runner.daemon import RunnerDaemon

__all__ = ["JsonFormatter", "format_duration", "jobs_table", "live_view", "setup_logging"]

_QUIET_LOGGERS = ("httpx", "socketio", "engineio", "aiohttp", "websockets")
_SILENT_LOGGERS = ("httpcore",)  # byte-level chatter, even with --verbose


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(*, verbose: bool, log_format: str, console: Console | None) -> None:
    """Configure the root logger: rich on a terminal (`console` given), plain text or JSON lines."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    handler: logging.Handler
    if log_format == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
    elif console is not None:
        handler = RichHandler(
            console=console, show_path=False, rich_tracebacks=False, log_time_format="[%X]"
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in _QUIET_LOGGERS:
        # httpx logs every request at INFO; the runner's own lines say what matters.
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
    for name in _SILENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def format_duration(seconds: float | None) -> str:
    """`95` → `1:35`, `3725` → `1:02:05`; unknown → `–`."""
    if seconds is None:
        return "–"
    seconds = max(0, int(seconds + 0.5))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def jobs_table(daemon: RunnerDaemon) -> Group:
    """The live view: one row per running job, then the instances."""
    table = Table(
        title=f"offload runner — {len(daemon.jobs)}/{daemon.config.concurrency} jobs",
        expand=True,
        title_justify="left",
    )
    for column in ("Instance", "Job", "Type", "Stage", "Progress", "Speed", "ETA", "Elapsed"):
        table.add_column(column, no_wrap=True)
    now = datetime.now(UTC)
    for job in list(daemon.jobs.values()):
        progress = Table.grid(padding=(0, 1))
        progress.add_row(
            ProgressBar(total=100, completed=job.progress, width=20), Text(f"{job.progress:3d} %")
        )
        stage = (
            job.stage
            if job.stage != "downloading"
            else f"downloading {job.downloaded_bytes / 1e6:.1f} MB"
        )
        table.add_row(
            job.link.registration.url,
            job.uuid[:8],
            job.type.removeprefix("vod-").removesuffix("-transcoding"),
            stage,
            progress,
            f"{job.speed:.1f}×" if job.speed else "–",
            format_duration(job.eta_s),
            format_duration((now - job.started_at).total_seconds()),
        )
    state = (
        "stopping"
        if daemon.stopping
        else "draining (graceful shutdown)"
        if daemon.draining
        else "taking jobs"
    )
    links = (
        ", ".join(
            f"{url} ({name}{'' if link.socket_connected else ', socket down'}{', TOKEN REFUSED' if link.rejected else ''})"
            for (url, name), link in daemon.links.items()
        )
        or "no instance registered"
    )
    return Group(table, Text(f"{state} · {links}", style="dim"))


async def live_view(daemon: RunnerDaemon, console: Console) -> None:
    """Refresh the table twice a second until cancelled."""
    with Live(jobs_table(daemon), console=console, refresh_per_second=4, transient=True) as live:
        while True:
            started = time.monotonic()
            live.update(jobs_table(daemon))
            await asyncio.sleep(max(0.1, 0.5 - (time.monotonic() - started)))
