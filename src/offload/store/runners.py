"""Queries on runners and registration tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from offload.domain.errors import RunnerNameTaken
from offload.domain.runners import RegistrationToken, Runner
from offload.store.tables import registration_tokens, runner_jobs, runners

__all__ = ["RunnerRepository"]

_r = runners
_t = registration_tokens
# How each backend names the unique name in its violation message (PostgreSQL, SQLite).
_NAME_CONSTRAINT = "uq_runners_name"
_NAME_COLUMN = "runners.name"


def _runner(row: Any) -> Runner:
    m = row._mapping
    return Runner(
        id=m["id"],
        name=m["name"],
        description=m["description"],
        version=m["version"],
        ip=m["ip"],
        last_contact=m["last_contact"],
        registration_token_id=m["registration_token_id"],
        token_digest=m["token_digest"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def _token(row: Any, count: int = 0) -> RegistrationToken:
    m = row._mapping
    return RegistrationToken(
        id=m["id"],
        token=m["token"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        registered_runners_count=count,
    )


class RunnerRepository:
    # ---- registration tokens --------------------------------------------------------------

    async def insert_registration_token(
        self, conn: AsyncConnection, token: str, now: datetime
    ) -> RegistrationToken:
        row = (
            await conn.execute(
                sa.insert(_t).values(token=token, created_at=now, updated_at=now).returning(*_t.c)
            )
        ).one()
        return _token(row)

    async def count_registration_tokens(self, conn: AsyncConnection) -> int:
        return (await conn.execute(sa.select(sa.func.count()).select_from(_t))).scalar_one()

    async def find_registration_token(
        self, conn: AsyncConnection, token: str
    ) -> RegistrationToken | None:
        row = (await conn.execute(sa.select(_t).where(_t.c.token == token))).first()
        return _token(row) if row else None

    async def list_registration_tokens(
        self, conn: AsyncConnection, start: int, count: int, descending: bool
    ) -> tuple[int, list[RegistrationToken]]:
        total = await self.count_registration_tokens(conn)
        runner_count = (
            sa.select(sa.func.count())
            .where(_r.c.registration_token_id == _t.c.id)
            .scalar_subquery()
        )
        order = (
            (_t.c.created_at.desc(), _t.c.id.desc())
            if descending
            else (_t.c.created_at.asc(), _t.c.id.asc())
        )
        rows = (
            await conn.execute(
                sa.select(_t, runner_count.label("n")).order_by(*order).offset(start).limit(count)
            )
        ).all()
        return total, [_token(r, r.n) for r in rows]

    async def delete_registration_token(self, conn: AsyncConnection, token_id: int) -> bool:
        # Runners registered with the token go with it (FK cascade); their jobs keep existing.
        result = await conn.execute(sa.delete(_t).where(_t.c.id == token_id))
        return result.rowcount > 0

    # ---- runners --------------------------------------------------------------------------

    async def name_taken(self, conn: AsyncConnection, name: str) -> bool:
        return (await conn.execute(sa.select(_r.c.id).where(_r.c.name == name))).first() is not None

    async def insert_runner(
        self,
        conn: AsyncConnection,
        *,
        name: str,
        description: str | None,
        version: str | None,
        ip: str | None,
        token_digest: str,
        registration_token_id: int,
        now: datetime,
    ) -> Runner:
        """Insert a runner; RunnerNameTaken when the name is in use, also by a registration that
        committed after the caller's `name_taken` check (PostgreSQL runs them side by side)."""
        insert = (
            sa.insert(_r)
            .values(
                name=name,
                description=description,
                version=version,
                ip=ip,
                token_digest=token_digest,
                registration_token_id=registration_token_id,
                last_contact=now,
                created_at=now,
                updated_at=now,
            )
            .returning(*_r.c)
        )
        try:
            row = (await conn.execute(insert)).one()
        except sa.exc.IntegrityError as exc:
            if _NAME_CONSTRAINT in str(exc.orig) or _NAME_COLUMN in str(exc.orig):
                raise RunnerNameTaken() from exc
            raise
        return _runner(row)

    async def find_by_token_digest(self, conn: AsyncConnection, token_digest: str) -> Runner | None:
        row = (await conn.execute(sa.select(_r).where(_r.c.token_digest == token_digest))).first()
        return _runner(row) if row else None

    async def get(self, conn: AsyncConnection, runner_id: int) -> Runner | None:
        row = (await conn.execute(sa.select(_r).where(_r.c.id == runner_id))).first()
        return _runner(row) if row else None

    async def get_many(self, conn: AsyncConnection, ids: list[int]) -> dict[int, Runner]:
        ids = list(set(ids))
        if not ids:
            return {}
        rows = (await conn.execute(sa.select(_r).where(_r.c.id.in_(ids)))).all()
        return {r.id: _runner(r) for r in rows}

    async def list(
        self, conn: AsyncConnection, start: int, count: int, descending: bool
    ) -> tuple[int, list[Runner]]:
        total = (await conn.execute(sa.select(sa.func.count()).select_from(_r))).scalar_one()
        order = (
            (_r.c.created_at.desc(), _r.c.id.desc())
            if descending
            else (_r.c.created_at.asc(), _r.c.id.asc())
        )
        rows = (await conn.execute(sa.select(_r).order_by(*order).offset(start).limit(count))).all()
        return total, [_runner(r) for r in rows]

    async def delete(self, conn: AsyncConnection, runner_id: int) -> bool:
        result = await conn.execute(sa.delete(_r).where(_r.c.id == runner_id))
        return result.rowcount > 0

    async def touch_contact(
        self,
        conn: AsyncConnection,
        runner_id: int,
        ip: str | None,
        now: datetime,
        not_after: datetime,
    ) -> None:
        """Write `lastContact`/`ip` unless another request already did since `not_after`."""
        await conn.execute(
            sa.update(_r)
            .where(_r.c.id == runner_id, _r.c.last_contact <= not_after)
            .values(last_contact=now, ip=ip, updated_at=now)
        )

    async def set_version(
        self, conn: AsyncConnection, runner_id: int, version: str, now: datetime
    ) -> None:
        await conn.execute(
            sa.update(_r)
            .where(_r.c.id == runner_id, _r.c.version.is_distinct_from(version))
            .values(version=version, updated_at=now)
        )

    async def processing_counts(self, conn: AsyncConnection) -> dict[int, int]:
        rows = (
            await conn.execute(
                sa.select(runner_jobs.c.runner_id, sa.func.count())
                .where(runner_jobs.c.state == 2, runner_jobs.c.runner_id.is_not(None))
                .group_by(runner_jobs.c.runner_id)
            )
        ).all()
        return {rid: n for rid, n in rows}
