"""The captured Kamailio/baresip exchanges, replayed into our UserAgent in baresip's place.

Our UA plays caller 1001 (02, 03) and registrants 1002/1099 (01): the proxy's and callee's
real responses are fed to it (identifiers rewritten to the UA's own, see replay.py), and
what it sends is compared with what baresip sent at the same point.
"""

from __future__ import annotations

import hashlib

import pytest

from conformance.replay import Pair, Replay, replay_client
from conformance.siptrace import sip_packets
from wcs.sip.auth import DigestCredentials, parse_challenge
from wcs.sip.events import (
    CallAnswered,
    CallFailed,
    CallReleased,
    CallRinging,
    CallTrying,
    RegistrationFailed,
    RegistrationSucceeded,
)
from wcs.sip.message import SipMessage, SipRequest, SipResponse, parse_message
from wcs.sip.ua import Account, UserAgent
from wcs.sip.uri import NameAddr

PROXY = ("127.0.0.1", 5060, "udp")


def _ua(port: int) -> UserAgent:
    return UserAgent(local_port=port, public_ip="127.0.0.1")


def _account(user: str, password: str) -> Account:
    return Account(
        login=user, domain="sip.test", password=password, outbound_proxy="127.0.0.1:5060"
    )


def _req(msg: SipMessage) -> SipRequest:
    assert isinstance(msg, SipRequest)
    return msg


def _captured_offer(trace: str) -> bytes:
    first = parse_message(sip_packets(trace)[0].payload)
    assert isinstance(first, SipRequest) and first.method == "INVITE"
    return first.body


def _digest_ok(
    request: SipRequest, header: str, challenge_from: SipMessage, user: str, pw: str
) -> None:
    """Our credentials answer the proxy's real nonce correctly: recompute independently."""
    assert isinstance(challenge_from, SipResponse)
    name = "Proxy-Authenticate" if header == "Proxy-Authorization" else "WWW-Authenticate"
    challenge = parse_challenge(challenge_from.headers.get(name) or "")
    value = request.headers.get(header)
    assert value is not None, f"no {header} on the retried {request.method}"
    params = dict(
        (k.strip(), v.strip().strip('"'))
        for k, _, v in (part.partition("=") for part in value[len("Digest ") :].split(","))
    )
    assert params["username"] == user
    assert params["realm"] == challenge.realm == "sip.test"
    assert params["nonce"] == challenge.nonce
    assert params["uri"] == request.uri
    assert params["qop"] == "auth"
    ha1 = hashlib.md5(f"{user}:sip.test:{pw}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{request.method}:{request.uri}".encode()).hexdigest()
    expected = hashlib.md5(
        f"{ha1}:{challenge.nonce}:{params['nc']}:{params['cnonce']}:auth:{ha2}".encode()
    ).hexdigest()
    assert params["response"] == expected
    # and the same thing through our own client with the cnonce pinned
    ours = DigestCredentials(user, pw, cnonce_factory=lambda: params["cnonce"])
    assert f'response="{expected}"' in ours.authorization(challenge, request.method, request.uri)


def _fed(replay: Replay, frame: int) -> SipMessage:
    for index, data in replay.fed:
        if index == frame:
            return parse_message(data)
    raise AssertionError(f"frame {frame} was not fed")


def _methods(pairs: list[Pair]) -> list[str]:
    return [_req(p.ours).method for p in pairs]


