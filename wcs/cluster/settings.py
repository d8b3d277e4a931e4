"""The cluster settings' checks and derived values (no Redis import: config loads this)."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wcs.config import Settings

ROLES = ("origin", "edge", "both")
RELAY_AUTH = ("mac", "none")


def validate_cluster(s: Settings) -> None:
    from wcs.config import ConfigError

    if s.node_role not in ROLES:
        raise ConfigError(f"setting 'node_role': one of {', '.join(ROLES)}")
    if s.cluster_relay_auth not in RELAY_AUTH:
        raise ConfigError(f"setting 'cluster_relay_auth': one of {', '.join(RELAY_AUTH)}")
    if s.cluster_heartbeat_ttl < 1 or s.cluster_rpc_timeout <= 0 or s.cluster_relay_grace < 0:
        raise ConfigError(
            "settings 'cluster_heartbeat_ttl' (>= 1 s), 'cluster_rpc_timeout' (> 0), "
            "'cluster_relay_grace' (>= 0): out of range"
        )
    if s.cluster_redis_url and not s.cluster_redis_url.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        raise ConfigError("setting 'cluster_redis_url': a redis://, rediss:// or unix:// URL")


def node_id(s: Settings, http_port: int | None = None) -> str:
    """The setting, or ``<host name>:<http port>`` (unique per machine and listener)."""
    if s.node_id:
        return s.node_id
    return f"{socket.gethostname()}:{http_port if http_port is not None else s.http_port}"
