"""Use cases around runners: registration tokens, register/unregister, authentication."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import datetime, timedelta

from offload.domain import tokens
from offload.domain.errors import (
    RegistrationTokenNotFound,
    RunnerNameTaken,
    RunnerNotFound,
    UnknownRunnerToken,
)
from offload.domain.runners import RegistrationToken, Runner
from offload.store.database import Database
from offload.store.runners import RunnerRepository

__all__ = ["RunnerService"]


class RunnerService:
    def __init__(
        self, db: Database, now: Callable[[], datetime], *, last_contact_interval_s: float = 30.0
    ) -> None:
        self.db = db
        self.now = now
        self.repo = RunnerRepository()
        self.last_contact_interval = timedelta(seconds=last_contact_interval_s)
        #: When this process last wrote each runner's contact: a runner's calls arriving
        #: together all read the same stale row, and only the first of them may write.
        self._contact_written: dict[int, datetime] = {}

    # ---- registration tokens --------------------------------------------------------------

    async def ensure_registration_token(self) -> None:
        """A fresh instance has exactly one registration token (PeerTube's installer)."""
        async with self.db.write() as conn:
            if await self.repo.count_registration_tokens(conn) == 0:
                await self.repo.insert_registration_token(
                    conn, tokens.new_registration_token(), self.now()
                )

    async def generate_registration_token(self) -> RegistrationToken:
        async with self.db.write() as conn:
            return await self.repo.insert_registration_token(
                conn, tokens.new_registration_token(), self.now()
            )

    async def list_registration_tokens(
        self, start: int, count: int, descending: bool
    ) -> tuple[int, list[RegistrationToken]]:
        async with self.db.read() as conn:
            return await self.repo.list_registration_tokens(conn, start, count, descending)

    async def revoke_registration_token(self, token_id: int) -> None:
        async with self.db.write() as conn:
            if not await self.repo.delete_registration_token(conn, token_id):
                raise RegistrationTokenNotFound()

    # ---- runners --------------------------------------------------------------------------

    async def register(
        self,
        *,
        registration_token: str,
        name: str,
        description: str | None,
        version: str | None,
        ip: str | None,
    ) -> tuple[Runner, str]:
        """Create a runner; returns it with its token, which is shown this once and stored hashed."""
        async with self.db.write() as conn:
            reg = await self.repo.find_registration_token(conn, registration_token)
            if reg is None or not _same(reg.token, registration_token):
                raise RegistrationTokenNotFound("Registration token is invalid")
            if await self.repo.name_taken(conn, name):
                raise RunnerNameTaken()
            runner_token = tokens.new_runner_token()
            runner = await self.repo.insert_runner(
                conn,
                name=name,
                description=description,
                version=version,
                ip=ip,
                token_digest=tokens.digest(runner_token),
                registration_token_id=reg.id,
                now=self.now(),
            )
        return runner, runner_token

    async def authenticate(self, runner_token: str) -> Runner:
        """The runner holding this token, or UnknownRunnerToken (runners unregister on it)."""
        async with self.db.read() as conn:
            runner = await self.repo.find_by_token_digest(conn, tokens.digest(runner_token))
        if runner is None or not tokens.digests_match(runner_token, runner.token_digest):
            raise UnknownRunnerToken()
        return runner

    async def find(self, runner_token: str) -> Runner | None:
        try:
            return await self.authenticate(runner_token)
        except UnknownRunnerToken:
            return None

    async def unregister(self, runner_token: str) -> None:
        runner = await self.authenticate(runner_token)
        async with self.db.write() as conn:
            await self.repo.delete(conn, runner.id)
        self._contact_written.pop(runner.id, None)

    async def delete(self, runner_id: int) -> None:
        async with self.db.write() as conn:
            if not await self.repo.delete(conn, runner_id):
                raise RunnerNotFound()
        self._contact_written.pop(runner_id, None)

    async def list(self, start: int, count: int, descending: bool) -> tuple[int, list[Runner]]:
        async with self.db.read() as conn:
            return await self.repo.list(conn, start, count, descending)

    async def get_many(self, ids: builtins.list[int]) -> dict[int, Runner]:
        async with self.db.read() as conn:
            return await self.repo.get_many(conn, ids)

    async def processing_counts(self) -> dict[int, int]:
        async with self.db.read() as conn:
            return await self.repo.processing_counts(conn)

    async def touch(self, runner: Runner, ip: str | None, version: str | None = None) -> None:
        """Record contact: written at most once per interval (per process) so busy runners
        cost no writes."""
        now = self.now()
        written = max(
            runner.last_contact, self._contact_written.get(runner.id, runner.last_contact)
        )
        stale = written <= now - self.last_contact_interval
        version_changed = version is not None and version != runner.version
        if not stale and not version_changed:
            return
        if stale:
            # Claimed before the first await: the runner's other calls in flight skip it.
            self._contact_written[runner.id] = now
        try:
            async with self.db.write() as conn:
                if stale:
                    await self.repo.touch_contact(
                        conn, runner.id, ip, now, now - self.last_contact_interval
                    )
                if version_changed:
                    assert version is not None
                    await self.repo.set_version(conn, runner.id, version, now)
        except BaseException:
            if stale and self._contact_written.get(runner.id) == now:
                del self._contact_written[runner.id]  # not written after all: the next call tries
            raise


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())
