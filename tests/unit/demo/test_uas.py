"""DemoUas, sans-IO: fed SIP bytes and an injected clock."""

from __future__ import annotations

from wcs import sdp
from wcs.demo import CallEnded, CallStarted, CallUpdated, DemoUas
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


def make() -> DemoUas:
    return DemoUas("127.0.0.1", 5070, lambda key: {"audio": 41000, "video": 41002}, ring_delay=1.0)


def responses(uas: DemoUas) -> list[SipResponse]:
    out = []
    for data, addr in uas.datagrams_to_send(0.0):
        assert addr == CALLER
        msg = parse_message(data)
        assert isinstance(msg, SipResponse)
        out.append(msg)
    return out


def answered(uas: DemoUas) -> SipResponse:
    uas.receive(invite(), CALLER, 0.0)
    assert [r.status for r in responses(uas)] == [180]
    assert uas.get_timer() == 1.0
    uas.handle_timer(1.0)
    (ok,) = responses(uas)
    assert ok.status == 200
    return ok


def test_rings_then_answers_with_pcmu_and_h264() -> None:
    uas = make()
    ok = answered(uas)
    answer = sdp.SessionDescription.parse(ok.body.decode())
    audio, video = answer.media
    assert (audio.port, audio.codecs[0].name) == (41000, "PCMU")
    assert (video.port, video.codecs[0].name) == (41002, "H264")
    assert video.codecs[0].payload_type == 97  # the offer's packetization-mode=1 type
    assert sdp.direction_of(audio, answer) == "sendonly"
    assert ok.headers.get("Contact") == "<sip:demo@127.0.0.1:5070>"
    started = uas.next_event()
    assert isinstance(started, CallStarted)
    kinds = {t.kind: (t.address, t.payload_type) for t in started.targets}
    assert kinds == {"audio": (("127.0.0.1", 40000), 0), "video": (("127.0.0.1", 40002), 97)}


def test_200_is_retransmitted_until_ack_then_bye_ends() -> None:
    uas = make()
    ok = answered(uas)
    uas.handle_timer(1.5)  # T1 later
    assert [r.status for r in responses(uas)] == [200]
    to_tag = ok.headers.get("To").split("tag=")[1]  # type: ignore[union-attr]
    uas.receive(request("ACK", cseq=1, to_tag=to_tag), CALLER, 1.6)
    uas.handle_timer(10.0)
    assert responses(uas) == []  # no more retransmissions
    uas.next_event()
    uas.receive(request("BYE", to_tag=to_tag), CALLER, 11.0)
    assert [r.status for r in responses(uas)] == [200]
    assert uas.next_event() == CallEnded("abc", "BYE")
    assert uas.active_calls() == 0


def test_no_ack_ends_the_call_with_bye() -> None:
    uas = make()
    answered(uas)
    uas.next_event()
    t = 1.0
    while uas.active_calls() and t < 100:
        t = uas.get_timer() or 100.0
        uas.handle_timer(t)
    sent = [parse_message(d) for d, _ in uas.datagrams_to_send(0.0)]
    assert isinstance(sent[-1], SipRequest) and sent[-1].method == "BYE"
    assert t >= 1.0 + 64 * 0.5
    assert uas.next_event() == CallEnded("abc", "no ACK")


def test_cancel_while_ringing_gives_487() -> None:
    uas = make()
    uas.receive(invite(), CALLER, 0.0)
    responses(uas)
    uas.receive(request("CANCEL", cseq=1, branch="z9hG4bKone"), CALLER, 0.5)
    statuses = sorted((r.status, r.cseq[1]) for r in responses(uas))
    assert statuses == [(200, "CANCEL"), (487, "INVITE")]
    assert uas.next_event() == CallEnded("abc", "CANCEL")
    assert uas.get_timer() is None


def test_retransmitted_invite_repeats_the_last_response() -> None:
    uas = make()
    uas.receive(invite(), CALLER, 0.0)
    first = responses(uas)
    uas.receive(invite(), CALLER, 0.5)
    assert [r.status for r in responses(uas)] == [r.status for r in first] == [180]


def test_other_user_404_no_sdp_488_unknown_method_405() -> None:
    uas = make()
    uas.receive(invite(user="alice"), CALLER, 0.0)
    uas.receive(invite(call_id="x2", body=b""), CALLER, 0.0)
    uas.receive(request("SUBSCRIBE", call_id="x3"), CALLER, 0.0)
    uas.receive(request("OPTIONS", call_id="x4"), CALLER, 0.0)
    assert [r.status for r in responses(uas)] == [404, 488, 405, 200]
    assert uas.active_calls() == 0


def test_reinvite_hold_updates_targets() -> None:
    uas = make()
    ok = answered(uas)
    uas.next_event()
    to_tag = ok.headers.get("To").split("tag=")[1]  # type: ignore[union-attr]
    uas.receive(request("ACK", cseq=1, to_tag=to_tag), CALLER, 1.1)
    hold = sdp.build_offer("127.0.0.1", 40000, 40002, direction="sendonly")
    uas.receive(invite(body=str(hold).encode(), to_tag=to_tag, cseq=3), CALLER, 2.0)
    (ok2,) = responses(uas)
    assert ok2.status == 200
    answer = sdp.SessionDescription.parse(ok2.body.decode())
    assert {sdp.direction_of(m, answer) for m in answer.media} == {"inactive"}
    assert uas.next_event() == CallUpdated("abc", ())


def test_malformed_datagrams_are_counted_and_dropped() -> None:
    uas = make()
    uas.receive(b"\x80\x00garbage", CALLER, 0.0)
    uas.receive(b"INVITE sip:demo@x SIP/2.0\r\nContent-Length: 0\r\n\r\n", CALLER, 0.0)
    assert uas.malformed == 2
    assert uas.datagrams_to_send(0.0) == []


def test_routing_fills_only_bodies_without_a_sip_server() -> None:
    fill = demo_defaults("127.0.0.1", 5070)
    body = fill({"callId": "a", "callee": "demo", "sipRegisterRequired": "true"})
    assert body["sipDomain"] == "127.0.0.1" and body["sipPort"] == 5070
    assert body["sipLogin"] == "wcs" and body["sipRegisterRequired"] is False
    real = {"callId": "a", "callee": "demo", "sipDomain": "pbx.example"}
    assert fill(real) == real
    assert not is_demo_body({"callee": "1002"})
