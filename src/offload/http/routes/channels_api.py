"""PeerTube's channels and accounts, read-only: each user is an account with one channel, their
default `<username>_channel` (see video_wire)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from offload.domain.errors import NotFound
from offload.http.deps import ServicesDep
from offload.http.errors import BadParams
from offload.http.video_wire import account_to_wire, channel_to_wire
from offload.instance.accounts import User
from offload.instance.media import media_of

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["channels"])

_CHANNEL_SUFFIX = "_channel"


class ChannelNotFound(NotFound):
    """Video channel not found"""


class AccountNotFound(NotFound):
    """Account not found"""


def _page(request: Request) -> tuple[int, int]:
    values = []
    for name, default, hi in (("start", 0, 2**31 - 1), ("count", 15, 100)):
        raw = request.query_params.get(name)
        if raw is not None and (not raw.isdigit() or int(raw) > hi):
            raise BadParams(name)
        values.append(default if raw is None else int(raw))
    return values[0], values[1]


def _public_url(services: ServicesDep) -> str:
    return media_of(services).videos.public_url


async def _account(name: str, services: ServicesDep) -> User:
    # A local account's handle may carry this instance's host: `name@host`.
    user = await services.accounts.find_user(name.partition("@")[0]) if len(name) <= 300 else None
    if user is None:
        raise AccountNotFound()
    return user


@router.get("/video-channels")
async def list_channels(request: Request, services: ServicesDep) -> dict[str, Any]:
    start, count = _page(request)
    total, users = await services.accounts.list_users(start, count)
    return {
        "total": total,
        "data": [channel_to_wire(u.id, u.username, _public_url(services)) for u in users],
    }


@router.get("/video-channels/{channelHandle}")
async def get_channel(channelHandle: str, services: ServicesDep) -> dict[str, Any]:
    name = channelHandle.partition("@")[0]
    if not name.endswith(_CHANNEL_SUFFIX) or len(name) > 300:
        raise ChannelNotFound()
    user = await services.accounts.find_user(name.removesuffix(_CHANNEL_SUFFIX))
    if user is None:
        raise ChannelNotFound()
    return channel_to_wire(user.id, user.username, _public_url(services))


@router.get("/accounts/{name}")
async def get_account(name: str, services: ServicesDep) -> dict[str, Any]:
    user = await _account(name, services)
    return account_to_wire(user.id, user.username, _public_url(services))


@router.get("/accounts/{name}/video-channels")
async def account_channels(name: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    start, _count = _page(request)
    user = await _account(name, services)
    channels = [channel_to_wire(user.id, user.username, _public_url(services))]
    return {"total": 1, "data": channels[start:]}
