"""Users and PeerTube's OAuth2 login flow (password and refresh grants) for admin clients."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from offload.domain import tokens
from offload.domain.errors import OffloadError
from offload.instance.login_limits import LoginLimiter
from offload.store.accounts import AccountRepository, ConfigRepository
from offload.store.database import Database

__all__ = [
    "ROLE_ADMIN",
    "ROLE_MODERATOR",
    "ROLE_USER",
    "AccountService",
    "InvalidGrant",
    "IssuedToken",
    "TooManyLogins",
    "User",
]

ROLE_ADMIN = 0
ROLE_MODERATOR = 1
ROLE_USER = 2

#: scrypt with N=2^14, r=8, p=1: 16 MiB and ~40 ms a hash on one core of a small server.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
#: Hashes computed at once. Each takes a core for its whole time (hashlib.scrypt releases the
#: GIL), so a flood of logins queues here and leaves the other cores, the event loop and the
#: shared thread pool (file moves, probes) to everything else.
_HASHING_THREADS = max(1, (os.cpu_count() or 2) // 2)


class InvalidGrant(OffloadError):
    """Invalid grant: user credentials are invalid"""

    code = "invalid_grant"


class TooManyLogins(OffloadError):
    """Too many requests, please try again later."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__()
        #: Whole seconds until the next login may be tried (the `Retry-After` header).
        self.retry_after_s = retry_after_s


class InvalidClient(OffloadError):
    """Invalid client: client is invalid"""

    code = "invalid_client"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: int

    @property
    def is_admin(self) -> bool:
        return self.role == ROLE_ADMIN

    @property
    def can_bypass_rate_limit(self) -> bool:
        return self.role in (ROLE_ADMIN, ROLE_MODERATOR)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_token_expires_in: int

    def to_wire(self) -> dict[str, Any]:
        return {
            "token_type": "Bearer",
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_in": self.expires_in,
            "refresh_token_expires_in": self.refresh_token_expires_in,
        }


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(key).decode()


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, key_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    key = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt_b64), **_SCRYPT)
    return hmac.compare_digest(key, base64.b64decode(key_b64))


def _user(row: dict[str, Any]) -> User:
    return User(id=row["id"], username=row["username"], role=row["role"])


