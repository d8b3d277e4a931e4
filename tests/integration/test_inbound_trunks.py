"""Inbound trunks (issue 12): calls that reach the server without a registration. baresip
dials the server directly (its outbound proxy is the server); a scripted UDP peer sends what
baresip cannot (an INVITE without SDP, an offer with no codec in common)."""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import socket
from pathlib import Path
from typing import Any

import av
import pytest

from tests.integration.conftest import WcsFactory, WcsProcess
from tests.integration.inbound_helpers import Backend, published, wait_until
from tests.integration.test_push_calls import Probe, base_url
from tests.integration.test_record_real_peers import wait_files

pytestmark = pytest.mark.peers


def start(wcs: WcsFactory, backend: Backend, *trunks: dict[str, Any], **more: Any) -> WcsProcess:
    settings: dict[str, Any] = {"rest_hooks": f"testApp={backend.url}", **more}
    if trunks:
        settings["sip_trunk"] = json.dumps([{"appKey": "testApp", **t} for t in trunks])
    return wcs(**settings)


def direct_caller(caller: Any, kamailio: Any, server: WcsProcess, transport: str = "udp") -> Any:
    """baresip 1001 whose outbound proxy is the server itself (no Kamailio on the path)."""
    fake = dataclasses.replace(kamailio, port=server.sip_port)
    return caller(user="1001", kamailio=fake, transport=transport)


def test_nothing_configured_refuses_with_403(
    kamailio: Any, caller: Any, wcs: WcsFactory, backend: Backend
) -> None:
    server = start(wcs, backend)
    res = direct_caller(caller, kamailio, server).call("1003", timeout_s=10)
    assert not res.established and res.status == 403, res.closed
    assert server.rest("call/find_all")[0] == 404


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_trunk_from_an_allowed_address(
    kamailio: Any, caller: Any, wcs: WcsFactory, backend: Backend, transport: str
) -> None:
    trunk = {"name": "pbx", "allow": ["127.0.0.1/32"], "toStream": "trunk-{callee}"}
    server = start(wcs, backend, trunk)
    peer = direct_caller(caller, kamailio, server, transport)
    result = peer.call_in_background("1003", hold_s=3)
    published(server, "trunk-1003")
    res = result.result(40)
    assert res.established and res.rtp["audio"]["rx_packets"] > 0
    print(f"inbound {transport} call: INVITE to established at the caller {res.setup_s} s")
    (call,) = {e["callId"] for e in backend.of("CallStatusEvent")}
    backend.wait_status(call, "FINISH")
    assert backend.statuses(call) == ["ESTABLISHED", "FINISH"]


def test_trunk_from_a_refused_address(
    kamailio: Any, caller: Any, wcs: WcsFactory, backend: Backend
) -> None:
    server = start(wcs, backend, {"name": "pbx", "allow": ["192.0.2.0/24"]})
    res = direct_caller(caller, kamailio, server).call("1003", timeout_s=10)
    assert not res.established and res.status == 403, res.closed


@pytest.mark.parametrize(("password", "ok"), [("secret1001", True), ("wrong", False)])
def test_trunk_with_digest_credentials(
    kamailio: Any, caller: Any, wcs: WcsFactory, backend: Backend, password: str, ok: bool
) -> None:
    # baresip answers the first challenge only and knows no SHA-256 ("Function not
    # implemented"): this trunk challenges with MD5 alone
    trunk = {"name": "auth", "username": "1001", "password": password, "realm": "wcs",
             "algorithms": ["MD5"]}  # fmt: skip
    server = start(wcs, backend, trunk)
    res = direct_caller(caller, kamailio, server).call("1003", hold_s=1, timeout_s=10)
    assert res.established is ok, res.closed
    if not ok:
        assert res.status in (401, 403), res.closed
    assert password not in server.log()


# ---- a scripted UDP peer for what baresip cannot send ---------------------------------------

