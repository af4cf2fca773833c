"""The HTTP side of `offload admin`: login, the saved session, authenticated calls.

It speaks only PeerTube's HTTP API (OAuth password/refresh grants, `/api/v1/runners/...`), so
it administers any Offload or PeerTube instance. `login` keeps the URL and tokens in
`$XDG_CONFIG_HOME/offload/admin.toml` (mode 0600); an expired access token is refreshed with
the refresh grant, before the call when it is known to be stale, after a 401 otherwise.
"""

from __future__ import annotations

import os
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import tomlkit

__all__ = ["AdminApiError", "AdminClient", "AdminConfig", "config_path"]

#: Every call to the instance gives up after this long.
HTTP_TIMEOUT_S = 30.0
#: Refresh a little before expiry so a token does not die between the check and the call.
REFRESH_MARGIN_S = 30.0
PAGE_SIZE = 100


class AdminApiError(Exception):
    """The instance refused a call, or could not be reached; `status` is 0 for the latter."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "offload" / "admin.toml"


@dataclass
class AdminConfig:
    url: str
    username: str
    client_id: str
    client_secret: str
    access_token: str
    refresh_token: str
    #: Epoch seconds.
    access_expires_at: float
    refresh_expires_at: float

    @classmethod
    def load(cls, path: Path) -> AdminConfig:
        if not path.is_file():
            raise AdminApiError(
                f"not logged in ({path} not found): run `offload admin login --url URL`"
            )
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            return cls(**{name: data[name] for name in cls.__dataclass_fields__})
        except (KeyError, TypeError, tomllib.TOMLDecodeError) as exc:
            raise AdminApiError(f"unreadable {path}: run `offload admin login` again") from exc

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Created 0600 from the start: the tokens are as good as the admin password for a while.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(tomlkit.dumps(asdict(self)))
        path.chmod(0o600)


def _problem(response: httpx.Response) -> AdminApiError:
    try:
        body = response.json()
        detail = body.get("detail") or body.get("error") or response.reason_phrase
    except ValueError:
        detail = response.text.strip()[:200] or response.reason_phrase
    return AdminApiError(
        f"{response.request.method} {response.request.url.path}: {response.status_code} {detail}",
        response.status_code,
    )


def _send(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        return client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise AdminApiError(f"cannot reach {client.base_url}: {exc}") from exc


def _grant(client: httpx.Client, form: dict[str, str]) -> dict[str, Any]:
    response = _send(client, "POST", "/api/v1/users/token", data=form)
    if response.status_code != 200:
        raise _problem(response)
    return dict(response.json())


class AdminClient:
    """Authenticated calls to one instance, refreshing and saving tokens as needed."""

    def __init__(
        self, config: AdminConfig, path: Path, *, now: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self.path = path
        self.now = now
        self.http = httpx.Client(base_url=config.url, timeout=HTTP_TIMEOUT_S)

    @classmethod
    def login(
        cls,
        url: str,
        username: str,
        password: str,
        path: Path,
        *,
        now: Callable[[], float] = time.time,
    ) -> AdminClient:
        url = url.rstrip("/")
        with httpx.Client(base_url=url, timeout=HTTP_TIMEOUT_S) as http:
            response = _send(http, "GET", "/api/v1/oauth-clients/local")
            if response.status_code != 200:
                raise _problem(response)
            oauth = response.json()
            issued = _grant(
                http,
                {**oauth, "grant_type": "password", "username": username, "password": password},
            )
        started = now()
        config = AdminConfig(
            url=url,
            username=username,
            client_id=oauth["client_id"],
            client_secret=oauth["client_secret"],
            access_token=issued["access_token"],
            refresh_token=issued["refresh_token"],
            access_expires_at=started + float(issued["expires_in"]),
            refresh_expires_at=started + float(issued["refresh_token_expires_in"]),
        )
        config.save(path)
        return cls(config, path, now=now)

    def close(self) -> None:
        self.http.close()

    def refresh(self) -> None:
        c = self.config
        try:
            issued = _grant(
                self.http,
                {
                    "client_id": c.client_id,
                    "client_secret": c.client_secret,
                    "grant_type": "refresh_token",
                    "refresh_token": c.refresh_token,
                },
            )
        except AdminApiError as exc:
            if exc.status == 0:
                raise
            raise AdminApiError(
                f"the session on {c.url} expired: run `offload admin login` again", exc.status
            ) from exc
        started = self.now()
        c.access_token, c.refresh_token = issued["access_token"], issued["refresh_token"]
        c.access_expires_at = started + float(issued["expires_in"])
        c.refresh_expires_at = started + float(issued["refresh_token_expires_in"])
        c.save(self.path)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One API call; 2xx responses are returned, anything else raises AdminApiError."""
        if self.config.access_expires_at - REFRESH_MARGIN_S <= self.now():
            self.refresh()
        response = self._authorized(method, path, **kwargs)
        if response.status_code == 401:
            # Revoked or expired early (server clock, restart): one refresh, one retry.
            self.refresh()
            response = self._authorized(method, path, **kwargs)
        if response.status_code >= 400:
            raise _problem(response)
        return response

    def _authorized(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.config.access_token}"}
        return _send(self.http, method, path, headers=headers, **kwargs)

    def list_all(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a paginated `{total, data}` list."""
        start = 0
        while True:
            body = self.request(
                "GET", path, params={**params, "start": start, "count": PAGE_SIZE}
            ).json()
            yield from body["data"]
            start += len(body["data"])
            if not body["data"] or start >= body["total"]:
                return
