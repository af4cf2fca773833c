"""PeerTube's login flow, so PeerTube clients and tools can administer an Offload instance."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from pydantic import BaseModel, Field, StrictInt, StrictStr

from offload.http.deps import AdminUser, ServicesDep, bearer_user, client_ip
from offload.http.errors import BadParams, HttpProblem
from offload.http.schemas import NoNul
from offload.http.video_wire import channel_to_wire
from offload.instance.accounts import InvalidGrant, User
from offload.instance.media import media_of

__all__ = ["router"]

#: PeerTube's `USER_ROLE_LABELS`.
_ROLES = {0: "Administrator", 1: "Moderator", 2: "User"}

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.get("/oauth-clients/local")
async def local_client(services: ServicesDep) -> dict[str, str]:
    return await services.accounts.oauth_client()


@router.post("/users/token")
async def token(
    request: Request,
    services: ServicesDep,
    client_id: Annotated[str, Form()],
    client_secret: Annotated[str, Form()],
    grant_type: Annotated[str, Form()],
    username: Annotated[str | None, Form()] = None,
    password: Annotated[str | None, Form()] = None,
    refresh_token: Annotated[str | None, Form()] = None,
) -> dict[str, Any]:
    await services.accounts.check_client(client_id, client_secret)
    if grant_type == "password":
        if not username or not password or "\x00" in username:
            raise InvalidGrant()
        issued = await services.accounts.password_grant(
            username, password, client_ip=client_ip(request)
        )
    elif grant_type == "refresh_token":
        if not refresh_token:
            raise InvalidGrant("Invalid grant: refresh token is invalid")
        issued = await services.accounts.refresh_grant(refresh_token)
    else:
        raise BadParams("grant_type")
    return issued.to_wire()


@router.post("/users/revoke-token")
async def revoke_token(request: Request, services: ServicesDep) -> Response:
    user = await bearer_user(request, services)
    if user is None:
        raise HttpProblem(401, "Unauthorized")
    await services.accounts.revoke(request.headers["authorization"].partition(" ")[2].strip())
    return Response(status_code=200)


async def _signed_in(request: Request, services: ServicesDep) -> User:
    user = await bearer_user(request, services)
    if user is None:
        raise HttpProblem(401, "Unauthorized")
    return user


@router.get("/users/me")
async def me(request: Request, services: ServicesDep) -> dict[str, Any]:
    user = await _signed_in(request, services)
    media = media_of(services)
    quota = await media.videos.limiter.quota_of(user.id)
    channel = channel_to_wire(user.id, user.username, media.videos.public_url)
    return {
        "id": user.id,
        "username": user.username,
        "role": {"id": user.role, "label": _ROLES.get(user.role, "User")},
        "videoQuota": quota.quota,
        "videoQuotaDaily": quota.quota_daily,
        "blocked": False,
        "emailVerified": True,
        "nsfwPolicy": "display",
        "autoPlayVideo": True,
        "adminFlags": 0,
        "noWelcomeModal": True,
        "noInstanceConfigWarningModal": True,
        "noAccountSetupWarningModal": True,
        "account": channel["ownerAccount"],
        "videoChannels": [channel],
    }


@router.get("/users/me/video-quota-used")
async def my_quota_use(request: Request, services: ServicesDep) -> dict[str, int]:
    """PeerTube's bytes counted against the caller's `videoQuota` and `videoQuotaDaily`."""
    user = await _signed_in(request, services)
    quota = await media_of(services).videos.limiter.quota_of(user.id)
    return {"videoQuotaUsed": quota.used, "videoQuotaUsedDaily": quota.used_daily}


#: PeerTube's `CONSTRAINTS_FIELDS.USERS.VIDEO_QUOTA`: bytes, -1 = unlimited.
VideoQuotaField = Annotated[StrictInt, Field(ge=-1, le=2**62)]


class CreateUserBody(BaseModel):
    username: Annotated[StrictStr, Field(min_length=1, max_length=50, pattern=r"^[a-z0-9._]+$")]
    password: Annotated[StrictStr, Field(min_length=6, max_length=255)]
    email: Annotated[StrictStr, Field(min_length=3, max_length=400), NoNul]
    role: Annotated[StrictInt, Field(ge=0, le=2)]
    #: Omitted: the instance's default (`user_video_quota_bytes` / `_daily_bytes`).
    videoQuota: VideoQuotaField | None = None
    videoQuotaDaily: VideoQuotaField | None = None


@router.post("/users")
async def create_user(body: CreateUserBody, _: AdminUser, services: ServicesDep) -> dict[str, Any]:
    if await services.accounts.username_taken(body.username):
        raise HttpProblem(409, "User with this username or email already exists.")
    user = await services.accounts.create_user(
        body.username,
        body.password,
        body.role,
        body.email,
        video_quota=body.videoQuota,
        video_quota_daily=body.videoQuotaDaily,
    )
    return {"user": {"id": user.id}}
