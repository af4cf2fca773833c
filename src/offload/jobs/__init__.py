"""Job types, one unit each: what a wire type's payloads look like, how it is processed, and
(instance side) how its output is checked and stored.

Two registries keyed by the same wire names (`JobType`):

- `registry.BUILTIN_KINDS` (runner side, also read by the instance): per type, its payload
  shapes (`verify_success`, `verify_update`) and its processing step (shared by the runner and
  the instance's local workers; None: nobody processes that type yet). Importing it pulls in
  no web or database library, so the runner can.
- `completions.BUILTIN_COMPLETIONS` (instance side): per type, the factory of the
  `JobHandler` that verifies and stores a success. A type without one keeps what the runner
  sent (`KeepFilesHandler`).

A type's module holds its runner half (`vod.py`), and its instance half lives beside it
(`vod_completion.py`) so the runner never imports the instance.
"""

from __future__ import annotations

__all__: list[str] = []
