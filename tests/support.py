"""Test helpers; they live in `offload.testing` so benchmarks and users' tests share them."""

from __future__ import annotations

from offload.testing import (
    ADMIN_PASSWORD,
    PgCluster,
    RunningInstance,
    async_wait_until,
    find_pg_bin,
    free_port,
    login,
    pg_cluster,
    start_instance,
    wait_until,
)

__all__ = [
    "ADMIN_PASSWORD",
    "PgCluster",
    "RunningInstance",
    "async_wait_until",
    "find_pg_bin",
    "free_port",
    "login",
    "pg_cluster",
    "start_instance",
    "wait_until",
]
