"""Where an input download goes next when the server answers with a redirect.

Servers do redirect downloads: django-peertube-runner-connector sends every one to its storage
(301), PeerTube may send them to object storage. PeerTube's runner follows them
(`follow-redirects`): a 301/302/303 turns the POST into a GET without body, a 307/308 repeats
the POST with its body, to any host. The runner's tokens travel in that body, so Offload differs
on one point: a 307/308 keeps the POST and its tokens only on the same origin (scheme, host
and port, the boundary browsers use for credentials); to another origin it becomes a GET
without body or credentials, which is what presigned object-storage URLs expect. Once the
tokens are dropped they are not sent again further down the chain. At most `MAX_REDIRECTS`
hops, http and https only.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from offload.runner.errors import RedirectError

__all__ = ["MAX_REDIRECTS", "REDIRECT_STATUSES", "Hop", "next_hop"]

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_KEEPS_METHOD = frozenset({307, 308})
_SCHEMES = frozenset({"http", "https"})


@dataclass(frozen=True)
class Hop:
    """One request of a download: POST with the tokens to the instance, or a bare GET."""

    url: httpx.URL
    with_tokens: bool = True

    @property
    def method(self) -> str:
        return "POST" if self.with_tokens else "GET"


def next_hop(current: Hop, status: int, location: str | None, hops_so_far: int) -> Hop:
    """The request that follows `current`'s redirect answer (`hops_so_far` redirects already
    followed); raises RedirectError when it is not to be followed."""
    if not location:
        raise RedirectError(f"HTTP {status} from {_shown(current.url)} without a Location")
    if hops_so_far >= MAX_REDIRECTS:
        raise RedirectError(
            f"more than {MAX_REDIRECTS} redirects, the last from {_shown(current.url)}"
        )
    target = current.url.join(location)
    if target.scheme not in _SCHEMES:
        raise RedirectError(
            f"redirect from {_shown(current.url)} to a {target.scheme}: URL, not followed"
        )
    keeps_tokens = (
        current.with_tokens and status in _KEEPS_METHOD and _origin(target) == _origin(current.url)
    )
    return Hop(target, with_tokens=keeps_tokens)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default_port = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default_port


def _shown(url: httpx.URL) -> str:
    # Presigned URLs carry their signature in the query: keep it out of logs and job errors.
    return str(url.copy_with(query=None, fragment=None))
