from __future__ import annotations

import socket

import pytest

from wcs.rtp.ports import MediaPorts, PortAllocator, PortsExhausted


def _free_range(size: int) -> int:
    """An even port p such that p .. p+size-1 are free right now (chosen at run time)."""
    for _ in range(50):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        base = int(probe.getsockname()[1]) & ~1
        probe.close()
        if base + size > 65535:
            continue
        socks = []
        try:
            for port in range(base, base + size):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return base
    pytest.skip("no free port range found")


def test_pair_is_even_bound_and_non_blocking() -> None:
    base = _free_range(8)
    alloc = PortAllocator(base, base + 7, "127.0.0.1")
    with alloc.allocate_pair() as ports:
        assert ports.rtp_port % 2 == 0 and base <= ports.rtp_port <= base + 6
        assert ports.rtcp_port == ports.rtp_port + 1
        assert ports.rtp_socket.getsockname() == ("127.0.0.1", ports.rtp_port)
        assert ports.rtcp_socket is not None
        assert ports.rtcp_socket.getsockname() == ("127.0.0.1", ports.rtp_port + 1)
        assert ports.rtp_socket.gettimeout() == 0.0
        assert alloc.in_use == 1
        # The socket really receives.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.sendto(b"rtp", ("127.0.0.1", ports.rtp_port))
            ports.rtp_socket.setblocking(True)
            ports.rtp_socket.settimeout(5)
            assert ports.rtp_socket.recv(100) == b"rtp"
    assert ports.released and alloc.in_use == 0
    assert ports.rtp_socket.fileno() == -1 and ports.rtcp_socket.fileno() == -1


def test_port_taken_by_someone_else_is_skipped() -> None:
    base = _free_range(6)
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    squatter.bind(("127.0.0.1", base + 1))  # the RTCP port of the first pair
    try:
        alloc = PortAllocator(base, base + 5, "127.0.0.1")
        first = alloc.allocate_pair()
        assert first.rtp_port == base + 2
        # The even port alone is fine with rtcp-mux.
        mux = alloc.allocate_pair(rtcp_mux=True)
        assert mux.rtp_port in (base, base + 4)
        assert mux.rtcp_socket is None and mux.rtcp_port == mux.rtp_port
        alloc.close()
        assert alloc.in_use == 0 and first.released and mux.released
    finally:
        squatter.close()


def test_exhaustion_and_release() -> None:
    base = _free_range(4)
    alloc = PortAllocator(base, base + 3, "127.0.0.1")
    assert alloc.capacity == 2
    a = alloc.allocate_pair()
    b = alloc.allocate_pair()
    assert {a.rtp_port, b.rtp_port} == {base, base + 2}
    with pytest.raises(PortsExhausted, match=f"{base}-{base + 3}"):
        alloc.allocate_pair()
    alloc.release(a)
    alloc.release(a)  # twice is harmless
    c = alloc.allocate_pair()
    assert c.rtp_port == a.rtp_port
    b.release()
    c.release()
    assert alloc.in_use == 0


def test_cursor_moves_on_after_release() -> None:
    base = _free_range(8)
    alloc = PortAllocator(base, base + 7, "127.0.0.1")
    first = alloc.allocate_pair()
    first.release()
    second = alloc.allocate_pair()
    assert second.rtp_port != first.rtp_port  # no immediate reuse of a just-freed port
    second.release()


def test_context_manager_releases_on_error() -> None:
    base = _free_range(4)
    alloc = PortAllocator(base, base + 3, "127.0.0.1")
    seen: list[MediaPorts] = []
    with pytest.raises(RuntimeError), alloc.allocate() as ports:
        seen.append(ports)
        raise RuntimeError("call failed")
    assert seen[0].released and alloc.in_use == 0


def test_odd_bounds() -> None:
    base = _free_range(4)
    alloc = PortAllocator(base + 1, base + 2, "127.0.0.1")  # only base+2 is even; no +1 room
    with pytest.raises(PortsExhausted, match="pair"):
        alloc.allocate_pair()
    with alloc.allocate_pair(rtcp_mux=True) as ports:
        assert ports.rtp_port == base + 2
    with pytest.raises(ValueError):
        PortAllocator(10, 5)
    assert "released" in repr(ports)


def test_allocate_pairs_takes_all_or_nothing() -> None:
    base = _free_range(4)
    alloc = PortAllocator(base, base + 3, "127.0.0.1")
    with pytest.raises(PortsExhausted):
        alloc.allocate_pairs(3)
    assert alloc.in_use == 0  # the two pairs it got are back, their sockets closed
    pairs = alloc.allocate_pairs(2)
    assert sorted(p.rtp_port for p in pairs) == [base, base + 2]
    alloc.close()
