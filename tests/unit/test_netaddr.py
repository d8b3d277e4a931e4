"""Address family rules at the socket edges (wcs.netaddr) and the bind/public settings."""

from __future__ import annotations

import socket

import pytest

from wcs import netaddr
from wcs.config import ConfigError, load_settings


def test_unmap_only_touches_ipv4_mapped() -> None:
    assert netaddr.unmap("::ffff:192.0.2.1") == "192.0.2.1"
    assert netaddr.unmap("::FFFF:10.0.0.1") == "10.0.0.1"
    assert netaddr.unmap("::ffff:c000:201") == "::ffff:c000:201"  # hex form: left alone
    assert netaddr.unmap("::1") == "::1"
    assert netaddr.unmap("192.0.2.1") == "192.0.2.1"


def test_for_socket_maps_ipv4_only_on_dual_stack() -> None:
    assert netaddr.for_socket("192.0.2.1", True) == "::ffff:192.0.2.1"
    assert netaddr.for_socket("192.0.2.1", False) == "192.0.2.1"
    assert netaddr.for_socket("2001:db8::1", True) == "2001:db8::1"


def test_formats() -> None:
    assert netaddr.hostport("::1", 5) == "[::1]:5"
    assert netaddr.hostport("10.0.0.1", 5) == "10.0.0.1:5"
    assert netaddr.sdp_addrtype("::1") == "IP6" and netaddr.sdp_addrtype("1.2.3.4") == "IP4"
    assert netaddr.unbracket("[::1]") == "::1" and netaddr.unbracket("::1") == "::1"


def test_listeners_and_families() -> None:
    assert netaddr.listen_hosts("::") == ["::", "0.0.0.0"]
    assert netaddr.listen_hosts("::1") == "::1"
    assert netaddr.listen_hosts("0.0.0.0") == "0.0.0.0"
    assert netaddr.resolve_family("::") == socket.AF_UNSPEC
    assert netaddr.resolve_family("::1") == socket.AF_INET6
    assert netaddr.resolve_family("0.0.0.0") == socket.AF_INET
    assert netaddr.loopback_for("2001:db8::1") == "::1"
    assert netaddr.loopback_for("10.0.0.1") == "127.0.0.1"


def test_dual_stack_udp_socket_takes_ipv4() -> None:
    sock = netaddr.udp_socket("::")
    with sock:
        assert sock.family == socket.AF_INET6
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0
        sock.bind(("::", 0))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as v4:
            v4.sendto(b"x", ("127.0.0.1", sock.getsockname()[1]))
            sock.settimeout(5)
            data, addr = sock.recvfrom(10)
        assert data == b"x" and addr[0] == "::ffff:127.0.0.1"
        assert netaddr.unmap(addr[0]) == "127.0.0.1"


@pytest.mark.parametrize(
    ("bind", "public"),
    [("::1", "::1"), ("::", ""), ("::", "127.0.0.1"), ("::", "2001:db8::1"), ("0.0.0.0", "")],
)
def test_supported_bind_and_public_ip(bind: str, public: str) -> None:
    s = load_settings(env={"WCS_BIND_IP": bind, "WCS_PUBLIC_IP": public})
    assert s.bind_ip == bind
    if public:
        assert s.effective_public_ip() == public


def test_specific_ipv6_bind_is_its_own_public_ip() -> None:
    assert load_settings(env={"WCS_BIND_IP": "::1"}).effective_public_ip() == "::1"


@pytest.mark.parametrize(
    ("bind", "public", "message"),
    [
        ("::1", "127.0.0.1", "bind_ip'/'public_ip"),
        ("0.0.0.0", "::1", "bind_ip'/'public_ip"),
        ("[::1]", "", "bind_ip"),
        ("localhost", "", "bind_ip"),
        ("::ffff:127.0.0.1", "", "IPv4-mapped"),
        ("::", "::ffff:10.0.0.1", "IPv4-mapped"),
        ("::", "host.example", "public_ip"),
    ],
)
def test_unusable_bind_or_public_ip_is_refused(bind: str, public: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env={"WCS_BIND_IP": bind, "WCS_PUBLIC_IP": public})
