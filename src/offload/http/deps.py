"""Request dependencies: client IP, admin authentication, the API rate limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from offload.http.errors import HttpProblem
from offload.http.services import Services, get_services
from offload.instance.accounts import User

__all__ = [
    "RATE_LIMITED",
    "AdminUser",
    "ServicesDep",
    "bearer_user",
    "client_ip",
    "enforce_rate_limit",
    "rate_limit_json_body",
    "require_admin",
]

ServicesDep = Annotated[Services, Depends(get_services)]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def bearer_user(request: Request, services: Services) -> User | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return await services.accounts.authenticate(token.strip())


async def require_admin(request: Request, services: ServicesDep) -> User:
    """PeerTube's `authenticate` + `ensureUserHasRight(MANAGE_RUNNERS)`: 401, then 403."""
    user = await bearer_user(request, services)
    if user is None:
        raise HttpProblem(
            401, "Invalid token." if request.headers.get("authorization") else "Unauthorized"
        )
    if not user.is_admin:
        raise HttpProblem(403, "User cannot manage runners")
    return user


AdminUser = Annotated[User, Depends(require_admin)]


async def enforce_rate_limit(
    request: Request, services: Services, runner_token: object = None
) -> None:
    """Count this request against its IP; past the limit, only known runners and staff pass."""
    ip = client_ip(request) or "unknown"
    if not services.rate_limiter.hit(ip):
        return
    if (
        isinstance(runner_token, str)
        and runner_token
        and await services.runners.find(runner_token) is not None
    ):
        return
    user = await bearer_user(request, services)
    if user is not None and user.can_bypass_rate_limit:
        return
    raise HttpProblem(429, "Too many requests, please try again later.")


async def rate_limit_json_body(request: Request, services: ServicesDep) -> None:
    """`enforce_rate_limit` for JSON routes, run as a dependency so it comes before body
    validation: PeerTube's limiter runs first, so a request without a runner token past the
    limit is a 429, not a 400."""
    runner_token: object = None
    try:
        body = await request.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        runner_token = body.get("runnerToken")
    await enforce_rate_limit(request, services, runner_token)


#: Route dependency list for rate-limited JSON endpoints.
RATE_LIMITED = [Depends(rate_limit_json_body)]