G722_OFFER = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n"
)
PCMU_ANSWER = (
    "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


class UdpPeer:
    def __init__(self, server: WcsProcess) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(10)
        self.port = self.sock.getsockname()[1]
        self.dest = ("127.0.0.1", server.sip_port)
        self.call_id = secrets.token_hex(8)
        self.tag = secrets.token_hex(4)

    def request(
        self, method: str, cseq: int, body: str = "", to: str = "<sip:1003@127.0.0.1>"
    ) -> None:
        lines = [
            f"{method} sip:1003@127.0.0.1:{self.dest[1]} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{secrets.token_hex(6)};rport",
            "Max-Forwards: 70",
            f"From: <sip:2000@127.0.0.1>;tag={self.tag}",
            f"To: {to}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:2000@127.0.0.1:{self.port}>",
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines += [f"Content-Length: {len(body)}", "", body]
        self.sock.sendto("\r\n".join(lines).encode(), self.dest)

    def response(self, final: bool = True) -> tuple[int, str]:
        while True:
            text = self.sock.recv(65536).decode()
            status = int(text.split(" ", 2)[1])
            if status >= 200 or not final:
                return status, text

    def close(self) -> None:
        self.sock.close()


def header(text: str, name: str) -> str:
    m = re.search(rf"^{name}:\s*(.*)$", text, re.MULTILINE | re.IGNORECASE)
    assert m, (name, text)
    return m.group(1).strip()


def test_no_common_codec_is_488_with_a_warning(wcs: WcsFactory, backend: Backend) -> None:
    server = start(wcs, backend, {"name": "lab", "allow": ["127.0.0.1"]})
    peer = UdpPeer(server)
    try:
        peer.request("INVITE", 1, G722_OFFER.format(port=peer.port + 2))
        status, text = peer.response()
        assert status == 488
        assert "Incompatible media format" in header(text, "Warning")
        peer.request("ACK", 1, to=header(text, "To"))
    finally:
        peer.close()
    failed = wait_until("FAILED", lambda: backend.of("CallStatusEvent"))[0]
    assert (failed["status"], failed["sipStatus"], failed["incoming"]) == ("FAILED", 488, True)


def test_invite_without_sdp_gets_our_offer_and_takes_the_answer_from_the_ack(
    wcs: WcsFactory, backend: Backend
) -> None:
    server = start(wcs, backend, {"name": "lab", "allow": ["127.0.0.1"], "hasVideo": False})
    peer = UdpPeer(server)
    try:
        peer.request("INVITE", 1)
        status, ok = peer.response()
        assert status == 200
        offer = ok.split("\r\n\r\n", 1)[1]
        assert "m=audio" in offer and "PCMU" in offer  # our offer, in the 200
        to = header(ok, "To")
        peer.request("ACK", 1, PCMU_ANSWER.format(port=peer.port + 2), to=to)
        established = wait_until(
            "ESTABLISHED",
            lambda: next((e for e in backend.of("CallStatusEvent")
                          if e["status"] == "ESTABLISHED"), None),
        )  # fmt: skip
        assert established["incoming"] is True and established["caller"] == "2000"
        cid = established["callId"]
        peer.request("BYE", 2, to=to)
        assert peer.response()[0] == 200
        backend.wait_status(cid, "FINISH")
    finally:
        peer.close()


def test_dispatch_record_writes_the_call_to_a_file(
    kamailio: Any, caller: Any, wcs: WcsFactory, backend: Backend, tmp_path: Path
) -> None:
    records = tmp_path / "records"
    trunk = {"name": "pbx", "allow": ["127.0.0.1"], "toStream": "rec-{caller}", "record": True}
    server = start(wcs, backend, trunk, record_dir=str(records))
    res = direct_caller(caller, kamailio, server).call("1003", hold_s=3)
    assert res.established
    (path,) = wait_files(records, 1)
    assert path.name.startswith("rec-1001") and path.stat().st_size > 0
    with av.open(str(path)) as container:
        kinds = {s.type for s in container.streams}
        assert kinds == {"audio", "video"}
        assert any(p.size for p in container.demux(video=0))


def test_dispatch_rtmp_url_pushes_the_inbound_call(
    kamailio: Any, caller: Any, wcs: WcsFactory, backend: Backend, nginx_rtmp: Any
) -> None:
    name = "rtmp-in-1001"
    probe = Probe(nginx_rtmp.url(name))  # joins first: nginx keeps it until the stream comes
    trunk = {
        "name": "pbx",
        "allow": ["127.0.0.1"],
        "toStream": "rtmp-in-{caller}",
        "rtmpUrl": base_url(nginx_rtmp),
    }
    server = start(wcs, backend, trunk)
    result = direct_caller(caller, kamailio, server).call_in_background("1003", hold_s=8)
    streams = probe.join()
    assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac"
    assert result.result(40).established
    (call,) = {e["callId"] for e in backend.of("CallStatusEvent")}
    assert backend.wait_status(call, "ESTABLISHED")["rtmpUrl"] == base_url(nginx_rtmp)
