"""The runner: `offload runner …`, a drop-in replacement for PeerTube's `peertube-runner`.

Its commands are in `offload.cli.runner`. Modules: `daemon` (main loop, jobs, shutdown),
`links` (one instance's HTTP client + Socket.IO link), `client` (protocol calls, transfers),
`redirects` (where a redirected download goes, with or without the tokens), `custom_upload`
(outputs sent straight to a URL of the instance's choice), `cache` (shared inputs), `slots`
(capacity decisions), `streak` (pauses after failures), `config` (config.toml, paths),
`registration`, `ipc` (local socket + one-daemon lock), `view` (live table and log formats),
`errors`.
"""

from __future__ import annotations

__all__: list[str] = []
