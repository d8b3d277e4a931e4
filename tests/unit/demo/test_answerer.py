"""DemoAnswerer (the demo policy on our UAS), sans-IO: fed SIP bytes and an injected clock."""

from __future__ import annotations

from wcs import sdp
from wcs.demo import CallEnded, CallStarted, CallUpdated, DemoAnswerer
from wcs.demo.routing import demo_defaults, is_demo_body
from wcs.sip.message import SipRequest, SipResponse, parse_message

CALLER = ("127.0.0.1", 5099)


def invite(
    call_id: str = "abc",
    user: str = "demo",
    body: bytes | None = None,
    to_tag: str | None = None,
    cseq: int = 1,
    branch: str = "z9hG4bKone",
) -> bytes:
    if body is None:
        body = str(sdp.build_offer("127.0.0.1", 40000, 40002)).encode()
    to = f"<sip:{user}@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    return (
        f"INVITE sip:{user}@127.0.0.1:5070 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5099;branch={branch};rport\r\n"
        "From: <sip:wcs@127.0.0.1>;tag=caller1\r\n"
        f"To: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} INVITE\r\n"
        "Contact: <sip:wcs@127.0.0.1:5099>\r\nMax-Forwards: 70\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def request(
    method: str,
    call_id: str = "abc",
    cseq: int = 2,
    to_tag: str | None = None,
    branch: str = "z9hG4bKtwo",
) -> bytes:
    to = "<sip:demo@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    return (
        f"{method} sip:demo@127.0.0.1:5070 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5099;branch={branch};rport\r\n"
        f"From: <sip:wcs@127.0.0.1>;tag=caller1\r\nTo: {to}\r\nCall-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def make() -> DemoAnswerer:
    return DemoAnswerer(
        "127.0.0.1", 5070, lambda key: {"audio": 41000, "video": 41002}, ring_delay=1.0
    )


def responses(uas: DemoAnswerer, now: float = 0.0) -> list[SipResponse]:
    out = []
    for data, addr in uas.datagrams_to_send(now):
        assert addr == CALLER
        msg = parse_message(data)
        assert isinstance(msg, SipResponse)
        out.append(msg)
    return out


def answered(uas: DemoAnswerer) -> tuple[SipResponse, str]:
    """The 200 after the ring delay, and the call's key (from CallStarted)."""
    uas.receive(invite(), CALLER, 0.0)
    assert [r.status for r in responses(uas)] == [100, 180]
    assert uas.get_timer() == 1.0
    uas.handle_timer(1.0)
    (ok,) = responses(uas, 1.0)
    assert ok.status == 200
    started = uas.next_event()
    assert isinstance(started, CallStarted)
    return ok, started.key


def to_tag(resp: SipResponse) -> str:
    return (resp.headers.get("To") or "").split("tag=")[1]


def test_rings_then_answers_with_pcmu_and_h264() -> None:
    uas = make()
    uas.receive(invite(), CALLER, 0.0)
    assert [r.status for r in responses(uas)] == [100, 180]
    assert uas.next_event() is None  # nothing to send before the answer
    uas.handle_timer(1.0)
    (ok,) = responses(uas, 1.0)
    answer = sdp.SessionDescription.parse(ok.body.decode())
    audio, video = answer.media
    assert (audio.port, audio.codecs[0].name) == (41000, "PCMU")
    assert (video.port, video.codecs[0].name) == (41002, "H264")
    assert video.codecs[0].payload_type == 97  # the offer's packetization-mode=1 type
    assert sdp.direction_of(audio, answer) == "sendonly"
    assert ok.headers.get("Contact") == "<sip:demo@127.0.0.1:5070>"
    assert ok.headers.get("Server") == "wcs-demo-callee"
    started = uas.next_event()
    assert isinstance(started, CallStarted)
    kinds = {t.kind: (t.address, t.payload_type) for t in started.targets}
    assert kinds == {"audio": (("127.0.0.1", 40000), 0), "video": (("127.0.0.1", 40002), 97)}


def test_200_is_retransmitted_until_ack_then_bye_ends() -> None:
    uas = make()
    ok, key = answered(uas)
    uas.handle_timer(1.5)  # T1 later
    assert [r.status for r in responses(uas, 1.5)] == [200]
    uas.receive(request("ACK", cseq=1, to_tag=to_tag(ok)), CALLER, 1.6)
    uas.handle_timer(10.0)
    assert responses(uas, 10.0) == []  # no more retransmissions
    uas.receive(request("BYE", to_tag=to_tag(ok)), CALLER, 11.0)
    assert [r.status for r in responses(uas, 11.0)] == [200]
    assert uas.next_event() == CallEnded(key, "BYE")
    assert uas.active_calls() == 0


def test_no_ack_ends_the_call_with_bye() -> None:
    uas = make()
    _ok, key = answered(uas)
    t = 1.0
    sent: list[SipRequest] = []
    while uas.active_calls() and t < 100:
        t = uas.get_timer() or 100.0
        uas.handle_timer(t)
        sent += [
            m for d, _ in uas.datagrams_to_send(t) if isinstance(m := parse_message(d), SipRequest)
        ]
    assert [m.method for m in sent] == ["BYE"]
    assert t >= 1.0 + 64 * 0.5
    ended = uas.next_event()
    assert isinstance(ended, CallEnded) and ended.key == key


