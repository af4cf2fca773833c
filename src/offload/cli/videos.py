"""`offload videos …`: upload files to an instance (resumable, with a progress bar), list them,
edit them in the studio, and list or generate their captions.

Uploads use PeerTube's resumable protocol, so a dropped connection resumes where the instance
stopped receiving instead of starting over.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from offload.cli.output import err, out

__all__ = ["videos_app"]

videos_app = typer.Typer(
    help="Upload, list and edit videos, and their captions.", no_args_is_help=True
)

#: Network calls give up after this long without progress.
TIMEOUT_S = 60.0
#: A chunk that fails is retried (after asking the instance how far it got) this many times.
CHUNK_RETRIES = 5

UrlOpt = Annotated[str, typer.Option("--url", help="Instance URL.", envvar="OFFLOAD_URL")]
UserOpt = Annotated[
    str, typer.Option("--username", help="Admin user name.", envvar="OFFLOAD_USERNAME")
]
PasswordOpt = Annotated[
    str | None,
    typer.Option(
        "--password",
        help="Admin password (prompted when missing).",
        envvar="OFFLOAD_ADMIN_PASSWORD",
    ),
]


class UploadFailed(Exception):
    """The instance refused the upload."""


def _login(client: httpx.Client, username: str, password: str) -> str:
    oauth = client.get("/api/v1/oauth-clients/local")
    oauth.raise_for_status()
    r = client.post(
        "/api/v1/users/token",
        data={**oauth.json(), "grant_type": "password", "username": username, "password": password},
    )
    if r.status_code != 200:
        raise UploadFailed(f"login refused: {_detail(r)}")
    return str(r.json()["access_token"])


@contextlib.contextmanager
def _admin_client(url: str, username: str, password: str | None) -> Iterator[httpx.Client]:
    """A client logged in as `username` (the password prompted when not given); exit 1 with
    the reason when the login fails."""
    if password is None:
        password = typer.prompt(f"password of {username}", hide_input=True)
    with httpx.Client(base_url=url.rstrip("/"), timeout=TIMEOUT_S) as client:
        try:
            token = _login(client, username, password)
        except (UploadFailed, httpx.HTTPError) as exc:
            err.print(f"[red]cannot log in to {url}:[/red] {exc}")
            raise typer.Exit(1) from exc
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def _detail(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return f"HTTP {r.status_code}"
    return (
        str(body.get("detail") or body.get("error") or body)
        if isinstance(body, dict)
        else str(body)
    )


def _held(r: httpx.Response) -> int:
    match = re.fullmatch(r"bytes=0-(\d+)", r.headers.get("range", ""))
    return int(match.group(1)) + 1 if match else 0


def upload_file(
    client: httpx.Client, path: Path, name: str, chunk_bytes: int, progress: Progress
) -> dict[str, Any]:
    """Send one file resumably; returns the instance's `{id, uuid, shortUUID}`."""
    size = path.stat().st_size
    r = client.post(
        "/api/v1/videos/upload-resumable",
        json={"name": name, "filename": path.name},
        headers={
            "X-Upload-Content-Length": str(size),
            "X-Upload-Content-Type": "application/octet-stream",
        },
    )
    if r.status_code != 201:
        raise UploadFailed(_detail(r))
    location = r.headers["location"]
    task = progress.add_task(path.name, total=size)
    offset, failures = 0, 0
    with path.open("rb") as handle:
        while True:
            handle.seek(offset)
            data = handle.read(chunk_bytes)
            try:
                r = client.put(
                    location,
                    content=data,
                    headers={"Content-Range": f"bytes {offset}-{offset + len(data) - 1}/{size}"},
                )
            except httpx.TransportError:
                failures += 1
                if failures > CHUNK_RETRIES:
                    raise
                time.sleep(min(2.0**failures, 30.0))
                # Ask how much arrived before the connection broke, and go on from there.
                r = client.put(location, content=b"", headers={"Content-Range": f"bytes */{size}"})
            if r.status_code == 308:
                offset = _held(r)
                progress.update(task, completed=offset)
                continue
            if r.status_code == 200:
                progress.update(task, completed=size)
                return dict(r.json()["video"])
            raise UploadFailed(_detail(r))


def _playable_url(video: dict[str, Any]) -> str | None:
    if video.get("streamingPlaylists"):
        return str(video["streamingPlaylists"][0]["playlistUrl"])
    if video.get("files"):
        return str(video["files"][0]["fileUrl"])
    return None


