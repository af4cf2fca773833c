"""Queries on users, OAuth tokens and the small key/value config table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from offload.store.tables import instance_config, oauth_tokens, users

__all__ = ["AccountRepository", "ConfigRepository"]


class AccountRepository:
    async def get_user_by_name(self, conn: AsyncConnection, username: str) -> dict[str, Any] | None:
        row = (
            await conn.execute(
                sa.select(users).where(sa.func.lower(users.c.username) == username.lower())
            )
        ).first()
        return dict(row._mapping) if row else None

    async def get_user(self, conn: AsyncConnection, user_id: int) -> dict[str, Any] | None:
        row = (await conn.execute(sa.select(users).where(users.c.id == user_id))).first()
        return dict(row._mapping) if row else None

    async def list_users(
        self, conn: AsyncConnection, start: int, count: int
    ) -> tuple[int, list[dict[str, Any]]]:
        total = (await conn.execute(sa.select(sa.func.count()).select_from(users))).scalar_one()
        rows = (
            await conn.execute(sa.select(users).order_by(users.c.id).offset(start).limit(count))
        ).all()
        return int(total), [dict(r._mapping) for r in rows]

    async def insert_user(
        self,
        conn: AsyncConnection,
        *,
        username: str,
        email: str | None,
        password_hash: str,
        role: int,
        now: datetime,
        video_quota: int | None = None,
        video_quota_daily: int | None = None,
    ) -> dict[str, Any]:
        """Quotas left None follow the instance's default (see `users.video_quota`)."""
        row = (
            await conn.execute(
                sa.insert(users)
                .values(
                    username=username,
                    email=email,
                    password_hash=password_hash,
                    role=role,
                    created_at=now,
                    video_quota=video_quota,
                    video_quota_daily=video_quota_daily,
                )
                .returning(*users.c)
            )
        ).one()
        return dict(row._mapping)

    async def video_quota(
        self, conn: AsyncConnection, user_id: int, *, lock: bool = False
    ) -> tuple[int | None, int | None] | None:
        """The user's (`video_quota`, `video_quota_daily`), None each for the default.

        With `lock`, the row is held until the transaction ends (PostgreSQL): one user's
        uploads then take their last quota check one at a time. SQLite has one writer anyway.
        """
        query = sa.select(users.c.video_quota, users.c.video_quota_daily).where(
            users.c.id == user_id
        )
        if lock and conn.dialect.name != "sqlite":
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        return (row.video_quota, row.video_quota_daily) if row else None

    async def set_password(self, conn: AsyncConnection, user_id: int, password_hash: str) -> None:
        await conn.execute(
            sa.update(users).where(users.c.id == user_id).values(password_hash=password_hash)
        )

    async def insert_token(
        self,
        conn: AsyncConnection,
        *,
        access_digest: str,
        refresh_digest: str,
        user_id: int,
        access_expires_at: datetime,
        refresh_expires_at: datetime,
        now: datetime,
    ) -> None:
        await conn.execute(
            sa.insert(oauth_tokens).values(
                access_digest=access_digest,
                refresh_digest=refresh_digest,
                user_id=user_id,
                access_expires_at=access_expires_at,
                refresh_expires_at=refresh_expires_at,
                created_at=now,
            )
        )

    async def find_by_access(
        self, conn: AsyncConnection, access_digest: str
    ) -> dict[str, Any] | None:
        row = (
            await conn.execute(
                sa.select(oauth_tokens.c.access_expires_at, users)
                .join(users, users.c.id == oauth_tokens.c.user_id)
                .where(oauth_tokens.c.access_digest == access_digest)
            )
        ).first()
        return dict(row._mapping) if row else None

    async def take_refresh(
        self, conn: AsyncConnection, refresh_digest: str, now: datetime
    ) -> int | None:
        """Consume a refresh token (one use): returns its user id if it was valid."""
        row = (
            await conn.execute(
                sa.delete(oauth_tokens)
                .where(
                    oauth_tokens.c.refresh_digest == refresh_digest,
                    oauth_tokens.c.refresh_expires_at > now,
                )
                .returning(oauth_tokens.c.user_id)
            )
        ).first()
        return row.user_id if row else None

    async def revoke_access(self, conn: AsyncConnection, access_digest: str) -> None:
        await conn.execute(
            sa.delete(oauth_tokens).where(oauth_tokens.c.access_digest == access_digest)
        )

    async def purge_expired(self, conn: AsyncConnection, now: datetime) -> None:
        await conn.execute(sa.delete(oauth_tokens).where(oauth_tokens.c.refresh_expires_at <= now))


class ConfigRepository:
    async def get(self, conn: AsyncConnection, key: str) -> Any | None:
        row = (
            await conn.execute(
                sa.select(instance_config.c.value).where(instance_config.c.key == key)
            )
        ).first()
        return row.value if row else None

    async def put(self, conn: AsyncConnection, key: str, value: Any) -> None:
        updated = await conn.execute(
            sa.update(instance_config).where(instance_config.c.key == key).values(value=value)
        )
        if updated.rowcount == 0:
            await conn.execute(sa.insert(instance_config).values(key=key, value=value))
