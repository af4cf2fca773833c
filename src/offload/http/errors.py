"""The one place where errors become HTTP answers, in PeerTube's problem-JSON shape."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from offload.domain import errors as e
from offload.instance.accounts import InvalidClient, InvalidGrant, TooManyLogins
from offload.store.database import DatabaseUnavailable

__all__ = [
    "BadParams",
    "BodyTooLarge",
    "HttpProblem",
    "install_error_handlers",
    "problem",
    "too_large_response",
]

log = logging.getLogger(__name__)

_DOCS = "https://docs.joinpeertube.org/api-rest-reference.html#section/Errors/"
#: What a 503 for an unreachable database tells clients to wait before trying again (seconds):
#: a restart or failover takes about that long.
RETRY_AFTER_S = 5

# Most specific class first: the first isinstance match wins.
_STATUS: Sequence[tuple[type[e.OffloadError], int]] = (
    (e.JobNotPendingAnymore, 409),
    (e.JobNotProcessingAnymore, 409),
    (e.JobNotPending, 400),
    (e.JobNotProcessing, 400),
    (e.JobNotCancellable, 400),
    (e.RunnerNameTaken, 400),
    (e.NotFound, 404),
    (e.Forbidden, 403),
    (e.PayloadTooLarge, 413),
    (e.StorageFull, 507),
    (e.InvalidPayload, 400),
    (e.TaskFileNotOfJob, 400),
    (e.InvalidInput, 400),
    (e.OutputRefused, 400),
    (InvalidGrant, 400),
    (InvalidClient, 400),
    (TooManyLogins, 429),
    (e.Conflict, 409),
)


class HttpProblem(Exception):
    """An HTTP-level refusal (auth, rate limit) raised by dependencies."""

    def __init__(self, status: int, detail: str, code: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code


class BadParams(Exception):
    """Validation failed for these request parameters (PeerTube's express-validator 400)."""

    def __init__(self, *fields: str, messages: dict[str, str] | None = None) -> None:
        super().__init__(", ".join(fields))
        self.fields = list(fields)
        self.messages = messages or {}


class BodyTooLarge(StarletteHTTPException):
    """A request body, or a part of one, over its cap (413).

    A starlette HTTPException, because it is raised where a body is read: FastAPI lets those
    through its body parsing instead of turning them into a 400.
    """

    #: PeerTube's body parser fails with this error, whose name becomes the problem's code.
    code = "PayloadTooLargeError"

    def __init__(self, detail: str = "request entity too large") -> None:
        super().__init__(413, detail)


def too_large_response(detail: str) -> JSONResponse:
    """The 413 problem, for answers given before the app is called (a declared length)."""
    return problem(413, detail, code=BodyTooLarge.code)


def problem(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"status": status, "detail": detail}
    if code:
        body["type"] = _DOCS + code
        body["code"] = code
    # Older PeerTube clients read `error`; keep it next to `detail`.
    body["error"] = detail
    if extra:
        body.update(extra)
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


def bad_params_response(
    request: Request, fields: list[str], messages: dict[str, str]
) -> JSONResponse:
    invalid = {
        f: {"msg": messages.get(f, "Invalid value"), "path": f, "location": "body"} for f in fields
    }
    return problem(
        400,
        "Incorrect request parameters: " + ", ".join(fields),
        extra={"instance": request.url.path, "invalid-params": invalid},
    )


def status_of(exc: e.OffloadError) -> int:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(e.OffloadError)
    async def _domain(request: Request, exc: e.OffloadError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else None
        return problem(status_of(exc), exc.message, code=exc.code, headers=headers)

    @app.exception_handler(DatabaseUnavailable)
    async def _unavailable(request: Request, exc: DatabaseUnavailable) -> JSONResponse:
        log.warning(
            "database unavailable on %s %s: %s", request.method, request.url.path, exc.__cause__
        )
        answer = problem(503, exc.message)
        answer.headers["Retry-After"] = str(RETRY_AFTER_S)
        return answer

    @app.exception_handler(HttpProblem)
    async def _http_problem(request: Request, exc: HttpProblem) -> JSONResponse:
        return problem(exc.status, exc.detail, code=exc.code)

    @app.exception_handler(BadParams)
    async def _bad_params(request: Request, exc: BadParams) -> JSONResponse:
        return bad_params_response(request, exc.fields, exc.messages)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields: list[str] = []
        messages: dict[str, str] = {}
        for err in exc.errors():
            loc = [
                str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")
            ]
            name = loc[0] if loc else "body"
            if name not in fields:
                fields.append(name)
                messages[name] = str(err.get("msg", "Invalid value"))
        return bad_params_response(request, fields, messages)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return too_large_response(str(exc.detail))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        path = request.url.path
        # An empty job UUID segment (`jobs//accept`) is a bad parameter for PeerTube, not a 404.
        if exc.status_code == 404 and path.startswith("/api/v1/runners/jobs//"):
            return bad_params_response(request, ["jobUUID"], {"jobUUID": "Invalid value"})
        detail = exc.detail if isinstance(exc.detail, str) else "Error"
        if exc.status_code == 404 and detail == "Not Found":
            detail = "Not found"
        return problem(exc.status_code, detail)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "Internal server error")
