"""`offload demo`, the main job: an instance on SQLite, a local runner, a generated clip
uploaded and transcoded into PeerTube's ladder, then cut in the studio (the runner edits it and
transcodes the ladder again; a storyboard follows), then the places to look.

The instance and the runner are `offload serve` and `offload runner server` in subprocesses,
as a user would start them."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from offload.cli.output import err

__all__ = ["DemoResult", "demo", "run_demo"]

_PUBLISHED, _FAILED = 1, 7
_TERMINAL_JOB_STATES = {3, 4, 6, 7, 8}
_STORYBOARD = "generate-video-storyboard"
#: The studio cut the demo makes: seconds 1 to 4 of the 4 s clip.
_CUT = (1, 4)


@dataclass(frozen=True)
class DemoResult:
    url: str
    video_uuid: str
    published: bool
    admin_password: str
    #: The studio cut went through and the cut video is published.
    edited: bool = False


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _offload(*args: str) -> list[str]:
    return [sys.executable, "-m", "offload.cli", *args]


def make_clip(path: Path, seconds: float = 4.0, size: str = "1280x720") -> Path:
    """A test pattern with a tone, made by ffmpeg's lavfi sources."""
    from offload.media.ffmpeg import resolve_ffmpeg_path

    ffmpeg = resolve_ffmpeg_path(None)
    subprocess.run(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )  # fmt: skip
    return path


