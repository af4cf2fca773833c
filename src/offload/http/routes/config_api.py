"""PeerTube's custom configuration API, for the keys this instance honours (admin only).

`PUT` takes a partial or a whole PeerTube custom config: unknown keys are ignored, known keys
are checked; the answer is the new effective configuration. Changes apply to jobs created
afterwards.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from offload.http.deps import AdminUser, ServicesDep
from offload.http.errors import BadParams
from offload.instance.media import media_of

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/config", tags=["config"])


@router.get("/custom")
async def get_custom_config(_: AdminUser, services: ServicesDep) -> dict[str, Any]:
    return (await media_of(services).config.current()).to_wire()


@router.put("/custom")
async def put_custom_config(request: Request, _: AdminUser, services: ServicesDep) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise BadParams("body", messages={"body": "a JSON object is expected"}) from exc
    if not isinstance(body, dict):
        raise BadParams("body", messages={"body": "a JSON object is expected"})
    return (await media_of(services).config.update(body)).to_wire()


@router.delete("/custom")
async def delete_custom_config(_: AdminUser, services: ServicesDep) -> dict[str, Any]:
    return (await media_of(services).config.reset()).to_wire()
