"""RTMP ingest and relay for live streaming (not yet wired into `offload serve`).

A streamer publishes to `rtmp://host:port/live/<streamKey>`; the instance's `StreamGate` says
whether the key may publish; players (the runner, or a local ffmpeg, through `input.rtmpUrl`)
read the same URL and get the codec headers and the last GOP first, so they start on a keyframe.

    server = RtmpServer(gate, host="127.0.0.1", port=0)
    await server.start(); server.port; await server.stop()

Modules: `handshake` (C0–S2), `chunks` (the chunk stream), `amf` (AMF0), `messages` (types and
builders), `session` (one connection's commands), `relay` (fan-out, caches, slow players),
`server` (listener, registry, gate).

Why our own protocol code and AMF0 codec, and not:

- `pyrtmp` 0.3.1 (PyPI, MIT, pure asyncio): read from its sdist. It covers the handshake, the
  chunk stream, AMF0 and the publish side, but has no play side at all (`play` is only a name
  in a list; no relay, no GOP cache), so half of this job would be ours anyway. `rtmp.py` calls
  `logging.basicConfig(level=DEBUG)` at import and five modules force their loggers to DEBUG,
  which would reconfigure the instance's logging. It parses every field through `bitstring`
  bit streams (pinned `bitstring>=4.1,<4.2`), slow for media and an extra pinned dependency,
  and its handlers are subclass hooks on a `SimpleRTMPController`, not an API we could test
  around. Patching all that would be a fork.
- An AMF library (`pyamf` 0.8.0, last release 2015, Python 2 era; `py3amf`, a young fork):
  RTMP needs a few AMF0 types (~150 lines with strict bounds checks), not a Flash remoting
  stack with AMF3, class aliases and XML.
- nginx-rtmp as a managed subprocess: the mature choice for heavy use, but a system package
  (or a build), a config file to template and a process to supervise, while the default
  instance must need nothing beyond `pip install`. It stays an option for operators who want
  it: the runner only needs an RTMP URL.

Slow players are dropped (see `relay`), never waited for.
"""

from __future__ import annotations

from offload.rtmp.relay import LiveStream, Subscription
from offload.rtmp.server import DEFAULT_APP, DEFAULT_PORT, RtmpServer, StreamGate

__all__ = ["DEFAULT_APP", "DEFAULT_PORT", "LiveStream", "RtmpServer", "StreamGate", "Subscription"]
