"""Register and unregister: the HTTP call plus the config edit, shared by the daemon (over IPC)
and the CLI when no daemon runs."""

from __future__ import annotations

import logging
from pathlib import Path

from offload.runner.client import InstanceClient
from offload.runner.config import RegisteredInstance, RunnerConfig
from offload.runner.errors import ConfigError, InstanceError, InstanceUnreachable

__all__ = ["register_instance", "unregister_instance", "validate_url"]

log = logging.getLogger(__name__)


def validate_url(url: str) -> str:
    """Instance URLs are `http(s)://host[:port]`, stored without a trailing slash."""
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"the instance URL must start with http:// or https:// (got {url!r})")
    return url.rstrip("/")


async def register_instance(
    config_file: Path,
    *,
    url: str,
    registration_token: str,
    runner_name: str,
    runner_description: str | None,
) -> RegisteredInstance:
    """Register on the instance and record the runner token in `config_file`."""
    url = validate_url(url)
    if not runner_name:
        raise ConfigError("a runner name is required")
    config = RunnerConfig.load(config_file)
    if config.find_instance(url, runner_name) is not None:
        raise ConfigError(f"{runner_name!r} is already registered on {url}")
    async with InstanceClient(url) as client:
        answer = await client.register(registration_token, runner_name, runner_description)
    registration = RegisteredInstance(
        url, str(answer["runnerToken"]), runner_name, runner_description
    )
    # Re-read just before writing: keep edits made while the HTTP call ran.
    config = RunnerConfig.load(config_file)
    config.add_instance(registration)
    config.save()
    log.info("registered %r on %s", runner_name, url)
    return registration


async def unregister_instance(config_file: Path, *, url: str, runner_name: str) -> None:
    """Unregister on the instance (failures are only logged) and drop the entry."""
    url = validate_url(url)
    config = RunnerConfig.load(config_file)
    registration = config.find_instance(url, runner_name)
    if registration is None:
        raise ConfigError(f"{runner_name!r} is not registered on {url}")
    try:
        async with InstanceClient(url) as client:
            await client.unregister(registration.runner_token)
    except (InstanceError, InstanceUnreachable) as exc:
        log.warning(
            "the instance did not confirm the unregistration (%s); removing it locally anyway", exc
        )
    config = RunnerConfig.load(config_file)
    config.remove_instance(url, runner_name)
    config.save()
    log.info("unregistered %r from %s", runner_name, url)
