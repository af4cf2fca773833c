"""`offload runner …`: the same commands and flags as the official `peertube-runner`.

Global options (`--id`, `--verbose`, and ours `--config-dir`, `--log-format`) are accepted
before or after the sub-command, as commander.js allows: `offload runner --id a server` and
`offload runner server --id a` mean the same. The daemon behind `server` is
`offload.runner`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from offload.cli.output import err, out
from offload.runner.config import RunnerConfig, RunnerPaths, runner_paths
from offload.runner.errors import DaemonNotRunning, RunnerError
from offload.runner.ipc import ipc_request

log = logging.getLogger(__name__)

__all__ = ["runner_app"]

runner_app = typer.Typer(
    help="Run jobs for PeerTube-compatible instances (a drop-in peertube-runner).",
    no_args_is_help=True,
    add_completion=False,
)

IdOpt = Annotated[
    str | None,
    typer.Option(
        "--id",
        help="Runner id: separate config, cache and socket (default: 'default').",
        envvar="OFFLOAD_RUNNER_ID",
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", help="Debug logs.")]
ConfigDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--config-dir",
        help="Directory holding config.toml (e.g. an existing peertube-runner-nodejs/<id>).",
        envvar="OFFLOAD_RUNNER_CONFIG_DIR",
    ),
]
LogFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--log-format",
        help="Log lines as text (default) or json.",
        envvar="OFFLOAD_RUNNER_LOG_FORMAT",
    ),
]


@dataclass
class _Globals:
    runner_id: str = "default"
    verbose: bool = False
    config_dir: Path | None = None
    log_format: str = "text"

    def merged(
        self, runner_id: str | None, verbose: bool, config_dir: Path | None, log_format: str | None
    ) -> _Globals:
        result = _Globals(
            runner_id=runner_id or self.runner_id,
            verbose=verbose or self.verbose,
            config_dir=config_dir or self.config_dir,
            log_format=log_format or self.log_format,
        )
        if result.log_format not in ("text", "json"):
            _fail(f"--log-format must be text or json, not {result.log_format!r}")
        return result

    @property
    def paths(self) -> RunnerPaths:
        return runner_paths(self.runner_id, self.config_dir)


@runner_app.callback()
def _main(
    ctx: typer.Context,
    runner_id: IdOpt = None,
    verbose: VerboseOpt = False,
    config_dir: ConfigDirOpt = None,
    log_format: LogFormatOpt = None,
) -> None:
    ctx.obj = _Globals().merged(runner_id, verbose, config_dir, log_format)


def _globals(
    ctx: typer.Context,
    runner_id: str | None,
    verbose: bool,
    config_dir: Path | None,
    log_format: str | None,
) -> _Globals:
    base = ctx.obj if isinstance(ctx.obj, _Globals) else _Globals()
    return base.merged(runner_id, verbose, config_dir, log_format)


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _setup_logs(options: _Globals, *, live: bool = False) -> None:
    from offload.runner.view import setup_logging

    setup_logging(
        verbose=options.verbose, log_format=options.log_format, console=err if live else None
    )


# ---- server ---------------------------------------------------------------------------------


@runner_app.command()
def server(
    ctx: typer.Context,
    enable_job: Annotated[
        list[str] | None,
        typer.Option(
            "--enable-job",
            help="Only take this job type (repeatable; default: every supported type).",
        ),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Work until no job is available, then exit.")
    ] = False,
    runner_id: IdOpt = None,
    verbose: VerboseOpt = False,
    config_dir: ConfigDirOpt = None,
    log_format: LogFormatOpt = None,
) -> None:
    """Run the daemon: take jobs from every registered instance."""
    from offload.jobs.registry import BUILTIN_KINDS
    from offload.jobs.transcription import transcription_kind
    from offload.jobs.whisper import TranscriptionOptions, engine_for
    from offload.media.errors import MediaError, MissingCapability
    from offload.media.ffmpeg import FfmpegOptions, resolve_ffmpeg_path
    from offload.media.processors import SUPPORTED_JOB_TYPES, aac_encoder
    from offload.runner.daemon import KNOWN_JOB_TYPES, RunnerDaemon
    from offload.runner.view import live_view

    options = _globals(ctx, runner_id, verbose, config_dir, log_format)
    types = list(enable_job or SUPPORTED_JOB_TYPES)
    for job_type in types:
        if job_type not in KNOWN_JOB_TYPES:
            _fail(f"unknown job type {job_type!r} (known: {', '.join(KNOWN_JOB_TYPES)})")
        if job_type not in SUPPORTED_JOB_TYPES:
            _fail(
                f"job type {job_type!r} is not supported by this runner yet (supported: {', '.join(SUPPORTED_JOB_TYPES)})"
            )
    live = options.log_format == "text" and err.is_terminal
    _setup_logs(options, live=live)
    paths = options.paths
    try:
        config = RunnerConfig.load(paths.config_file)
    except RunnerError as exc:
        _fail(str(exc))
    if not paths.config_file.exists():
        config.save()  # like the official runner: a first start writes the defaults
    ffmpeg_path = resolve_ffmpeg_path(config.ffmpeg_path)
    if shutil.which(ffmpeg_path) is None:
        _fail(
            f"ffmpeg not found or not executable: {ffmpeg_path} (set [ffmpeg] path or FFMPEG_PATH)"
        )
    nice = config.ffmpeg_nice if shutil.which("nice") else 0
    setpriv = shutil.which("setpriv") if sys.platform == "linux" else None
    # With setpriv, ffmpeg gets SIGKILL when the runner dies, even by kill -9.
    launcher = (setpriv, "--pdeathsig", "KILL", "--") if setpriv else ()
    ffmpeg = FfmpegOptions(
        path=ffmpeg_path,
        threads=config.ffmpeg_threads,
        nice=nice,
        audio_encoder=asyncio.run(aac_encoder(ffmpeg_path)),
        launcher=launcher,
    )
    view = (lambda daemon: live_view(daemon, err)) if live else None
    transcription = TranscriptionOptions(
        engine=config.transcription_engine,
        engine_path=config.transcription_engine_path,
        model=config.transcription_model,
        model_path=config.transcription_model_path,
        threads=config.ffmpeg_threads,
    )
    try:
        kinds = BUILTIN_KINDS.replacing(transcription_kind(transcription))
    except MediaError as exc:  # an unknown engine name
        _fail(str(exc))
    try:
        engine_for(transcription).check()
    except MissingCapability as exc:
        if enable_job:
            # Asked for by name: take the jobs, and each fails at once saying what to fix.
            log.warning("video-transcription jobs will fail: %s", exc)
        else:
            # Not asked for: do not take (and fail) jobs this machine cannot do.
            types = [t for t in types if t != "video-transcription"]
            log.warning("not taking video-transcription jobs: %s", exc)
    daemon = RunnerDaemon(
        paths=paths,
        config=config,
        ffmpeg=ffmpeg,
        enabled_types=types,
        kinds=kinds,
        once=once,
        view=view,
    )
    try:
        asyncio.run(daemon.run())
    except RunnerError as exc:
        _fail(str(exc))


# ---- registration ---------------------------------------------------------------------------


@runner_app.command()
def register(
    ctx: typer.Context,
    url: Annotated[str, typer.Option("--url", help="Instance URL (http:// or https://).")],
    registration_token: Annotated[
        str,
        typer.Option("--registration-token", help="ptrrt-… from Administration → Remote runners."),
    ],
    runner_name: Annotated[
        str, typer.Option("--runner-name", help="Name shown on the instance (unique there).")
    ],
    runner_description: Annotated[
        str | None, typer.Option("--runner-description", help="Optional description.")
    ] = None,
    runner_id: IdOpt = None,
    verbose: VerboseOpt = False,
    config_dir: ConfigDirOpt = None,
    log_format: LogFormatOpt = None,
) -> None:
    """Register on an instance. Works whether or not the daemon is running."""
    from offload.runner.registration import register_instance

    options = _globals(ctx, runner_id, verbose, config_dir, log_format)
    _setup_logs(options)
    paths = options.paths
    request = {
        "type": "register",
        "url": url,
        "registrationToken": registration_token,
        "runnerName": runner_name,
        "runnerDescription": runner_description,
    }

    async def run() -> str:
        try:
            await ipc_request(paths.socket, request, timeout_s=120)
            return "the running daemon takes jobs from it now"
        except DaemonNotRunning:
            await register_instance(
                paths.config_file,
                url=url,
                registration_token=registration_token,
                runner_name=runner_name,
                runner_description=runner_description,
            )
            return "start `offload runner server` to take jobs"

    try:
        note = asyncio.run(run())
    except (RunnerError, RuntimeError) as exc:
        _fail(str(exc))
    out.print(
        f"registered {runner_name!r} on {url.rstrip('/')}: {note}",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )


@runner_app.command()
def unregister(
    ctx: typer.Context,
    url: Annotated[str, typer.Option("--url", help="Instance URL.")],
    runner_name: Annotated[
        str, typer.Option("--runner-name", help="Runner name used at registration.")
    ],
    runner_id: IdOpt = None,
    verbose: VerboseOpt = False,
    config_dir: ConfigDirOpt = None,
    log_format: LogFormatOpt = None,
) -> None:
    """Unregister from an instance and forget its token."""
    from offload.runner.registration import unregister_instance

    options = _globals(ctx, runner_id, verbose, config_dir, log_format)
    _setup_logs(options)
    paths = options.paths

    async def run() -> None:
        try:
            await ipc_request(
                paths.socket,
                {"type": "unregister", "url": url, "runnerName": runner_name},
                timeout_s=120,
            )
        except DaemonNotRunning:
            await unregister_instance(paths.config_file, url=url, runner_name=runner_name)

    try:
        asyncio.run(run())
    except (RunnerError, RuntimeError) as exc:
        _fail(str(exc))
    out.print(f"unregistered {runner_name!r} from {url.rstrip('/')}", highlight=False, markup=False)


@runner_app.command("list-registered")
def list_registered(
    ctx: typer.Context,
    runner_id: IdOpt = None,
    verbose: VerboseOpt = False,
    config_dir: ConfigDirOpt = None,
    log_format: LogFormatOpt = None,
) -> None:
    """List the instances this runner is registered on (tokens are never shown)."""
    options = _globals(ctx, runner_id, verbose, config_dir, log_format)
    paths = options.paths
    try:
        servers = asyncio.run(ipc_request(paths.socket, {"type": "list-registered"}))["servers"]
    except DaemonNotRunning:
        config = RunnerConfig.load(paths.config_file)
        servers = [
            {"url": r.url, "runnerName": r.runner_name, "runnerDescription": r.runner_description}
            for r in config.registered_instances
        ]
    except (RunnerError, RuntimeError) as exc:
        _fail(str(exc))
    if options.log_format == "json":
        out.print_json(json.dumps(servers))
        return
    table = Table("Instance", "Runner name", "Runner description")
    for entry in servers:
        table.add_row(entry["url"], entry["runnerName"], entry.get("runnerDescription") or "")
    out.print(table)


@runner_app.command("list-jobs")
def list_jobs(
    ctx: typer.Context,
    include_payload: Annotated[
        bool, typer.Option("--include-payload", help="Show each job's payload.")
    ] = False,
    runner_id: IdOpt = None,
    verbose: VerboseOpt = False,
    config_dir: ConfigDirOpt = None,
    log_format: LogFormatOpt = None,
) -> None:
    """List the jobs the running daemon is processing."""
    options = _globals(ctx, runner_id, verbose, config_dir, log_format)
    try:
        data: dict[str, Any] = asyncio.run(
            ipc_request(
                options.paths.socket, {"type": "list-jobs", "includePayload": include_payload}
            )
        )
    except (RunnerError, RuntimeError) as exc:
        _fail(str(exc))
    if options.log_format == "json":
        out.print_json(json.dumps(data))
        return
    jobs = data["processingJobs"]
    out.print(f"Processing {len(jobs)}/{data['concurrency']} jobs")
    columns = ["Instance", "Job", "Type", "Started at", "Stage", "Progress"] + (
        ["Payload"] if include_payload else []
    )
    table = Table(*columns)
    for entry in jobs:
        job = entry["job"]
        row = [
            entry["serverUrl"],
            job["uuid"],
            job["type"],
            job["startedAt"],
            job.get("stage", ""),
            f"{job['progress']} %",
        ]
        if include_payload:
            row.append(json.dumps(job.get("payload"), indent=2))
        table.add_row(*row)
    out.print(table)


@runner_app.command("graceful-shutdown")
def graceful_shutdown(
    ctx: typer.Context,
    runner_id: IdOpt = None,
    verbose: VerboseOpt = False,
    config_dir: ConfigDirOpt = None,
    log_format: LogFormatOpt = None,
) -> None:
    """Stop taking jobs; the daemon exits when the running ones are done."""
    options = _globals(ctx, runner_id, verbose, config_dir, log_format)
    try:
        asyncio.run(ipc_request(options.paths.socket, {"type": "graceful-shutdown"}))
    except (RunnerError, RuntimeError) as exc:
        _fail(str(exc))
    out.print("graceful shutdown requested: no new jobs, the daemon exits after the running ones")


@runner_app.command("get-config-file-path")
def get_config_file_path(
    ctx: typer.Context,
    runner_id: IdOpt = None,
    verbose: VerboseOpt = False,
    config_dir: ConfigDirOpt = None,
    log_format: LogFormatOpt = None,
) -> None:
    """Print the path of config.toml."""
    options = _globals(ctx, runner_id, verbose, config_dir, log_format)
    sys.stdout.write(f"{options.paths.config_file}\n")
