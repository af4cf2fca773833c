"""PeerTube's custom uploads: an instance may ask for an output file to be sent straight to a URL
of its choice (object storage) instead of with the success call.

The job payload's `output` carries `<fileField>CustomUpload: {url, method?}` (PeerTube
`packages/models/src/runners/runner-jobs/runner-job-payload.model.ts`, `RunnerJobCustomUpload`;
method `PUT` by default, or `POST`). PeerTube's runner (`RunnerJobsCommand.customUpload` in
`packages/server-commands`) sends the file there as a multipart form whose only part is `file`,
keeping the query string, and then leaves that file out of the success request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CustomUpload", "custom_uploads_of"]

_SUFFIX = "CustomUpload"
_METHODS = ("PUT", "POST")


@dataclass(frozen=True)
class CustomUpload:
    """Where one output file goes, and how."""

    url: str
    method: str = "PUT"


def custom_uploads_of(payload: Mapping[str, Any]) -> dict[str, CustomUpload]:
    """The custom uploads a job payload asks for, by output file field (`videoFile`, …).

    Raises ValueError, naming the descriptor, for one without an http(s) URL or with another
    method: the job fails with that message rather than uploading somewhere unintended.
    """
    output = payload.get("output")
    if not isinstance(output, Mapping):
        return {}
    uploads: dict[str, CustomUpload] = {}
    for key, descriptor in output.items():
        if not key.endswith(_SUFFIX) or descriptor is None:
            continue
        if not isinstance(descriptor, Mapping):
            raise ValueError(
                f"output.{key} must be an object {{url, method?}}, got {type(descriptor).__name__}"
            )
        url = descriptor.get("url")
        method = descriptor.get("method") or "PUT"
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"output.{key} needs an http(s) url, got {url!r}")
        if method not in _METHODS:
            raise ValueError(f"output.{key}: method must be PUT or POST, got {method!r}")
        uploads[key.removesuffix(_SUFFIX)] = CustomUpload(url, method)
    return uploads
