"""Our UserAgent as the callee of captured incoming dialogs (traces/inbound/, made by
tests/peers/make_inbound_traces.py with Kamailio and baresip only).

Every datagram the capture shows Kamailio sending to baresip callee 1002 is fed to a UA
with ``incoming=True`` at its captured time; each message baresip sent is paired with ours:
the same kind (180, 200, BYE, 200 to CANCEL, 487) in the same order. Our 100 Trying, which
baresip does not send, is the only extra. The proxy's ACK, BYE and CANCEL carry baresip's
To tag; the replay rewrites it to ours (learned from the 180), so they must match our
dialog and transaction by the rules of RFC 3261, not by luck.

08-10 are the same dialogs with our live server as the callee: replayed the same way, they
must come out byte for byte as the server sent them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conformance.replay import Replay, replay_client
from conformance.siptrace import sip_packets
from wcs.sip.events import CallAnswered, CallFailed, CallReleased, Event, IncomingCall
from wcs.sip.message import SipMessage, SipRequest, SipResponse, parse_message
from wcs.sip.ua import UserAgent

INBOUND = Path("inbound")
CALLER_BYE = str(INBOUND / "05-inbound-caller-bye.pcap")
CALLEE_BYE = str(INBOUND / "06-inbound-callee-bye.pcap")
CANCEL = str(INBOUND / "07-inbound-cancel.pcap")
# the same dialogs with our live server (`wcs serve`, registered as 1003) as the callee
WCS = {
    CALLER_BYE: str(INBOUND / "08-wcs-caller-bye.pcap"),
    CALLEE_BYE: str(INBOUND / "09-wcs-callee-bye.pcap"),
    CANCEL: str(INBOUND / "10-wcs-cancel.pcap"),
}


def _callee_port(trace: str) -> int:
    """Where the proxy sent the INVITE on: the callee's registered contact."""
    proxy = _proxy_port(trace)
    first = next(
        p for p in sip_packets(trace) if p.src[1] == proxy and p.payload.startswith(b"INVITE ")
    )
    return first.dst[1]


def _server_header(trace: str) -> str:
    port = _callee_port(trace)
    first = next(p for p in sip_packets(trace) if p.src[1] == port)
    return parse_message(first.payload).headers.get("Server") or "wcs"


def _is_100(msg: SipMessage) -> bool:
    return isinstance(msg, SipResponse) and msg.status == 100


def _replay(
    trace: str, duplicate: frozenset[int] = frozenset(), extra: Any = _is_100
) -> tuple[Replay, IncomingCall]:
    port = _callee_port(trace)
    # with the callee's Server header: byte-for-byte comparisons need no exception for it
    ua = UserAgent(
        local_port=port, public_ip="127.0.0.1", incoming=True, user_agent=_server_header(trace)
    )
    calls: list[IncomingCall] = []

    def on_event(event: Event) -> None:
        if isinstance(event, IncomingCall):
            calls.append(event)

    def act(ua: UserAgent, theirs: SipMessage, now: float) -> None:
        """Do what baresip did when the capture shows it sending ``theirs``."""
        (call,) = calls
        if isinstance(theirs, SipResponse) and theirs.status == 180:
            ua.ring(call.ref, now)
        elif isinstance(theirs, SipResponse) and theirs.status == 200:
            ua.accept(call.ref, theirs.body, now)  # baresip's own SDP answer
        elif isinstance(theirs, SipRequest) and theirs.method == "BYE":
            ua.hangup(call.ref, now)

    replay = replay_client(
        trace,
        port,
        ua,
        lambda ua, now: None,
        before_send=act,
        extra=extra,
        on_event=on_event,
        duplicate=duplicate,
    )
    assert len(calls) == 1
    return replay, calls[0]


def _kinds(replay: Replay) -> list[str]:
    return [
        m.method if isinstance(m, SipRequest) else f"{m.status}"
        for m in (p.ours for p in replay.pairs)
    ]


def _fed_methods(replay: Replay) -> list[str]:
    out = []
    for _, data in replay.fed:
        line = data.split(b"\r\n", 1)[0].decode()
        out.append(line.split()[0] if not line.startswith("SIP/2.0") else line.split()[1])
    return out


def test_incoming_call_answered_then_the_caller_hangs_up() -> None:
    replay, call = _replay(CALLER_BYE)
    # the callee is the Request-URI user: baresip registered "1002-0x<pointer>" as contact
    assert call.caller == "1001" and call.callee.startswith("1002-0x")
    assert call.sdp is not None and b"m=audio" in call.sdp
    assert _fed_methods(replay) == ["INVITE", "ACK", "BYE"]
    assert _kinds(replay) == ["180", "200", "200"]  # ringing, answer, 200 to the BYE
    assert [_is_100(m) for m in replay.extras] == [True]
    assert replay.retransmissions == [] and replay.leftovers == []
    ok = replay.pairs[1].ours
    assert isinstance(ok, SipResponse)
    # the proxy's Record-Route in our 2xx (§12.1.1), in the callee's order
    theirs = replay.pairs[1].theirs
    assert ok.headers.get_all("Record-Route") == theirs.headers.get_all("Record-Route") != []
    kinds = [type(e) for e in replay.events]
    assert kinds == [IncomingCall, CallAnswered, CallReleased]
    released = replay.events[-1]
    assert isinstance(released, CallReleased) and released.by_remote


