"""Which database errors mean "try again later" (503) and which are bugs (500)."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest
import sqlalchemy as sa

from offload.domain.errors import JobNotFound
from offload.store.database import is_unavailable


def wrapped(orig: BaseException, *, invalidated: bool = False) -> sa.exc.DBAPIError:
    """What SQLAlchemy raises around a driver error."""
    error = sa.exc.DBAPIError.instance(
        "SELECT 1", {}, orig, sqlite3.Error, connection_invalidated=invalidated
    )
    assert isinstance(error, sa.exc.DBAPIError)
    return error


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        wrapped(
            sqlite3.OperationalError("connection was closed in the middle of operation"),
            invalidated=True,
        ),
        wrapped(sqlite3.OperationalError("database is locked")),
        sa.exc.TimeoutError("QueuePool limit of size 10 overflow 20 reached"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_an_unreachable_database_is_unavailable(error: BaseException) -> None:
    """Refused, lost, restarting, full or locked: the database may serve the same call later."""
    assert is_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        wrapped(sqlite3.IntegrityError("UNIQUE constraint failed: runners.name")),
        wrapped(sqlite3.OperationalError("no such table: runners")),
        JobNotFound(),
        ValueError("not a database error"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_bug_or_a_refusal_is_not_unavailable(error: BaseException) -> None:
    """A constraint, a broken query or a domain error stays what it is (400s, 409s, or 500)."""
    assert not is_unavailable(error)


def test_a_domain_error_raised_after_an_outage_is_not_unavailable() -> None:
    """A domain error whose cause was a connection error is still the domain's answer."""
    try:
        try:
            raise ConnectionResetError("reset")
        except ConnectionResetError as exc:
            raise JobNotFound() from exc
    except JobNotFound as error:
        assert not is_unavailable(error)