def _common_call_checks(replay: Replay) -> tuple[SipRequest, SipRequest]:
    invite1, ack1, invite2 = (_req(p.ours) for p in replay.pairs[:3])
    assert all(p.dest == PROXY for p in replay.pairs)
    assert replay.retransmissions == []
    # INVITE as baresip sent it: same target, To, an SDP offer, a Route to the proxy.
    theirs1 = _req(replay.pairs[0].theirs)
    assert invite1.uri == theirs1.uri == "sip:1002@sip.test"
    assert NameAddr.parse(invite1.headers.get("To") or "").uri.user == "1002"
    assert invite1.headers.get("Content-Type") == "application/sdp" and invite1.body
    assert [NameAddr.parse(r).uri.host for r in invite1.headers.get_all("Route")] == ["127.0.0.1"]
    # ACK for the 407: same transaction (branch), CSeq number, the 407's To tag (§17.1.1.3).
    assert ack1.top_via.branch == invite1.top_via.branch
    assert ack1.cseq == (invite1.cseq[0], "ACK")
    assert ack1.uri == invite1.uri
    the_407 = _fed(replay, 2)
    assert isinstance(the_407, SipResponse) and the_407.status == 407
    assert (
        NameAddr.parse(ack1.headers.get("To") or "").tag
        == NameAddr.parse(the_407.headers.get("To") or "").tag
    )
    # The retried INVITE: new branch, CSeq+1, same dialog identifiers, valid credentials.
    assert invite2.top_via.branch != invite1.top_via.branch
    assert invite2.cseq == (invite1.cseq[0] + 1, "INVITE")
    assert invite2.call_id == invite1.call_id
    assert invite2.headers.get("From") == invite1.headers.get("From")
    assert invite2.body == invite1.body
    _digest_ok(invite2, "Proxy-Authorization", the_407, "1001", "secret1001")
    return invite1, invite2


def test_replay_call_answered_and_hung_up() -> None:
    trace = "02-call-av.pcap"

    def hang_up_before_bye(ua: UserAgent, theirs: SipMessage, now: float) -> None:
        if isinstance(theirs, SipRequest) and theirs.method == "BYE":
            ua.hangup("c1", now)

    replay = replay_client(
        trace,
        5070,
        _ua(5070),
        lambda ua, now: ua.invite(
            "c1", _account("1001", "secret1001"), "1002", _captured_offer(trace), now
        ),
        before_send=hang_up_before_bye,
    )
    assert _methods(replay.pairs) == ["INVITE", "ACK", "INVITE", "ACK", "BYE"]
    _invite1, invite2 = _common_call_checks(replay)
    ack2, bye = (_req(p.ours) for p in replay.pairs[3:])
    theirs_ack2, theirs_bye = (_req(p.theirs) for p in replay.pairs[3:])
    # ACK for the 2xx (§13.2.2.4): new transaction, to the callee's Contact, loose-routed
    # through the proxy's Record-Route — exactly where baresip sent it.
    assert ack2.top_via.branch != invite2.top_via.branch
    assert ack2.cseq == (invite2.cseq[0], "ACK")
    assert ack2.uri == theirs_ack2.uri
    assert (
        ack2.headers.get_all("Route")
        == theirs_ack2.headers.get_all("Route")
        == ["<sip:127.0.0.1;lr>"]
    )
    the_200 = _fed(replay, 12)
    remote_tag = NameAddr.parse(the_200.headers.get("To") or "").tag
    assert NameAddr.parse(ack2.headers.get("To") or "").tag == remote_tag == "fdb169bd31450ca2"
    # BYE within the dialog: next CSeq, same target and route as baresip's.
    assert bye.cseq == (invite2.cseq[0] + 1, "BYE")
    assert bye.uri == theirs_bye.uri
    assert bye.headers.get_all("Route") == theirs_bye.headers.get_all("Route")
    assert NameAddr.parse(bye.headers.get("To") or "").tag == remote_tag
    assert bye.call_id == invite2.call_id
    # What the application saw.
    kinds = [type(e) for e in replay.events]
    assert kinds == [CallTrying, CallRinging, CallAnswered, CallReleased]
    answered = replay.events[2]
    assert isinstance(answered, CallAnswered)
    assert answered.status == 200 and answered.reason == "Answering"
    assert answered.sdp == the_200.body and answered.sdp.startswith(b"v=0\r\n")
    ended = replay.events[3]
    assert isinstance(ended, CallReleased)
    assert (ended.by_remote, ended.status) == (False, 200)
    assert replay.leftovers == []


def test_replay_duplicated_responses() -> None:
    """A duplicated 200 (frame 12) is answered with the same ACK again (§13.2.2.4); a
    duplicated 180 (frame 10) is passed up again (§17.1.1.2 lets it), nothing else."""
    trace = "02-call-av.pcap"

    def hang_up_before_bye(ua: UserAgent, theirs: SipMessage, now: float) -> None:
        if isinstance(theirs, SipRequest) and theirs.method == "BYE":
            ua.hangup("c1", now)

    replay = replay_client(
        trace,
        5070,
        _ua(5070),
        lambda ua, now: ua.invite(
            "c1", _account("1001", "secret1001"), "1002", _captured_offer(trace), now
        ),
        before_send=hang_up_before_bye,
        duplicate=frozenset({10, 12}),
    )
    assert _methods(replay.pairs) == ["INVITE", "ACK", "INVITE", "ACK", "BYE"]
    ack2 = replay.pairs[3].ours
    assert replay.retransmissions == [ack2.serialize()]
    kinds = [type(e) for e in replay.events]
    collapsed = [k for i, k in enumerate(kinds) if i == 0 or k is not kinds[i - 1]]
    assert collapsed == [CallTrying, CallRinging, CallAnswered, CallReleased]
    assert kinds.count(CallAnswered) == 1 and kinds.count(CallReleased) == 1


