"""The database handle: async engine, SQLite tuning, write serialisation, migrations, and the
one place where "the database cannot be reached" becomes `DatabaseUnavailable`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from offload.domain.errors import OffloadError

__all__ = ["Database", "DatabaseUnavailable", "alembic_config", "is_unavailable"]

_MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: pg_advisory_xact_lock key serialising migrations ("offl" in ASCII).
_MIGRATION_LOCK_KEY = 0x6F66666C


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at our migrations, usable without an alembic.ini."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


class DatabaseUnavailable(OffloadError):
    """Database unavailable, try again later"""


#: What the server or the network says when the database is down, restarting or full of
#: clients (asyncpg's own classes; SQLAlchemy wraps them, or lets them through on connect).
_PG_UNAVAILABLE = (
    asyncpg.PostgresConnectionError,  # class 08, and a connection lost mid-query
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)
#: SQLite's answer when another process has held the write lock past the busy timeout.
_SQLITE_BUSY = ("database is locked", "database is busy")


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means "the database cannot serve us right now" rather than a bug: the
    connection was refused or lost, the server is restarting, the pool or SQLite's lock did not
    free up in time. Retrying later can succeed; nothing about the request was wrong."""
    current: BaseException | None = exc
    for _ in range(8):  # SQLAlchemy error → adapted DBAPI error → asyncpg's: a short chain
        if current is None or isinstance(current, OffloadError):
            return False
        if isinstance(current, sa.exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sa.exc.TimeoutError):  # no pooled connection came free in time
            return True
        if isinstance(current, sa.exc.OperationalError) and any(
            m in str(current.orig) for m in _SQLITE_BUSY
        ):
            return True
        if isinstance(current, (ConnectionError, *_PG_UNAVAILABLE)):
            return True
        current = (
            current.orig
            if isinstance(current, sa.exc.DBAPIError) and current.orig is not None
            else current.__cause__
        )
    return False


@contextlib.contextmanager
def _unavailable_as_domain_error() -> Iterator[None]:
    try:
        yield
    except DatabaseUnavailable:
        raise
    except Exception as exc:
        if is_unavailable(exc):
            raise DatabaseUnavailable() from exc
        raise


class Database:
    """One async engine plus the rules that keep each backend consistent.

    SQLite allows one writer at a time; concurrent write transactions from one process would
    fail with "database is locked" instead of queueing. Writes therefore take an in-process
    lock on SQLite (one instance process per SQLite file), while PostgreSQL relies on its own
    row locks. Either way every transition is a single conditional UPDATE, so the database has
    the last word on races.

    Connections and transactions come from `read` and `write` only, which turn a database that
    cannot be reached (down, restarting, locked by another process) into `DatabaseUnavailable`
    (a 503 for HTTP callers). Nothing needs to be reset once it is back: PostgreSQL connections
    are pinged as they leave the pool, so the ones the outage killed are replaced.
    """

    def __init__(
        self, url: str, *, echo: bool = False, sqlite_busy_timeout_s: float = 30.0
    ) -> None:
        self.url = url
        self.dialect = sa.engine.make_url(url).get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": sqlite_busy_timeout_s}
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            busy_timeout_ms = int(sqlite_busy_timeout_s * 1000)
            sa.event.listen(
                self.engine.sync_engine,
                "connect",
                lambda dbapi_connection, _record: _sqlite_on_connect(
                    dbapi_connection, busy_timeout_ms
                ),
            )
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        with _unavailable_as_domain_error():
            async with self.engine.connect() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: committed on success, rolled back on error."""
        with _unavailable_as_domain_error():
            if self._write_lock is None:
                async with self.engine.begin() as conn:
                    yield conn
                return
            async with self._write_lock:
                async with self.engine.begin() as conn:
                    yield conn

    async def upgrade(self) -> None:
        """Bring the schema to the newest migration."""
        if self.is_sqlite:
            path = sa.engine.make_url(self.url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        async with self.engine.begin() as conn:
            if not self.is_sqlite:
                # Processes starting together on one database migrate one after the other;
                # the lock goes with the transaction.
                await conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            await conn.run_sync(_upgrade_head)

    async def dispose(self) -> None:
        await self.engine.dispose()


def _upgrade_head(connection: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


def _sqlite_on_connect(dbapi_connection: Any, busy_timeout_ms: int) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run while one writer writes; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    cursor.close()