class AccountService:
    def __init__(
        self,
        db: Database,
        now: Callable[[], datetime],
        *,
        access_ttl_s: float,
        refresh_ttl_s: float,
        login_limiter: LoginLimiter,
    ) -> None:
        self.db = db
        self.now = now
        self.repo = AccountRepository()
        self.config = ConfigRepository()
        self.access_ttl = timedelta(seconds=access_ttl_s)
        self.refresh_ttl = timedelta(seconds=refresh_ttl_s)
        self.login_limiter = login_limiter
        self._hashing = asyncio.Semaphore(_HASHING_THREADS)
        self._unknown_user_hash: str | None = None

    async def _hash(self, password: str) -> str:
        # Off the event loop: a hash blocks its thread for tens of milliseconds.
        async with self._hashing:
            return await asyncio.to_thread(hash_password, password)

    async def _check(self, password: str, stored: str) -> bool:
        async with self._hashing:
            return await asyncio.to_thread(check_password, password, stored)

    async def ensure_root(self, password: str | None) -> str | None:
        """Create `root` on first start; returns the generated password to print, if any.

        A configured password always wins, so an operator can reset a lost one by setting
        OFFLOAD_ADMIN_PASSWORD and restarting.
        """
        async with self.db.write() as conn:
            root = await self.repo.get_user_by_name(conn, "root")
            if root is None:
                generated = None
                if password is None:
                    generated = password = secrets.token_urlsafe(12)
                await self.repo.insert_user(
                    conn,
                    username="root",
                    email="admin@localhost",
                    password_hash=await self._hash(password),
                    role=ROLE_ADMIN,
                    now=self.now(),
                    video_quota=-1,  # root is unlimited, as PeerTube's
                    video_quota_daily=-1,
                )
                return generated
            if password is not None and not await self._check(password, root["password_hash"]):
                await self.repo.set_password(conn, root["id"], await self._hash(password))
        return None

    async def create_user(
        self,
        username: str,
        password: str,
        role: int,
        email: str | None = None,
        *,
        video_quota: int | None = None,
        video_quota_daily: int | None = None,
    ) -> User:
        """Quotas left None follow the instance's default for users."""
        password_hash = await self._hash(password)
        async with self.db.write() as conn:
            row = await self.repo.insert_user(
                conn,
                username=username,
                email=email,
                password_hash=password_hash,
                role=role,
                now=self.now(),
                video_quota=video_quota,
                video_quota_daily=video_quota_daily,
            )
        return _user(row)

    async def get_user(self, user_id: int) -> User | None:
        async with self.db.read() as conn:
            row = await self.repo.get_user(conn, user_id)
        return _user(row) if row else None

    async def find_user(self, username: str) -> User | None:
        """A user by name, case-insensitive (as logins)."""
        async with self.db.read() as conn:
            row = await self.repo.get_user_by_name(conn, username)
        return _user(row) if row else None

    async def list_users(self, start: int, count: int) -> tuple[int, list[User]]:
        async with self.db.read() as conn:
            total, rows = await self.repo.list_users(conn, start, count)
        return total, [_user(r) for r in rows]

    async def username_taken(self, username: str) -> bool:
        async with self.db.read() as conn:
            return await self.repo.get_user_by_name(conn, username) is not None

    async def oauth_client(self) -> dict[str, str]:
        """The instance's single local OAuth client (PeerTube's `oauth-clients/local`)."""
        # Every login reads it: a plain read, so logins do not queue on SQLite's write lock.
        async with self.db.read() as conn:
            client = await self.config.get(conn, "oauth_client")
        if client is not None:
            return dict(client)
        async with self.db.write() as conn:
            client = await self.config.get(conn, "oauth_client")
            if client is None:
                client = {
                    "client_id": secrets.token_hex(16),
                    "client_secret": secrets.token_hex(16),
                }
                await self.config.put(conn, "oauth_client", client)
        return dict(client)

    async def check_client(self, client_id: str | None, client_secret: str | None) -> None:
        client = await self.oauth_client()
        if not (
            client_id
            and client_secret
            and hmac.compare_digest(client_id.encode(), client["client_id"].encode())
            and hmac.compare_digest(client_secret.encode(), client["client_secret"].encode())
        ):
            raise InvalidClient()

    async def password_grant(
        self, username: str, password: str, *, client_ip: str | None
    ) -> IssuedToken:
        """Log in; failures count against the client's address and the username.

        Raises:
            TooManyLogins: the address or the username has used its failures for now.
            InvalidGrant: unknown user or wrong password.
        """
        # Per username too, so guesses spread over many addresses still end; the cost is that
        # they can lock the user out of password logins for one window (refresh tokens and
        # sessions already issued keep working).
        keys = (f"ip:{client_ip or 'unknown'}", f"user:{username.lower()}")
        retry_after_s = self.login_limiter.begin(keys)
        if retry_after_s is not None:
            raise TooManyLogins(retry_after_s)
        async with self.db.read() as conn:
            row = await self.repo.get_user_by_name(conn, username)
        if row is None:
            # Check against a hash anyway so an unknown user takes as long as a wrong password.
            if self._unknown_user_hash is None:
                self._unknown_user_hash = await self._hash(secrets.token_urlsafe(16))
            await self._check(password, self._unknown_user_hash)
            raise InvalidGrant()
        if not await self._check(password, row["password_hash"]):
            raise InvalidGrant()
        self.login_limiter.forgive(keys)
        return await self._issue(row["id"])

    async def refresh_grant(self, refresh_token: str) -> IssuedToken:
        async with self.db.write() as conn:
            user_id = await self.repo.take_refresh(conn, tokens.digest(refresh_token), self.now())
        if user_id is None:
            raise InvalidGrant("Invalid grant: refresh token is invalid")
        return await self._issue(user_id)

    async def _issue(self, user_id: int) -> IssuedToken:
        access, refresh = tokens.new_secret(), tokens.new_secret()
        now = self.now()
        async with self.db.write() as conn:
            await self.repo.purge_expired(conn, now)
            await self.repo.insert_token(
                conn,
                access_digest=tokens.digest(access),
                refresh_digest=tokens.digest(refresh),
                user_id=user_id,
                access_expires_at=now + self.access_ttl,
                refresh_expires_at=now + self.refresh_ttl,
                now=now,
            )
        return IssuedToken(
            access,
            refresh,
            int(self.access_ttl.total_seconds()),
            int(self.refresh_ttl.total_seconds()),
        )

    async def authenticate(self, access_token: str) -> User | None:
        async with self.db.read() as conn:
            row = await self.repo.find_by_access(conn, tokens.digest(access_token))
        if row is None or row["access_expires_at"] <= self.now():
            return None
        return _user(row)

    async def revoke(self, access_token: str) -> None:
        async with self.db.write() as conn:
            await self.repo.revoke_access(conn, tokens.digest(access_token))