def test_replay_busy_with_duplicated_486() -> None:
    """A duplicated 486 (frame 11) makes the INVITE transaction re-send its ACK
    (§17.1.1.2, Completed state) and reports the failure once."""
    trace = "03-call-busy.pcap"
    replay = replay_client(
        trace,
        5070,
        _ua(5070),
        lambda ua, now: ua.invite(
            "c1", _account("1001", "secret1001"), "1002", _captured_offer(trace), now
        ),
        duplicate=frozenset({11}),
    )
    assert _methods(replay.pairs) == ["INVITE", "ACK", "INVITE", "ACK"]
    assert replay.retransmissions == [replay.pairs[3].ours.serialize()]
    assert [type(e) for e in replay.events] == [CallTrying, CallRinging, CallFailed]


def test_replay_call_busy() -> None:
    trace = "03-call-busy.pcap"
    replay = replay_client(
        trace,
        5070,
        _ua(5070),
        lambda ua, now: ua.invite(
            "c1", _account("1001", "secret1001"), "1002", _captured_offer(trace), now
        ),
    )
    assert _methods(replay.pairs) == ["INVITE", "ACK", "INVITE", "ACK"]
    _invite1, invite2 = _common_call_checks(replay)
    ack2 = _req(replay.pairs[3].ours)
    # ACK for the 486 belongs to the INVITE transaction (same branch), hop by hop.
    assert ack2.top_via.branch == invite2.top_via.branch
    assert ack2.cseq == (invite2.cseq[0], "ACK")
    assert ack2.uri == invite2.uri
    the_486 = _fed(replay, 11)
    assert isinstance(the_486, SipResponse) and the_486.status == 486
    assert ack2.headers.get("To") == the_486.headers.get("To")
    kinds = [type(e) for e in replay.events]
    assert kinds == [CallTrying, CallRinging, CallFailed]
    failed = replay.events[2]
    assert isinstance(failed, CallFailed)
    assert (failed.status, failed.reason) == (486, "Rejected")
    assert replay.leftovers == []


@pytest.mark.parametrize(
    ("port", "user", "password", "outcome"),
    [(5080, "1002", "secret1002", 200), (5084, "1099", "secret1099", 403)],
)
def test_replay_register(port: int, user: str, password: str, outcome: int) -> None:
    """01-register: 401 → REGISTER with Authorization → 200 (1002) or 403 (1099)."""
    replay = replay_client(
        "01-register.pcap",
        port,
        _ua(port),
        lambda ua, now: ua.register(_account(user, password), now),
    )
    assert _methods(replay.pairs) == ["REGISTER", "REGISTER"]
    first, second = (_req(p.ours) for p in replay.pairs)
    assert first.uri == second.uri == "sip:sip.test"
    assert "Authorization" not in first.headers
    assert second.cseq == (first.cseq[0] + 1, "REGISTER")
    assert second.call_id == first.call_id
    assert second.top_via.branch != first.top_via.branch
    the_401 = next(parse_message(d) for _, d in replay.fed if d.startswith(b"SIP/2.0 401"))
    _digest_ok(second, "Authorization", the_401, user, password)
    assert NameAddr.parse(first.headers.get("Contact") or "").uri.port == port
    if outcome == 200:
        assert replay.events == [RegistrationSucceeded("reg-1", 600)]
        # a refresh is due before the 600 s run out: the settle time (64 s) is shorter
        assert replay.leftovers == []
    else:
        assert len(replay.events) == 1
        failed = replay.events[0]
        assert isinstance(failed, RegistrationFailed)
        assert (failed.status, failed.reason) == (403, "Forbidden")
        assert replay.leftovers == []