def test_incoming_call_answered_then_we_hang_up() -> None:
    replay, _ = _replay(CALLEE_BYE)
    assert _fed_methods(replay) == ["INVITE", "ACK", "200"]
    assert _kinds(replay) == ["180", "200", "BYE"]
    assert replay.retransmissions == [] and replay.leftovers == []
    bye = replay.pairs[2]
    assert isinstance(bye.ours, SipRequest) and isinstance(bye.theirs, SipRequest)
    # the BYE goes where baresip's went: the caller's Contact, through the proxy's route
    assert bye.ours.uri == bye.theirs.uri
    assert bye.ours.headers.get_all("Route") == bye.theirs.headers.get_all("Route") != []
    assert bye.dest[:2] == ("127.0.0.1", _proxy_port(CALLEE_BYE))
    released = replay.events[-1]
    assert isinstance(released, CallReleased) and not released.by_remote


def test_incoming_call_cancelled_while_ringing() -> None:
    replay, _ = _replay(CANCEL)
    assert _fed_methods(replay) == ["INVITE", "CANCEL", "ACK"]
    assert _kinds(replay) == ["180", "200", "487"]
    assert replay.retransmissions == [] and replay.leftovers == []
    ok, terminated = replay.pairs[1].ours, replay.pairs[2].ours
    assert ok.cseq[1] == "CANCEL" and terminated.cseq[1] == "INVITE"
    # the 487's To tag is the 180's: the ACK the proxy sends for it ends the transaction
    assert terminated.headers.get("To") == replay.pairs[0].ours.headers.get("To")
    assert [type(e) for e in replay.events] == [IncomingCall, CallFailed]
    failed = replay.events[-1]
    assert isinstance(failed, CallFailed) and failed.status == 487


@pytest.mark.parametrize("trace", [CALLER_BYE, CANCEL])
def test_duplicated_requests_are_absorbed(trace: str) -> None:
    """A network duplicate of the INVITE, the BYE or the CANCEL: answered again from the
    transaction (§17.2), never a second call or a second event."""
    frames = [p.index for p in sip_packets(trace) if p.dst[1] == _callee_port(trace)]
    first, again = _replay(trace)[0], _replay(trace, duplicate=frozenset(frames))[0]
    assert [type(e) for e in again.events] == [type(e) for e in first.events]
    assert _kinds(again) == _kinds(first)


def _proxy_port(trace: str) -> int:
    return sip_packets(trace)[0].dst[1]


@pytest.mark.parametrize("baresip", list(WCS), ids=["caller-bye", "callee-bye", "cancel"])
def test_live_server_leg_replays_byte_for_byte(baresip: str) -> None:
    """Our live server's callee leg (captured) replayed into a fresh UA: every message it
    sent comes out again, the same bytes but for the tag and branches we pick; and the ladder is
    baresip's apart from the provisional responses (we send 100 Trying; we answer at
    once with ``answer: auto``, where baresip rings first). A wire change shows here: make
    new captures with tests/peers/make_inbound_traces.py and say why in the commit."""
    replay, call = _replay(WCS[baresip], extra=None)
    assert call.caller == "1001" and call.callee == "1003"
    assert replay.retransmissions == [] and replay.leftovers == [] and replay.extras == []
    tagged = next(p for p in replay.pairs if _to_tag(p.theirs))  # the 100 has none
    ours_tag, theirs_tag = _to_tag(tagged.ours), _to_tag(tagged.theirs)
    assert ours_tag and theirs_tag
    for pair in replay.pairs:
        ours = pair.ours.serialize().replace(ours_tag.encode(), theirs_tag.encode())
        if isinstance(pair.ours, SipRequest) and isinstance(pair.theirs, SipRequest):
            # a request of ours (the BYE) has a branch of its own too
            mine, live = pair.ours.top_via.branch, pair.theirs.top_via.branch
            assert mine and live
            ours = ours.replace(mine.encode(), live.encode())
        assert ours == pair.theirs.serialize(), pair.frame
    reference, _ = _replay(baresip)

    def finals(r: Replay) -> list[str]:
        return [k for k in _kinds(r) if not k.startswith("1")]

    assert finals(replay) == finals(reference)
    assert [type(e) for e in replay.events] == [type(e) for e in reference.events]


def _to_tag(msg: SipMessage) -> str | None:
    from wcs.sip.uri import NameAddr

    value = msg.headers.get("From" if isinstance(msg, SipRequest) else "To")
    return NameAddr.parse(value).tag if value else None
