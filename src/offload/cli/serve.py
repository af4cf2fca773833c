"""`offload serve` (an instance: HTTP API, /runners socket, watchdog) and `offload db upgrade`."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from offload import __version__
from offload.cli.output import err

__all__ = ["db_app", "serve"]

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="TOML settings file.", envvar="OFFLOAD_CONFIG")
]


def _settings(config: Path | None, **overrides: Any) -> Any:
    from offload.settings import load_settings

    try:
        return load_settings(config, **overrides)
    except Exception as exc:
        err.print(f"[red]invalid settings:[/red] {exc}")
        raise typer.Exit(2) from exc


def _print_ready(services: Any, generated_password: str | None) -> None:
    settings = services.settings
    err.print(
        f"[bold green]Offload instance[/bold green] {__version__} listening on {settings.public_url}"
    )
    err.print(f"  database: {settings.database_url}")
    if generated_password:
        err.print(
            f"  admin login: [bold]root[/bold] / [bold]{generated_password}[/bold] (shown once)"
        )

    async def show_token() -> None:
        _, tokens = await services.runners.list_registration_tokens(0, 1, False)
        if tokens:
            err.print(f"  registration token: [bold]{tokens[0].token}[/bold]")

    return show_token()  # type: ignore[return-value]


def serve(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Listen address (OFFLOAD_LISTEN host).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (OFFLOAD_LISTEN port).")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory.", envvar="OFFLOAD_DATA_DIR")
    ] = None,
) -> None:
    """Run an instance: HTTP API, /runners socket, watchdog."""
    import uvicorn

    from offload.http.app import create_app, server_options

    overrides: dict[str, Any] = {"data_dir": data_dir}
    settings = _settings(config, **overrides)
    if host or port:
        listen = f"{host or settings.host}:{port or settings.port}"
        settings = _settings(config, **overrides, listen=listen)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.access_log_format == "json":
        # One JSON object a line, without the text prefix, for log shippers.
        access = logging.getLogger("offload.access")
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(handler)
        access.propagate = False
    server_config = uvicorn.Config(
        create_app(settings, on_ready=_print_ready),
        host=settings.host,
        port=settings.port,
        **server_options(settings),
    )
    # The socket is bound and listening before the lifespan runs, so "listening on" and the
    # registration token are printed only for a port that is really ours.
    sock = _listen(settings.host, settings.port, server_config.backlog)
    uvicorn.Server(server_config).run(sockets=[sock])


def _listen(host: str, port: int, backlog: int) -> socket.socket:
    """A listening socket on host:port, or one line saying why not and exit 1."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        _fail_listen(
            f"cannot listen on {host}:{port}: {exc.strerror}: pass another --host or OFFLOAD_LISTEN"
        )
    sock = socket.socket(family, kind, proto)
    # As uvicorn does: a restart need not wait for the old connections' TIME_WAIT to end. It
    # does not let two processes listen on one port.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            _fail_listen(
                f"port {port} on {host} is in use: stop the other process or pass --port / OFFLOAD_LISTEN"
            )
        _fail_listen(
            f"cannot listen on {host}:{port}: {exc.strerror}: pass another --host / --port or OFFLOAD_LISTEN"
        )
    return sock


def _fail_listen(message: str) -> NoReturn:
    err.print(message, style="red", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None) -> None:
    """Apply every pending migration."""
    from offload.store.database import Database

    settings = _settings(config)

    async def run() -> None:
        db = Database(str(settings.database_url))
        await db.upgrade()
        await db.dispose()

    asyncio.run(run())
    err.print(f"database at the newest schema: {settings.database_url}")