@contextlib.contextmanager
def _process(
    cmd: list[str], log_path: Path, env: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    log = log_path.open("wb")
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def _wait(predicate: Any, timeout_s: float, what: str, interval_s: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


def run_demo(
    data_dir: Path, port: int, *, exit_when_done: bool, console: Console, timeout_s: float = 600
) -> DemoResult:
    data_dir = data_dir.resolve()
    # SIGTERM (a supervisor, `timeout`) must unwind like Ctrl-C does, so the `finally` blocks
    # below stop the instance and runner processes instead of leaving them behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    # Each demo starts from scratch so what it prints is the whole story.
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    if not _port_free(port):
        port = _free_port()
    url = f"http://127.0.0.1:{port}"
    password = secrets.token_urlsafe(12)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFLOAD_")}
    env.update(
        OFFLOAD_DATA_DIR=str(data_dir / "instance"),
        OFFLOAD_LISTEN=f"127.0.0.1:{port}",
        OFFLOAD_ADMIN_PASSWORD=password,
        OFFLOAD_LOG_LEVEL="warning",
    )
    runner_dir = data_dir / "runner"
    console.print(f"[bold]Offload demo[/bold] in {data_dir}")
    with _process(_offload("serve"), data_dir / "instance.log", env) as instance:

        def instance_up() -> bool:
            if instance.poll() is not None:
                raise RuntimeError(f"the instance exited; see {data_dir / 'instance.log'}")
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(url + "/api/v1/ping", timeout=1).status_code == 200
            return False

        _wait(instance_up, 60, "the instance")
        console.print(f"  instance up at {url} (SQLite: {data_dir / 'instance' / 'offload.db'})")
        with httpx.Client(base_url=url, timeout=60) as http:
            client = http.get("/api/v1/oauth-clients/local").json()
            token = http.post(
                "/api/v1/users/token",
                data={**client, "grant_type": "password", "username": "root", "password": password},
            )
            token.raise_for_status()
            http.headers["Authorization"] = "Bearer " + token.json()["access_token"]
            registration = http.get("/api/v1/runners/registration-tokens").json()["data"][0][
                "registrationToken"
            ]
            subprocess.run(
                _offload("runner", "register", "--config-dir", str(runner_dir), "--url", url, "--registration-token", registration, "--runner-name", "demo-runner"),
                check=True, env=env, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            console.print("  runner 'demo-runner' registered; starting `offload runner server`")
            with _process(
                _offload("runner", "server", "--config-dir", str(runner_dir)),
                data_dir / "runner.log",
                env,
            ) as runner:
                clip = make_clip(data_dir / "clip.mp4")
                console.print(
                    f"  generated {clip.name}: 4 s of 1280x720 test pattern with a 440 Hz tone"
                )
                with clip.open("rb") as f:
                    uploaded = http.post(
                        "/api/v1/videos/upload",
                        data={"name": "Offload demo clip"},
                        files={"videofile": ("clip.mp4", f, "video/mp4")},
                    )
                uploaded.raise_for_status()
                video_uuid = uploaded.json()["video"]["uuid"]
                video = _watch(
                    http, video_uuid, runner, data_dir, console, timeout_s, "transcoding jobs", 1
                )
                published = video["state"]["id"] == _PUBLISHED
                edited = False
                if published:
                    video, edited = _edit(http, video, runner, data_dir, console, timeout_s)
                _report(console, url, password, video, published, data_dir)
                if not exit_when_done and published:
                    console.print("\nCtrl-C stops the instance and the runner.")
                    with contextlib.suppress(KeyboardInterrupt):
                        while instance.poll() is None and runner.poll() is None:
                            time.sleep(0.5)
    return DemoResult(
        url=url,
        video_uuid=video_uuid,
        published=published,
        admin_password=password,
        edited=edited,
    )


def _edit(
    http: httpx.Client,
    video: dict[str, Any],
    runner: subprocess.Popen[bytes],
    data_dir: Path,
    console: Console,
    timeout_s: float,
) -> tuple[dict[str, Any], bool]:
    """A studio cut of the published video, run by the runner; the video keeps playing its
    old files until the cut one and its new ladder are in."""
    start, end = _CUT
    r = http.post(
        f"/api/v1/videos/{video['uuid']}/studio/edit",
        json={"tasks": [{"name": "cut", "options": {"start": start, "end": end}}]},
    )
    if r.status_code != 204:
        console.print(f"[red]studio edit refused:[/red] {r.text}")
        return video, False
    console.print(
        f"  studio: cut to seconds {start}–{end}; the runner edits, then transcodes again"
    )
    edited = _watch(
        http, video["uuid"], runner, data_dir, console, timeout_s, "studio edit + new ladder", 2
    )
    ok = edited["state"]["id"] == _PUBLISHED and not edited.get("transcodingError")
    if ok:
        console.print(f"  edited: {video['duration']} s → {edited['duration']} s")
    else:
        console.print(f"[red]studio edit failed:[/red] {edited.get('transcodingError')}")
    return edited, ok


def _watch(
    http: httpx.Client,
    video_uuid: str,
    runner: subprocess.Popen[bytes],
    data_dir: Path,
    console: Console,
    timeout_s: float,
    what: str,
    storyboards: int,
) -> dict[str, Any]:
    """Follow the video's jobs until it is published (or failed) with every job ended and
    `storyboards` storyboard jobs among them (they are planned just after publication)."""
    deadline = time.monotonic() + timeout_s
    columns = (
        TextColumn("  {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(what, total=None)
        settled_at: float | None = None
        while True:
            video = http.get(f"/api/v1/videos/{video_uuid}").json()
            jobs = video.get("jobs", [])
            done = sum(1 for j in jobs if j["state"]["id"] in _TERMINAL_JOB_STATES)
            progress.update(task, total=len(jobs) or None, completed=done)
            settled = video["state"]["id"] in (_PUBLISHED, _FAILED) and done == len(jobs)
            boards = sum(1 for j in jobs if j["type"] == _STORYBOARD)
            if settled and (boards >= storyboards or video["state"]["id"] == _FAILED):
                return dict(video)
            # A video too short for a storyboard gets none: give the planner a few seconds.
            settled_at = (settled_at or time.monotonic()) if settled else None
            if settled_at is not None and time.monotonic() - settled_at > 10:
                return dict(video)
            if runner.poll() is not None:
                raise RuntimeError(f"the runner exited; see {data_dir / 'runner.log'}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the video was not transcoded within {timeout_s:.0f} s; see {data_dir}/*.log"
                )
            time.sleep(0.5)


def _report(
    console: Console,
    url: str,
    password: str,
    video: dict[str, Any],
    published: bool,
    data_dir: Path,
) -> None:
    if not published:
        console.print(f"[red]transcoding failed:[/red] {video.get('transcodingError')}")
        return
    console.print(f"\n[bold green]Published[/bold green] {video['name']!r} ({video['uuid']})")
    for playlist in video.get("streamingPlaylists", []):
        console.print(f"  HLS master playlist: {playlist['playlistUrl']}")
    for file in video.get("files", []):
        console.print(f"  MP4 {file['resolution']['label']}: {file['fileUrl']}")
    boards = httpx.get(f"{url}/api/v1/videos/{video['uuid']}/storyboards", timeout=10).json()
    for board in boards.get("storyboards", []):
        console.print(
            f"  storyboard: {url}{board['storyboardPath']}  "
            f"({board['totalWidth']}x{board['totalHeight']}, a sprite every {board['spriteDuration']} s)"
        )
    console.print(f"  admin UI: {url}/admin  (login root / {password})")
    console.print(f"  video page: {url}/admin/videos/{video['uuid']}")
    console.print(f"  runner jobs: {url}/admin/jobs   API: {url}/api/v1/runners/jobs")
    console.print(f"  logs: {data_dir / 'instance.log'}, {data_dir / 'runner.log'}")
    console.print(
        f"  play it: ffplay {video['streamingPlaylists'][0]['playlistUrl'] if video.get('streamingPlaylists') else ''}"
    )


def demo(
    data_dir: Annotated[
        Path, typer.Option(help="Where the demo keeps its data (wiped at start).")
    ] = Path("offload-data/demo"),
    port: Annotated[
        int, typer.Option(help="Port of the demo instance (another free one if taken).")
    ] = 9000,
    exit_when_done: Annotated[
        bool, typer.Option("--exit-when-done", help="Stop once the clip is transcoded.")
    ] = False,
) -> None:
    """The main job: instance on SQLite + local runner transcoding and editing a generated clip."""
    try:
        result = run_demo(
            data_dir, port, exit_when_done=exit_when_done, console=Console(soft_wrap=True)
        )
    except (RuntimeError, TimeoutError) as exc:
        err.print(f"[red]demo failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    if not (result.published and result.edited):
        raise typer.Exit(1)
