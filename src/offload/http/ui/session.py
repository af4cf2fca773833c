"""Admin UI sessions: an OAuth access token in an HttpOnly cookie, CSRF tokens, flash notes.

The session reuses `AccountService` tokens rather than a signed cookie of our own: logging out
revokes the token server-side, expiry follows `access_token_ttl_s`, and there is no extra
secret to configure or rotate.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, unquote

from fastapi import Depends, Request, Response
from starlette.datastructures import FormData

from offload.http.deps import ServicesDep
from offload.instance.accounts import User

__all__ = [
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "AdminSession",
    "CheckedForm",
    "CsrfRejected",
    "LoginRequired",
    "Session",
    "admin_session",
    "checked_form",
    "clear_flash",
    "clear_session_cookie",
    "csrf_for",
    "login_csrf_matches",
    "new_login_csrf",
    "read_flash",
    "safe_next",
    "set_flash",
    "set_login_csrf_cookie",
    "set_session_cookie",
]

SESSION_COOKIE = "offload_admin"
LOGIN_CSRF_COOKIE = "offload_login_csrf"
FLASH_COOKIE = "offload_flash"
COOKIE_PATH = "/admin"
CSRF_FIELD = "csrf"


class LoginRequired(Exception):
    """No valid admin session: pages redirect to the login form, fragments answer 401."""


class CsrfRejected(Exception):
    """A form POST came without the CSRF token of the session it claims."""


@dataclass(frozen=True, slots=True)
class AdminSession:
    user: User
    token: str

    @property
    def csrf(self) -> str:
        return csrf_for(self.token)


def csrf_for(session_token: str) -> str:
    """A synchronizer token bound to the session: only a page served to its holder knows it,
    since the session cookie itself is HttpOnly and never leaves the browser's cookie jar."""
    return hmac.new(session_token.encode(), b"offload-admin-csrf", hashlib.sha256).hexdigest()


async def admin_session(request: Request, services: ServicesDep) -> AdminSession:
    token = request.cookies.get(SESSION_COOKIE)
    user = await services.accounts.authenticate(token) if token else None
    if token is None or user is None or not user.is_admin:
        raise LoginRequired()
    return AdminSession(user=user, token=token)


Session = Annotated[AdminSession, Depends(admin_session)]


async def checked_form(request: Request, session: Session) -> FormData:
    """The POSTed form, once its CSRF token matched the session's."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise CsrfRejected()
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def login_csrf_matches(request: Request, form: FormData) -> bool:
    """Double-submit check for the login form, which has no session to bind a token to yet."""
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    sent = form.get(CSRF_FIELD)
    return (
        bool(cookie)
        and isinstance(sent, str)
        and hmac.compare_digest(sent.encode(), str(cookie).encode())
    )


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookie(request: Request, response: Response, token: str, max_age_s: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age_s,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=COOKIE_PATH)


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax")


def set_login_csrf_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        value,
        max_age=3600,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def set_flash(request: Request, response: Response, message: str, kind: str = "ok") -> None:
    """A one-shot note shown by the next page (post/redirect/get keeps reloads harmless)."""
    response.set_cookie(
        FLASH_COOKIE,
        quote(f"{kind}:{message}"),
        max_age=60,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def read_flash(request: Request) -> tuple[str, str] | None:
    """The pending note as (kind, message); the page showing it calls `clear_flash`."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    kind, _, message = unquote(raw).partition(":")
    return (kind if kind in ("ok", "error") else "ok"), message


def clear_flash(response: Response) -> None:
    response.delete_cookie(FLASH_COOKIE, path=COOKIE_PATH)


def safe_next(value: str | None, default: str = "/admin/jobs") -> str:
    """Only local admin paths: an open redirect would turn the login form into a phishing aid."""
    if not value or not value.startswith("/admin") or value.startswith("//") or "\\" in value:
        return default
    return value
