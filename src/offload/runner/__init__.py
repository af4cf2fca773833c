"""The runner: `offload runner …`, a drop-in replacement for PeerTube's `peertube-runner`.

Modules: `cli` (commands), `daemon` (main loop, jobs, shutdown), `links` (one instance's
HTTP client + Socket.IO link), `client` (protocol calls, transfers), `redirects` (where a
redirected download goes, with or without the tokens), `custom_upload` (outputs sent straight
to a URL of the instance's choice), `cache` (shared inputs),
`slots` (capacity decisions), `config` (config.toml, paths), `registration`, `ipc` (local
socket + one-daemon lock), `view` (live table and log formats), `errors`.
"""

from __future__ import annotations

__all__: list[str] = []
