"""IceTransport against a scripted browser: no candidates, regular nomination (as Chrome).

The fake browser is a UDP socket on loopback speaking STUN with aioice's message codec.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from aioice import stun

from wcs.webrtc.ice import IceTransport

pytestmark = pytest.mark.asyncio

BROWSER_UFRAG = "brws"
BROWSER_PWD = "browserpasswordbrowser"


class Browser(asyncio.DatagramProtocol):
    """Answers the server's checks; records everything else."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.responses: list[stun.Message] = []
        self.checks_answered = 0
        self.data: list[bytes] = []
        self.answered = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            msg = stun.parse_message(data)
        except ValueError:
            self.data.append(data)
            return
        if msg.message_class == stun.Class.REQUEST:
            # The server's triggered check, signed with our (the browser's) password.
            assert msg.check_message_integrity(BROWSER_PWD.encode())
            assert msg.attributes["USERNAME"].startswith(BROWSER_UFRAG + ":")
            assert "ICE-CONTROLLED" in msg.attributes
            reply = stun.Message(
                stun.Method.BINDING, stun.Class.RESPONSE, transaction_id=msg.transaction_id
            )
            reply.attributes["XOR-MAPPED-ADDRESS"] = (addr[0], addr[1])
            reply.add_message_integrity(BROWSER_PWD.encode())
            if self.transport is None:  # told to stop answering
                return
            self.transport.sendto(bytes(reply), addr)
            self.checks_answered += 1
            self.answered.set()
        else:
            self.responses.append(msg)

    def check(self, ice: IceTransport, addr: tuple[str, int], nominate: bool, pwd: str) -> None:
        req = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
        req.attributes["USERNAME"] = f"{ice.local_ufrag}:{BROWSER_UFRAG}"
        req.attributes["PRIORITY"] = 1853824767
        req.attributes["ICE-CONTROLLING"] = 12345
        if nominate:
            req.attributes["USE-CANDIDATE"] = None
        req.add_message_integrity(pwd.encode())
        assert self.transport is not None
        self.transport.sendto(bytes(req), addr)


async def until(predicate: Any, limit: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while not predicate():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.01)


async def test_zero_candidates_regular_nomination() -> None:
    received: list[bytes] = []
    ice = IceTransport(received.append, bind_ip="127.0.0.1")
    [cand] = await ice.bind()
    server = (cand.ip, cand.port)
    loop = asyncio.get_running_loop()
    transport, browser = await loop.create_datagram_endpoint(Browser, local_addr=("127.0.0.1", 0))
    browser_addr = transport.get_extra_info("sockname")
    connecting = asyncio.create_task(ice.connect(BROWSER_UFRAG, BROWSER_PWD, []))
    try:
        # A check with a wrong password is refused and teaches nothing.
        browser.check(ice, server, nominate=True, pwd="x" * 22)
        await until(lambda: browser.responses)
        assert browser.responses[0].message_class == stun.Class.ERROR
        # Chrome: a plain check first; the server answers and sends a triggered check.
        browser.check(ice, server, nominate=False, pwd=ice.local_pwd)
        await asyncio.wait_for(browser.answered.wait(), 5)
        await until(lambda: len(browser.responses) >= 2)
        ok = browser.responses[-1]
        assert ok.message_class == stun.Class.RESPONSE
        assert ok.attributes["XOR-MAPPED-ADDRESS"] == browser_addr
        await asyncio.sleep(0.1)
        assert not connecting.done()  # not nominated yet, and not failed either
        # DTLS arriving before our side sees the nomination is kept for later.
        transport.sendto(b"\x16early", server)
        browser.check(ice, server, nominate=True, pwd=ice.local_pwd)
        await asyncio.wait_for(connecting, 5)
        assert (ice.remote_host, ice.remote_port) == browser_addr
        await until(lambda: received)
        assert received == [b"\x16early"]
        transport.sendto(b"\x80media", server)
        await until(lambda: len(received) == 2)
        ice.send(b"\x17to-browser")
        await until(lambda: browser.data)
        assert browser.data == [b"\x17to-browser"]
    finally:
        connecting.cancel()
        transport.close()
        await ice.close()
    with pytest.raises(ConnectionError):
        ice.send(b"\x80late")


async def test_media_from_other_addresses_is_ignored() -> None:
    received: list[bytes] = []
    ice = IceTransport(received.append, bind_ip="127.0.0.1")
    [cand] = await ice.bind()
    ice.select_remote("127.0.0.1", 9)  # a "selected pair" nobody sends from
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        stranger.sendto(b"\x80spoofed", (cand.ip, cand.port))
        await asyncio.sleep(0.1)
    assert received == []
    await ice.close()


async def test_a_port_held_elsewhere_is_skipped() -> None:
    """Media workers and the main process share the media range: a bind decides who gets a
    port, so a port another socket (in any process) holds is never handed out twice."""
    from tests.fixtures.ports import free_port_range
    from wcs.webrtc.ice import IceBindError, _bind_udp

    low = free_port_range(4)
    low += low & 1
    held = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    held.bind(("127.0.0.1", low))
    try:
        for _ in range(10):
            sock = _bind_udp("127.0.0.1", (low, low + 2))
            assert sock.getsockname()[1] == low + 2
            sock.close()
        other = _bind_udp("127.0.0.1", (low, low + 2))
        try:
            with pytest.raises(IceBindError):
                _bind_udp("127.0.0.1", (low, low + 2))
        finally:
            other.close()
    finally:
        held.close()


async def test_our_consent_checks_replace_aioices_and_only_signed_answers_count() -> None:
    ice = IceTransport(lambda data: None, bind_ip="127.0.0.1")
    [cand] = await ice.bind()
    server = (cand.ip, cand.port)
    loop = asyncio.get_running_loop()
    transport, browser = await loop.create_datagram_endpoint(Browser, local_addr=("127.0.0.1", 0))
    connecting = asyncio.create_task(ice.connect(BROWSER_UFRAG, BROWSER_PWD, []))
    try:
        browser.check(ice, server, nominate=True, pwd=ice.local_pwd)
        await asyncio.wait_for(connecting, 5)
        # aioice's own task (one timer per connection) is gone: the peer's timer sends ours.
        assert ice.connection._query_consent_task is None  # type: ignore[attr-defined]
        answered = browser.checks_answered
        ice.consent_at = 0.0
        ice.check_consent()
        await until(lambda: browser.checks_answered == answered + 1)
        await until(lambda: ice.consent_at > 0.0)  # the signed answer renewed consent
        # An answer not signed with the browser's password renews nothing.
        pair: Any = ice.connection._nominated[1]  # type: ignore[attr-defined]
        browser.transport = None  # the browser stops answering
        ice.consent_at = 0.0
        ice.check_consent()
        [tid] = ice._consent_ids
        forged = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, transaction_id=tid)
        forged.add_message_integrity(b"not the password")
        pair.protocol.transactions[tid].response_received(forged, pair.remote_addr)
        assert ice.consent_at == 0.0
        # Unanswered checks are remembered up to a bound, then forgotten.
        for _ in range(10):
            ice.check_consent()
        assert len(ice._consent_ids) == 6
        assert set(ice._consent_ids) <= set(pair.protocol.transactions)
    finally:
        connecting.cancel()
        transport.close()
        await ice.close()
