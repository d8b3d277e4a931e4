"""Test-suite plugins. The peer fixtures start real third-party peers (Kamailio, baresip,
nginx-rtmp) on free loopback ports; see tests/fixtures/ and tests/peers/."""

pytest_plugins = [
    "tests.fixtures.peers_base",
    "tests.fixtures.sip_peers",
    "tests.fixtures.rtmp_peers",
    "tests.fixtures.redis_peers",
]
