"""Offset pagination for admin tables: the slice shown and links to its neighbours."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

__all__ = ["Page", "parse_start"]


def parse_start(raw: str | None) -> int:
    """A non-negative offset from the query string; anything else means the first page."""
    return int(raw) if raw and raw.isdigit() else 0


@dataclass(frozen=True, slots=True)
class Page:
    path: str
    start: int
    count: int
    total: int
    #: The other query parameters (filters, sort), kept by the page links.
    params: dict[str, str] = field(default_factory=dict)

    @property
    def first(self) -> int:
        return min(self.start + 1, self.total)

    @property
    def last(self) -> int:
        return min(self.start + self.count, self.total)

    @property
    def previous_url(self) -> str | None:
        if self.start <= 0:
            return None
        return self._url(max(0, self.start - self.count))

    @property
    def next_url(self) -> str | None:
        if self.start + self.count >= self.total:
            return None
        return self._url(self.start + self.count)

    def _url(self, start: int) -> str:
        params = {k: v for k, v in self.params.items() if v}
        if start:
            params["start"] = str(start)
        return f"{self.path}?{urlencode(params)}" if params else self.path