#: Video states that mean "not done yet": to transcode, to edit.
_BUSY_STATES = frozenset({2, 9})


def _wait(
    client: httpx.Client, uuid: str, timeout_s: float, what: str = "transcoding"
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    with err.status(f"{what} {uuid}…"):
        while True:
            video = client.get(f"/api/v1/videos/{uuid}").json()
            if video["state"]["id"] not in _BUSY_STATES or time.monotonic() > deadline:
                return dict(video)
            time.sleep(1.0)


@videos_app.command("upload")
def upload(
    files: Annotated[
        list[Path],
        typer.Argument(help="Video or audio files.", exists=True, dir_okay=False, readable=True),
    ],
    url: UrlOpt = "http://127.0.0.1:9000",
    username: UserOpt = "root",
    password: PasswordOpt = None,
    name: Annotated[
        str | None, typer.Option(help="Video name (one file only; default: the file name).")
    ] = None,
    chunk_mb: Annotated[int, typer.Option(help="Chunk size in MiB.", min=1)] = 8,
    wait: Annotated[
        bool, typer.Option(help="Wait until each video is published (or fails).")
    ] = False,
    wait_timeout_s: Annotated[float, typer.Option(help="How long --wait waits per video.")] = 600.0,
) -> None:
    """Upload files (resumable) and print where to find them."""
    if name is not None and len(files) > 1:
        raise typer.BadParameter("--name works with one file only")
    failed = 0
    with _admin_client(url, username, password) as client:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        for path in files:
            title = name or path.stem
            if len(title) < 3:
                title = f"{title} video"
            try:
                with Progress(*columns, console=err, transient=False) as progress:
                    video = upload_file(client, path, title[:120], chunk_mb * 1024 * 1024, progress)
            except (UploadFailed, httpx.HTTPError) as exc:
                err.print(f"[red]{path.name}: refused[/red] {exc}")
                failed += 1
                continue
            err.print(
                f"[green]{path.name}[/green] → video {video['uuid']}  {url.rstrip('/')}/api/v1/videos/{video['uuid']}"
            )
            if wait:
                details = _wait(client, video["uuid"], wait_timeout_s)
                state = details["state"]["label"]
                playable = _playable_url(details)
                if details["state"]["id"] == 1 and playable:
                    err.print(f"  {state}: {playable}")
                    typer.echo(playable)
                else:
                    err.print(f"  [red]{state}[/red] {details.get('transcodingError') or ''}")
                    failed += 1
    if failed:
        raise typer.Exit(1)


@videos_app.command("list")
def list_videos(
    url: UrlOpt = "http://127.0.0.1:9000", count: Annotated[int, typer.Option(min=1, max=100)] = 15
) -> None:
    """List the newest videos with their state."""
    with httpx.Client(base_url=url.rstrip("/"), timeout=TIMEOUT_S) as client:
        body = client.get("/api/v1/videos", params={"count": count}).json()
    table = Table("id", "uuid", "name", "duration", "state")
    for v in body["data"]:
        table.add_row(str(v["id"]), v["uuid"], v["name"], f"{v['duration']} s", v["state"]["label"])
    out.print(table)
    err.print(f"{body['total']} video(s)")


_CUT_RE = re.compile(r"^(\d*):(\d*)$")
_SEGMENT_RE = re.compile(r"^(\d+)-(\d+)$")


def studio_tasks(
    cut: str | None,
    remove: list[str],
    intro: Path | None,
    outro: Path | None,
    watermark: Path | None,
) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """The edit's multipart fields and file parts, tasks in a fixed order: cut, remove-segments,
    add-intro, add-outro, add-watermark."""
    data: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    index = 0
    if cut is not None:
        match = _CUT_RE.match(cut)
        if not match or not (match.group(1) or match.group(2)):
            raise typer.BadParameter("--cut is START:END in whole seconds (either may be left out)")
        data[f"tasks[{index}][name]"] = "cut"
        for key, value in (("start", match.group(1)), ("end", match.group(2))):
            if value:
                data[f"tasks[{index}][options][{key}]"] = value
        index += 1
    if remove:
        data[f"tasks[{index}][name]"] = "remove-segments"
        for j, segment in enumerate(remove):
            match = _SEGMENT_RE.match(segment)
            if not match:
                raise typer.BadParameter("--remove is START-END in whole seconds")
            data[f"tasks[{index}][options][segments][{j}][start]"] = match.group(1)
            data[f"tasks[{index}][options][segments][{j}][end]"] = match.group(2)
        index += 1
    for name, path in (("add-intro", intro), ("add-outro", outro), ("add-watermark", watermark)):
        if path is not None:
            data[f"tasks[{index}][name]"] = name
            files[f"tasks[{index}][options][file]"] = (path.name, path.read_bytes())
            index += 1
    if not index:
        raise typer.BadParameter(
            "give at least one of --cut, --remove, --intro, --outro, --watermark"
        )
    return data, files


@videos_app.command("edit")
def edit(
    video: Annotated[str, typer.Argument(help="Video id, UUID or short UUID.")],
    cut: Annotated[
        str | None, typer.Option(help="Keep START:END (seconds; ':30' or '5:' for one end).")
    ] = None,
    remove: Annotated[
        list[str], typer.Option(help="Remove START-END (seconds); repeat for more segments.")
    ] = [],  # noqa: B006 - typer reads the default, never mutates it
    intro: Annotated[
        Path | None, typer.Option(help="Video to put before.", exists=True, dir_okay=False)
    ] = None,
    outro: Annotated[
        Path | None, typer.Option(help="Video to put after.", exists=True, dir_okay=False)
    ] = None,
    watermark: Annotated[
        Path | None,
        typer.Option(help="Picture to overlay (top right).", exists=True, dir_okay=False),
    ] = None,
    url: UrlOpt = "http://127.0.0.1:9000",
    username: UserOpt = "root",
    password: PasswordOpt = None,
    wait: Annotated[
        bool, typer.Option(help="Wait until the edited video is published (or the edit fails).")
    ] = False,
    wait_timeout_s: Annotated[float, typer.Option(help="How long --wait waits.")] = 900.0,
) -> None:
    """Edit a video in the studio (PeerTube's tasks, run by a runner or the instance)."""
    data, files = studio_tasks(cut, remove, intro, outro, watermark)
    with _admin_client(url, username, password) as client:
        before = client.get(f"/api/v1/videos/{video}")
        if before.status_code != 200:
            err.print(f"[red]video {video}:[/red] {_detail(before)}")
            raise typer.Exit(1)
        r = client.post(f"/api/v1/videos/{video}/studio/edit", data=data, files=files or None)
        if r.status_code != 204:
            err.print(f"[red]edit refused:[/red] {_detail(r)}")
            raise typer.Exit(1)
        uuid = before.json()["uuid"]
        err.print(f"[green]edit queued[/green] for video {uuid}")
        if not wait:
            return
        details = _wait(client, uuid, wait_timeout_s, "editing")
        error = details.get("transcodingError")
        if details["state"]["id"] == 1 and error == before.json().get("transcodingError"):
            err.print(f"  {details['state']['label']}: {details['duration']} s")
            typer.echo(_playable_url(details) or uuid)
        else:
            err.print(f"  [red]{details['state']['label']}[/red] {error or ''}")
            raise typer.Exit(1)


@videos_app.command("captions")
def captions(
    video: Annotated[str, typer.Argument(help="Video id or UUID.")],
    url: UrlOpt = "http://127.0.0.1:9000",
) -> None:
    """List a video's captions (language, automatic or not, file URL)."""
    with httpx.Client(base_url=url.rstrip("/"), timeout=TIMEOUT_S) as client:
        r = client.get(f"/api/v1/videos/{video}/captions")
    if r.status_code != 200:
        err.print(f"[red]cannot list the captions of {video}:[/red] {_detail(r)}")
        raise typer.Exit(1)
    body = r.json()
    table = Table("language", "automatic", "file")
    for caption in body["data"]:
        table.add_row(
            f"{caption['language']['id']} ({caption['language']['label']})",
            "yes" if caption["automaticallyGenerated"] else "no",
            caption["fileUrl"],
        )
    out.print(table)
    err.print(f"{body['total']} caption(s)")


@videos_app.command("generate-captions")
def generate_captions(
    video: Annotated[str, typer.Argument(help="Video id or UUID.")],
    url: UrlOpt = "http://127.0.0.1:9000",
    username: UserOpt = "root",
    password: PasswordOpt = None,
) -> None:
    """Ask for an automatic transcription of a video (a `video-transcription` job)."""
    with _admin_client(url, username, password) as client:
        r = client.post(f"/api/v1/videos/{video}/captions/generate")
    if r.status_code != 204:
        err.print(f"[red]transcription of {video} refused:[/red] {_detail(r)}")
        raise typer.Exit(1)
    err.print(f"transcription of {video} queued: `offload videos captions {video}` once it is done")