def test_maximum_duration_hangs_up() -> None:
    uas = DemoAnswerer(
        "127.0.0.1", 5070, lambda key: {"audio": 41000, "video": 41002},
        ring_delay=0.0, max_duration=5.0,
    )  # fmt: skip
    uas.receive(invite(), CALLER, 0.0)
    uas.handle_timer(0.0)
    ok = next(r for r in responses(uas) if r.status == 200)
    started = uas.next_event()
    assert isinstance(started, CallStarted)
    uas.receive(request("ACK", cseq=1, to_tag=to_tag(ok)), CALLER, 0.1)
    assert uas.get_timer() == 5.0
    uas.handle_timer(5.0)
    (bye,) = [parse_message(d) for d, _ in uas.datagrams_to_send(5.0)]
    assert isinstance(bye, SipRequest) and bye.method == "BYE"
    assert uas.active_calls() == 1  # until the BYE is answered
    answer = (
        "SIP/2.0 200 OK\r\n"
        f"Via: {bye.headers.get('Via')}\r\nFrom: {bye.headers.get('From')}\r\n"
        f"To: {bye.headers.get('To')}\r\nCall-ID: abc\r\nCSeq: {bye.headers.get('CSeq')}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    uas.receive(answer, CALLER, 5.1)
    assert uas.active_calls() == 0
    ended = uas.next_event()
    assert isinstance(ended, CallEnded) and ended.key == started.key


def test_cancel_while_ringing_gives_487() -> None:
    uas = make()
    uas.receive(invite(), CALLER, 0.0)
    responses(uas)
    uas.receive(request("CANCEL", cseq=1, branch="z9hG4bKone"), CALLER, 0.5)
    statuses = sorted((r.status, r.cseq[1]) for r in responses(uas, 0.5))
    assert statuses == [(200, "CANCEL"), (487, "INVITE")]
    ended = uas.next_event()
    assert isinstance(ended, CallEnded) and ended.reason == "Cancelled by caller"
    assert uas.active_calls() == 0


def test_retransmitted_invite_repeats_the_last_response() -> None:
    uas = make()
    uas.receive(invite(), CALLER, 0.0)
    assert [r.status for r in responses(uas)] == [100, 180]
    uas.receive(invite(), CALLER, 0.5)
    assert [r.status for r in responses(uas, 0.5)] == [180]


def test_other_user_404_no_sdp_488_unknown_method_405() -> None:
    uas = make()
    uas.receive(invite(user="alice"), CALLER, 0.0)
    uas.receive(invite(call_id="x2", body=b"", branch="z9hG4bKx2"), CALLER, 0.0)
    uas.receive(request("SUBSCRIBE", call_id="x3"), CALLER, 0.0)
    uas.receive(request("OPTIONS", call_id="x4"), CALLER, 0.0)
    finals = [r.status for r in responses(uas) if r.status >= 200]
    assert finals == [404, 488, 405, 200]
    assert uas.active_calls() == 0


def test_no_common_codec_is_488_and_releases_the_ports() -> None:
    uas = make()
    body = str(sdp.build_offer("127.0.0.1", 40000, 40002)).encode()
    body = body.replace(b"PCMU", b"XYZ").replace(b"H264", b"XYZ")
    uas.receive(invite(body=body), CALLER, 0.0)
    assert [r.status for r in responses(uas) if r.status >= 200] == [488]
    ended = uas.next_event()
    assert isinstance(ended, CallEnded) and ended.reason == "no common codec"


def test_reinvite_hold_updates_targets() -> None:
    uas = make()
    ok, key = answered(uas)
    uas.receive(request("ACK", cseq=1, to_tag=to_tag(ok)), CALLER, 1.1)
    hold = sdp.build_offer("127.0.0.1", 40000, 40002, direction="sendonly")
    uas.receive(invite(body=str(hold).encode(), to_tag=to_tag(ok), cseq=3), CALLER, 2.0)
    (ok2,) = [r for r in responses(uas, 2.0) if r.status >= 200]
    assert ok2.status == 200
    answer = sdp.SessionDescription.parse(ok2.body.decode())
    assert {sdp.direction_of(m, answer) for m in answer.media} == {"inactive"}
    assert uas.next_event() == CallUpdated(key, ())


def test_malformed_datagrams_are_dropped_or_answered_400() -> None:
    uas = make()
    uas.receive(b"\x80\x00garbage", CALLER, 0.0)
    assert uas.datagrams_to_send(0.0) == []
    assert uas.active_calls() == 0


def test_routing_fills_only_bodies_without_a_sip_server() -> None:
    fill = demo_defaults("127.0.0.1", 5070)
    body = fill({"callId": "a", "callee": "demo", "sipRegisterRequired": "true"})
    assert body["sipDomain"] == "127.0.0.1" and body["sipPort"] == 5070
    assert body["sipLogin"] == "wcs" and body["sipRegisterRequired"] is False
    real = {"callId": "a", "callee": "demo", "sipDomain": "pbx.example"}
    assert fill(real) == real
    assert not is_demo_body({"callee": "1002"})
