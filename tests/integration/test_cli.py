"""The command line for people against a real server (the demo callee answers) and
``wcs conformance`` on the recorded traces and on a capture with broken packets."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from tests.server_thread import ServerThread
from wcs.cli import main

ROOT = Path(__file__).resolve().parents[2]
TRACES = ROOT / "conformance" / "traces"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    srv = ServerThread(tmp_path_factory.mktemp("cli")).start()
    yield srv
    srv.stop()


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_call_shows_progress_and_hangs_up(server: ServerThread) -> None:
    code, out, _ = run(
        "call",
        "--server",
        server.base,
        "--callee",
        "demo",
        "--to-stream",
        "cli1",
        "--call-id",
        "cli1",
        "--hangup-after",
        "0.5",
    )
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == "calling demo (call cli1, stream cli1)"
    assert any("RING (180 Ringing)" in x for x in lines)
    assert any("ESTABLISHED (200 OK)" in x for x in lines)
    assert f"{server.base}/whep/cli1" in out
    assert lines[-1] == "call ended"
    assert server.rest("call/find", {"callId": "cli1"})[0] == 404


def test_calls_and_streams_list_a_live_call(server: ServerThread) -> None:
    code, out, _ = run("call", "--server", server.base, "--callee", "demo",
                       "--to-stream", "cli2", "--call-id", "cli2")  # fmt: skip
    assert code == 0 and "ESTABLISHED" in out
    try:
        code, out, _ = run("calls", "--server", server.base)
        assert code == 0
        header, row = out.splitlines()[:2]
        assert header.split()[:3] == ["CALL", "ID", "STATUS"]
        assert row.split()[:4] == ["cli2", "ESTABLISHED", "200", "demo"]
        code, out, _ = run("streams", "--server", server.base)
        assert code == 0
        assert any(x.split()[:3] == ["cli2", "PUBLISHING", "publisher"] for x in out.splitlines())
        # The same call id again: refused, the message names the field.
        code, _, err = run("call", "--server", server.base, "--callee", "demo",
                           "--call-id", "cli2")  # fmt: skip
        assert code == 2 and "(callId)" in err
    finally:
        server.rest("call/terminate", {"callId": "cli2"})


def test_failed_call_and_unreachable_server(server: ServerThread) -> None:
    # Nobody at the callee's address answers: no answer within the timeout, hung up.
    code, out, _ = run(
        "call",
        "--server",
        server.base,
        "--callee",
        "1002",
        "--sip-login",
        "a",
        "--sip-domain",
        "127.0.0.1",
        "--sip-port",
        "9",
        "--timeout",
        "1",
    )
    assert code == 5 and "hanging up" in out
    code, _, err = run("calls", "--server", "http://127.0.0.1:9")
    assert code == 4 and "cannot reach" in err
    code, _, err = run("call", "--server", server.base, "--callee", "1002")
    assert code == 2 and "sip" in err.lower()


def test_conformance_on_a_recorded_call() -> None:
    code, out, _ = run("conformance", str(TRACES / "02-call-av.pcap"))
    assert code == 0, out
    assert "SIP messages: 16 (16 parsed, 0 failed)" in out
    assert "H264/90000" in out and "352x288" in out
    assert out.rstrip().endswith("RESULT: everything parsed")


def _pcap(payloads: list[tuple[int, int, bytes]]) -> bytes:
    """A classic pcap, link type RAW (IPv4), one UDP datagram per (sport, dport, payload)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)]
    for i, (sport, dport, payload) in enumerate(payloads):
        udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp  # fmt: skip
        out.append(struct.pack("<IIII", i, 0, len(ip), len(ip)) + ip)
    return b"".join(out)


def test_conformance_says_what_failed_and_why(tmp_path: Path) -> None:
    sdp = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           b"m=video 4000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n")  # fmt: skip
    invite = (b"INVITE sip:1002@x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
              b"From: <sip:a@x>;tag=1\r\nTo: <sip:1002@x>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n"
              b"Content-Type: application/sdp\r\nContent-Length: " + str(len(sdp)).encode()
              + b"\r\n\r\n" + sdp)  # fmt: skip
    broken = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\n"
              b"To: <sip:1002@x>\r\nCall-ID: c1\r\nCSeq: one INVITE\r\n\r\n")  # fmt: skip
    # An FU-A end fragment with no start, then a STAP-A whose length runs past the end.
    rtp = [struct.pack("!BBHII", 0x80, 96, 1 + i, 9000, 0x1234) + p
           for i, p in enumerate([b"\x7c\x45" + b"x" * 10, b"\x78\x00\x40\x67"])]  # fmt: skip
    path = tmp_path / "device.pcap"
    path.write_bytes(
        _pcap(
            [
                (5070, 5060, invite),
                (5060, 5070, broken),
                *[(5000, 4000, r) for r in rtp],
                (5000, 4000, b"\x80\x60"),
            ]
        )
    )
    code, out, _ = run("conformance", str(path))
    assert code == 1, out
    assert "SIP messages: 2 (1 parsed, 1 failed)" in out
    assert "FAIL #2" in out and "why: bad CSeq" in out
    assert "sdp ok: video 4000 H264/90000" in out
    assert "pt 96 H264/90000: 2 packets" in out
    assert "malformed payloads" in out and "<- problems" in out
    assert "RTP packets that did not parse: 1" in out
    code, out, _ = run("conformance", "--json", str(path))
    assert code == 1 and '"failures"' in out
    code, _, err = run("conformance", str(tmp_path / "missing.pcap"))
    assert code == 2 and "missing.pcap" in err


def account_args(kamailio: Any) -> list[str]:
    return [
        "--sip-login", "1001", "--sip-password", "secret1001", "--sip-domain", kamailio.realm,
        "--sip-proxy", kamailio.host, "--sip-port", str(kamailio.port),
    ]  # fmt: skip


@pytest.mark.peers
def test_call_busy_and_failed_give_their_exit_codes(server: ServerThread, kamailio,
                                                    callee) -> None:  # fmt: skip
    peer = callee(mode="busy")
    code, out, _ = run("call", "--server", server.base, "--callee", peer.user,
                       *account_args(kamailio))  # fmt: skip
    assert code == 3, out
    assert "BUSY (486" in out and out.splitlines()[-1].startswith("busy:")
    code, out, _ = run("call", "--server", server.base, "--callee", "7777",
                       *account_args(kamailio))  # fmt: skip
    assert code == 1, out
    assert "call failed: FAILED (404" in out


@pytest.mark.peers
def test_call_sends_dtmf_after_the_answer(server: ServerThread, kamailio, callee) -> None:
    from tests.integration.test_dtmf_sound_core import KeyListener

    peer = callee(media="audio", audio_codecs="PCMU/8000/1")
    keys = KeyListener(kamailio.host, peer.ports.ctrl)
    try:
        code, out, err = run("call", "--server", server.base, "--callee", peer.user,
                             "--audio-only", "--dtmf", "12#", "--dtmf-delay", "0.3",
                             "--hangup-after", "2", *account_args(kamailio))  # fmt: skip
    finally:
        keys.close()
    assert code == 0, (out, err)
    lines = out.splitlines()
    established = next(i for i, x in enumerate(lines) if "ESTABLISHED" in x)
    assert lines.index("sent DTMF 12#") > established
    assert "".join(keys.keys) == "12#"
    code, out, err = run("call", "--server", server.base, "--callee", peer.user,
                         "--audio-only", "--dtmf", "12x", *account_args(kamailio))  # fmt: skip
    assert code == 2 and "--dtmf: dtmf has keys outside" in err
    assert "calling" not in out  # refused before any call was placed
