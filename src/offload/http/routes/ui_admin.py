"""The admin web UI under `/admin`: login, logout, static files, the dashboard line, and the
page routers of `ui_runners` and `ui_jobs` (one `router` for `create_app` to include)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from offload.http.deps import ServicesDep, client_ip, enforce_rate_limit
from offload.http.routes import ui_jobs, ui_runners, ui_settings, ui_studio, ui_videos
from offload.http.ui.dashboard import load_dashboard
from offload.http.ui.render import STATIC_DIR, UiRoute, render, render_fragment
from offload.http.ui.session import (
    LOGIN_CSRF_COOKIE,
    CheckedForm,
    LoginRequired,
    Session,
    admin_session,
    clear_session_cookie,
    login_csrf_matches,
    new_login_csrf,
    safe_next,
    set_login_csrf_cookie,
    set_session_cookie,
)
from offload.instance.accounts import InvalidGrant, TooManyLogins

__all__ = ["router"]

router = APIRouter(prefix="/admin", route_class=UiRoute, include_in_schema=False)
router.include_router(ui_runners.router)
router.include_router(ui_jobs.router)
router.include_router(ui_videos.router)
router.include_router(ui_studio.router)
router.include_router(ui_settings.router)

_STATIC = {"admin.css": "text/css", "admin.js": "text/javascript"}


@router.get("")
async def index() -> RedirectResponse:
    return RedirectResponse("/admin/jobs", status_code=303)


@router.get("/static/{name}")
async def static(name: str) -> Response:
    media_type = _STATIC.get(name)
    if media_type is None:
        return Response("not found", status_code=404, media_type="text/plain")
    # Links carry `?v=<version>`, so a long cache is safe across upgrades.
    return FileResponse(
        STATIC_DIR / name, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
    )


@router.get("/login")
async def login_form(request: Request, services: ServicesDep) -> Response:
    target = safe_next(request.query_params.get("next"))
    try:
        await admin_session(request, services)
        return RedirectResponse(target, status_code=303)
    except LoginRequired:
        pass  # not logged in yet: show the form
    return await _login_page(request, services, target, "root", None, 200)


async def _login_page(
    request: Request,
    services: ServicesDep,
    target: str,
    username: str,
    error: str | None,
    status: int,
) -> Response:
    csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or new_login_csrf()
    response = await render(
        request,
        services,
        None,
        "login.html",
        status_code=status,
        next=target,
        username=username,
        error=error,
        login_csrf=csrf,
    )
    set_login_csrf_cookie(request, response, csrf)
    return response


@router.post("/login")
async def login(request: Request, services: ServicesDep) -> Response:
    await enforce_rate_limit(request, services)
    form = await request.form()
    target = safe_next(str(form.get("next") or ""))
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    if not login_csrf_matches(request, form):
        return await _login_page(
            request, services, target, username, "The form expired: please log in again.", 403
        )
    try:
        issued = await services.accounts.password_grant(
            username, password, client_ip=client_ip(request)
        )
    except InvalidGrant:
        return await _login_page(
            request, services, target, username, "Wrong username or password.", 400
        )
    except TooManyLogins as exc:
        page = await _login_page(
            request,
            services,
            target,
            username,
            "Too many failed logins: please try again later.",
            429,
        )
        page.headers["Retry-After"] = str(exc.retry_after_s)
        return page
    user = await services.accounts.authenticate(issued.access_token)
    if user is None or not user.is_admin:
        await services.accounts.revoke(issued.access_token)
        return await _login_page(
            request, services, target, username, "This account cannot manage runners.", 403
        )
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, issued.access_token, issued.expires_in)
    return response


@router.post("/logout")
async def logout(session: Session, _: CheckedForm, services: ServicesDep) -> Response:
    await services.accounts.revoke(session.token)
    response = RedirectResponse("/admin/login", status_code=303)
    clear_session_cookie(response)
    return response


@router.get("/dashboard")
async def dashboard(request: Request, _: Session, services: ServicesDep) -> HTMLResponse:
    return await render_fragment(
        request, services, "_dashboard.html", dashboard=await load_dashboard(services)
    )
