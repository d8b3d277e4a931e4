"""Cluster settings: checked at load, the Redis URL masked, the node id's default."""

from __future__ import annotations

import socket

import pytest

from wcs.cluster.settings import node_id
from wcs.config import MASK, ConfigError, Settings, load_settings


def test_defaults_are_a_single_node() -> None:
    s = load_settings(env={})
    assert s.cluster_redis_url == "" and s.node_role == "both"
    assert node_id(s, 18081) == f"{socket.gethostname()}:18081"
    assert node_id(Settings(node_id="edge-1")) == "edge-1"


def test_redis_url_is_a_secret() -> None:
    s = load_settings(env={"WCS_CLUSTER_REDIS_URL": "redis://:s3cret@10.0.0.10:6379/0"})
    assert s.masked()["cluster_redis_url"] == MASK


@pytest.mark.parametrize(
    "env",
    [
        {"WCS_NODE_ROLE": "master"},
        {"WCS_CLUSTER_RELAY_AUTH": "hmac"},
        {"WCS_CLUSTER_HEARTBEAT_TTL": "0.5"},
        {"WCS_CLUSTER_RPC_TIMEOUT": "0"},
        {"WCS_CLUSTER_REDIS_URL": "http://redis:6379"},
    ],
)
def test_bad_values_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"node_role|cluster_"):
        load_settings(env=env)


def test_a_single_node_never_imports_redis() -> None:
    import subprocess
    import sys

    code = (
        "import asyncio, sys\n"
        "from wcs.config import Settings\n"
        "from wcs.server import Server\n"
        "async def main():\n"
        "    s = Server(Settings(http_port=0, ws_port=0, sip_port=0, hls_port=0, rtsp_port=0,"
        " demo_callee=False))\n"
        "    assert s.cluster is None\n"
        "    assert not [m for m in sys.modules if m.split('.')[0] == 'redis'], 'redis imported'\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
